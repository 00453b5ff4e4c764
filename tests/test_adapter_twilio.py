"""Twilio messaging (SMS, MMS, WhatsApp) and voice: conformance, parsing, signatures,
recording through ``kit.receive``, and the exact REST requests sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from omnikit import (
    DeliveryStatus,
    EventType,
    InboundRequest,
    Omnikit,
    OutboundMessage,
    PayloadError,
    SendError,
    SendResult,
    SignatureError,
    ValidationError,
)
from omnikit.adapters.twilio import (
    DEFAULT_ANSWER,
    EMPTY_TWIML,
    TwilioAdapter,
    TwilioVoiceAdapter,
    signature,
)
from omnikit.testing import AdapterConformance

ACCOUNT = "AC1f2e3d4c5b6a79881f2e3d4c5b6a7988"
TOKEN = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
OTHER_ACCOUNT = "AC00000000000000000000000000000000"
SERVICE = "MG9a8b7c6d5e4f30211a2b3c4d5e6f7081"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = "https://support.example.nl/webhooks/twilio"
VOICE_URL = "https://support.example.nl/webhooks/twilio_voice"
OUR_NUMBER = "+3197010253570"
VOICE_NUMBER = "+31858889000"
JAN = "+31612345678"
FORM = "application/x-www-form-urlencoded"


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's documented algorithm, written out: the full URL, then every POST
    parameter sorted by name, each name immediately followed by its value (a name sent
    twice: its values sorted, each once), HMAC-SHA1 with the auth token, base64."""
    data = url
    for name in sorted({n for n, _ in params}):
        for value in sorted({v for n, v in params if n == name}):
            data += name + value
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_headers(sig: str, content_type: str = FORM) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-Twilio-Signature": sig,
        "I-Twilio-Idempotency-Token": "b5b7e3bd-8ab9-4a4b-9f3a-0c1c2d7d1e2f",
        "User-Agent": "TwilioProxy/1.1",
    }


def form_request(
    params: list[tuple[str, str]],
    *,
    url: str = URL,
    signed_url: str | None = None,
    token: str = TOKEN,
) -> InboundRequest:
    """A POST as Twilio sends it, signed for ``signed_url`` (default: ``url``)."""
    headers = twilio_headers(twilio_signature(token, signed_url or url, params))
    body = urlencode(params).encode()
    return InboundRequest(method="POST", url=url, headers=headers, body=body, received_at=NOW)


def json_request(document: object, *, url: str = URL, token: str = TOKEN) -> InboundRequest:
    """A JSON POST: ``bodySHA256`` in the URL's query, the URL alone signed."""
    body = json.dumps(document).encode()
    signed_url = f"{url}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    headers = twilio_headers(twilio_signature(token, signed_url, []), "application/json")
    return InboundRequest(
        method="POST", url=signed_url, headers=headers, body=body, received_at=NOW
    )


# samples, shaped as in Twilio's "request to your incoming message webhook" and
# "track the message status of outbound messages" guides ---------------------------------

SMS = [
    ("ToCountry", "NL"),
    ("ToState", ""),
    ("SmsMessageSid", "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7"),
    ("NumMedia", "0"),
    ("ToCity", ""),
    ("FromZip", ""),
    ("SmsSid", "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7"),
    ("FromState", ""),
    ("SmsStatus", "received"),
    ("FromCity", ""),
    ("Body", "Is mijn bestelling 1001 al onderweg? 📦"),
    ("FromCountry", "NL"),
    ("To", OUR_NUMBER),
    ("ToZip", ""),
    ("NumSegments", "1"),
    ("MessageSid", "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7"),
    ("AccountSid", ACCOUNT),
    ("From", JAN),
    ("ApiVersion", "2010-04-01"),
]

MMS_SID = "MM8a7b6c5d4e3f20112a3b4c5d6e7f8091"
MEDIA_BASE = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{MMS_SID}/Media"
MMS = [
    ("ToCountry", "NL"),
    ("MediaContentType0", "image/jpeg"),
    ("SmsMessageSid", MMS_SID),
    ("NumMedia", "2"),
    ("MediaContentType1", "application/pdf"),
    ("SmsSid", MMS_SID),
    ("SmsStatus", "received"),
    ("Body", "Foto van de schade en de bon"),
    ("FromCountry", "NL"),
    ("To", OUR_NUMBER),
    ("MediaUrl0", f"{MEDIA_BASE}/ME11aa22bb33cc44dd55ee66ff77889900"),
    ("MediaUrl1", f"{MEDIA_BASE}/ME00998877ff66ee55dd44cc33bb22aa11"),
    ("NumSegments", "1"),
    ("MessageSid", MMS_SID),
    ("AccountSid", ACCOUNT),
    ("From", JAN),
    ("ApiVersion", "2010-04-01"),
]

WHATSAPP = [
    ("SmsMessageSid", "SMe1d2c3b4a5968778695a4b3c2d1e0f9a"),
    ("NumMedia", "0"),
    ("ProfileName", "Jan de Vries"),
    ("MessageType", "text"),
    ("SmsSid", "SMe1d2c3b4a5968778695a4b3c2d1e0f9a"),
    ("WaId", "31612345678"),
    ("SmsStatus", "received"),
    ("Body", "Kan ik de levering naar vrijdag verzetten?"),
    ("To", f"whatsapp:{OUR_NUMBER}"),
    ("NumSegments", "1"),
    ("ReferralNumMedia", "0"),
    ("MessageSid", "SMe1d2c3b4a5968778695a4b3c2d1e0f9a"),
    ("AccountSid", ACCOUNT),
    ("OriginalRepliedMessageSid", "SM0f0e0d0c0b0a09080706050403020100"),
    ("From", f"whatsapp:{JAN}"),
    ("ApiVersion", "2010-04-01"),
]

OUTBOUND_SID = "SM7c6b5a4938271605f4e3d2c1b0a9f8e7"


def sms_status(status: str, sid: str = OUTBOUND_SID, **extra: str) -> list[tuple[str, str]]:
    return [
        ("ApiVersion", "2010-04-01"),
        ("AccountSid", ACCOUNT),
        ("From", OUR_NUMBER),
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("To", JAN),
        *extra.items(),
    ]


def whatsapp_status(status: str, sid: str = OUTBOUND_SID) -> list[tuple[str, str]]:
    return [
        ("ChannelPrefix", "whatsapp"),
        ("ApiVersion", "2010-04-01"),
        ("MessageStatus", status),
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("ChannelInstallSid", "XE7a6b5c4d3e2f10918273645a5b6c7d8e"),
        ("To", f"whatsapp:{JAN}"),
        ("From", f"whatsapp:{OUR_NUMBER}"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("ChannelToAddress", JAN),
    ]


JSON_MESSAGE = {
    "MessageSid": "SM3c4d5e6f708192a3b4c5d6e7f8091a2b",
    "AccountSid": ACCOUNT,
    "From": JAN,
    "To": OUR_NUMBER,
    "Body": "Bedankt, ontvangen!",
    "NumMedia": 0,
    "NumSegments": 1,
    "SmsStatus": "received",
    "ApiVersion": "2010-04-01",
}


def messaging(**settings: str) -> TwilioAdapter:
    return TwilioAdapter(account_sid=ACCOUNT, auth_token=TOKEN, **settings)


class SignedByTwilio(AdapterConformance):
    """How Twilio signs, for both adapters' conformance: no timestamp, the body (form
    parameters, or a JSON body through ``bodySHA256``) and the URL."""

    secret = TOKEN
    signature_headers = ("X-Twilio-Signature",)
    signs_time = False

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        url = request.url
        kind = (request.header("content-type") or "").split(";")[0].strip()
        if kind == "application/json":
            parts = urlsplit(url)
            query = [(k, v) for k, v in parse_qsl(parts.query) if k != "bodySHA256"]
            query.append(("bodySHA256", hashlib.sha256(request.body).hexdigest()))
            url = urlunsplit(parts._replace(query=urlencode(query)))
            params: list[tuple[str, str]] = []
        else:
            params = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        headers = {**request.headers, "x-twilio-signature": twilio_signature(secret, url, params)}
        return InboundRequest(
            **{**request.model_dump(), "url": url, "query": None, "headers": headers}
        )


class TestTwilioConformance(SignedByTwilio):
    @pytest.fixture
    def adapter(self) -> TwilioAdapter:
        return messaging(from_number=OUR_NUMBER, whatsapp_from=OUR_NUMBER)

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [
            form_request(SMS),
            form_request(MMS),
            form_request(WHATSAPP),
            form_request(sms_status("delivered")),
            form_request(whatsapp_status("read")),
            json_request(JSON_MESSAGE),
        ]

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to=JAN, text="Uw bestelling is onderweg.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(201, json={"sid": OUTBOUND_SID, "status": "queued"})


# signatures ------------------------------------------------------------------------------

DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_the_signature_algorithm_reproduces_twilios_published_examples() -> None:
    # Twilio's "Webhooks security" guide: auth token 12345, this URL and these params.
    docs = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    assert twilio_signature("12345", DOCS_URL, docs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature("12345", DOCS_URL, docs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    # twilio-python's tests of RequestValidator: the older example, a name sent twice
    # (values sorted, duplicates once), and a JSON body's URL with its bodySHA256.
    older = [(k, "+14158675309" if k in ("Caller", "From") else v) for k, v in docs]
    assert signature("12345", DOCS_URL, older) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert signature("12345", DOCS_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert twilio_signature("12345", DOCS_URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    body = '{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    assert signature("12345", f"{DOCS_URL}&bodySHA256={digest}") == "a9nBmqA0ju/hNViExpshrM61xv4="
    # ... and with the default port in the URL, as Twilio sometimes signs.
    with_port = DOCS_URL.replace(".com", ".com:443")
    assert signature("12345", with_port, older) == "kvajT1Ptam85bY51eRf/AJRuM3w="


def test_the_url_verifies_with_and_without_its_port() -> None:
    adapter = messaging()
    public = "https://support.example.nl/webhooks/twilio"
    for request_url, signed_url in (
        (public, "https://support.example.nl:443/webhooks/twilio"),
        ("https://support.example.nl:443/webhooks/twilio", public),
        (
            "http://support.example.nl/webhooks/twilio",
            "http://support.example.nl:80/webhooks/twilio",
        ),
        # twilio-python drops any port, as Twilio may sign without it
        ("https://support.example.nl:8443/webhooks/twilio", public),
    ):
        adapter.verify(form_request(SMS, url=request_url, signed_url=signed_url))
    for request_url, signed_url in (
        (
            "https://support.example.nl/webhooks/twilio",
            "https://support.example.nl:8443/webhooks/twilio",
        ),
        ("https://support.example.nl/webhooks/twilio", "http://support.example.nl/webhooks/twilio"),
    ):
        with pytest.raises(SignatureError):
            adapter.verify(form_request(SMS, url=request_url, signed_url=signed_url))


def test_only_the_public_url_twilio_called_verifies() -> None:
    adapter = messaging()
    request = form_request(SMS, url="https://support.example.nl/webhooks/twilio?line=nl")
    adapter.verify(request)
    internal = request.model_copy(update={"url": "http://10.0.3.7:8000/webhooks/twilio?line=nl"})
    with pytest.raises(SignatureError, match="public URL"):
        adapter.verify(internal)
    other_query = request.model_copy(update={"url": request.url.replace("nl", "be")})
    with pytest.raises(SignatureError):
        adapter.verify(other_query)


def test_every_parameter_is_signed() -> None:
    adapter = messaging()
    request = form_request(SMS)
    for added in (b"&Extra=1", b"&Body=second"):
        with pytest.raises(SignatureError):
            adapter.verify(request.model_copy(update={"body": request.body + added}))
    # the order of the parameters in the body does not matter
    shuffled = list(reversed(SMS))
    adapter.verify(
        request.model_copy(update={"body": urlencode(shuffled).encode()}),
    )


def test_a_json_body_must_match_its_signed_hash() -> None:
    adapter = messaging()
    request = json_request(JSON_MESSAGE)
    adapter.verify(request)
    unhashed = request.model_copy(update={"url": URL})
    headers = {**request.headers, "x-twilio-signature": twilio_signature(TOKEN, URL, [])}
    with pytest.raises(SignatureError, match="bodySHA256"):
        adapter.verify(unhashed.model_copy(update={"headers": headers}))
    changed = json.dumps({**JSON_MESSAGE, "Body": "Toch niet ontvangen"}).encode()
    with pytest.raises(SignatureError, match="does not match its bodySHA256"):
        adapter.verify(request.model_copy(update={"body": changed}))


def test_a_request_for_another_account_is_refused() -> None:
    adapter = messaging()
    theirs = [(k, OTHER_ACCOUNT if k == "AccountSid" else v) for k, v in SMS]
    with pytest.raises(SignatureError, match=OTHER_ACCOUNT):
        adapter.verify(form_request(theirs))
    with pytest.raises(SignatureError, match="None"):
        adapter.verify(form_request([(k, v) for k, v in SMS if k != "AccountSid"]))


def test_a_get_webhook_is_signed_through_its_url() -> None:
    adapter = messaging()
    url = f"{URL}?{urlencode(SMS)}"
    request = InboundRequest(
        method="GET",
        url=url,
        headers={"X-Twilio-Signature": twilio_signature(TOKEN, url, [])},
        received_at=NOW,
    )
    adapter.verify(request)
    [event] = adapter.parse(request)
    assert event.external_id == "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7" and event.sender
    assert event.sender.phone == JAN


# messaging: parsing and recording --------------------------------------------------------


def test_sms_is_recorded_on_the_customer_known_by_a_national_number(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    jan = kit.customers.identify(phone="06 12345678", name="Jan")
    result = kit.receive("twilio", form_request(SMS))
    [sms] = result.interactions
    assert sms.customer_id == jan.id
    assert (sms.channel, sms.direction, sms.kind) == ("sms", "inbound", "message")
    assert sms.external_id == "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7"
    assert sms.text == "Is mijn bestelling 1001 al onderweg? 📦"
    assert sms.metadata == {"to": OUR_NUMBER}
    assert result.response.status == 200
    assert result.response.headers == {"content-type": "text/xml"}
    assert result.response.body == (b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
    # Twilio retries a webhook it got no answer to: recorded once
    again = kit.receive("twilio", form_request(SMS))
    assert [i.id for i in again.interactions] == [sms.id]
    assert len(kit.journey(jan.id).steps) == 1


def test_mms_media_become_attachments(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    [mms] = kit.receive("twilio", form_request(MMS)).interactions
    assert [(a.name, a.content_type, a.url) for a in mms.attachments] == [
        ("ME11aa22bb33cc44dd55ee66ff77889900.jpg", "image/jpeg", dict(MMS)["MediaUrl0"]),
        ("ME00998877ff66ee55dd44cc33bb22aa11.pdf", "application/pdf", dict(MMS)["MediaUrl1"]),
    ]
    assert mms.text == "Foto van de schade en de bon"
    jan = kit.customers.find(phone=JAN)
    assert jan is not None and jan.id == mms.customer_id


def test_whatsapp_message_lands_on_the_whatsapp_channel(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    sms = kit.receive("twilio", form_request(SMS)).interactions[0]
    [message] = kit.receive("twilio", form_request(WHATSAPP)).interactions
    assert message.channel == "whatsapp"
    assert message.customer_id == sms.customer_id  # the same number on another channel
    assert message.metadata == {
        "to": OUR_NUMBER,
        "in_reply_to": "SM0f0e0d0c0b0a09080706050403020100",
    }
    assert kit.customers.get(message.customer_id).name == "Jan de Vries"
    assert kit.journey(message.customer_id).channels == ["sms", "whatsapp"]


def test_a_json_body_carries_the_same_fields_as_the_form() -> None:
    adapter = messaging()
    form = [(k, str(v)) for k, v in JSON_MESSAGE.items()]
    assert adapter.parse(json_request(JSON_MESSAGE)) == adapter.parse(form_request(form))
    [event] = adapter.parse(json_request(JSON_MESSAGE))
    assert (event.type, event.channel, event.text) == (
        EventType.MESSAGE,
        "sms",
        "Bedankt, ontvangen!",
    )


def test_a_whatsapp_location_is_kept_in_metadata() -> None:
    fields = [(k, v) for k, v in WHATSAPP if k != "Body"]
    fields += [("Latitude", "52.3676"), ("Longitude", "4.9041"), ("Address", "Dam 1")]
    [event] = messaging().parse(form_request(fields))
    assert event.text is None
    assert event.metadata["location"] == {
        "latitude": 52.3676,
        "longitude": 4.9041,
        "address": "Dam 1",
    }


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("accepted", DeliveryStatus.QUEUED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("undelivered", DeliveryStatus.FAILED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
    ],
)
def test_message_statuses(reported: str, expected: DeliveryStatus) -> None:
    for fields, channel in ((sms_status(reported), "sms"), (whatsapp_status(reported), "whatsapp")):
        [event] = messaging().parse(form_request(fields))
        assert (event.type, event.channel, event.external_id, event.status) == (
            EventType.STATUS,
            channel,
            OUTBOUND_SID,
            expected,
        )


def test_a_failure_keeps_twilios_error_in_metadata() -> None:
    fields = sms_status("undelivered", ErrorCode="30003", ErrorMessage="Unreachable handset")
    [event] = messaging().parse(form_request(fields))
    assert event.status is DeliveryStatus.FAILED
    assert event.metadata == {"error_code": 30003, "error": "Unreachable handset"}


def test_unknown_statuses_and_channels_are_ignored(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    result = kit.receive("twilio", form_request(sms_status("partially_delivered")))
    [ignored] = result.ignored
    assert ignored.type is EventType.IGNORED and "partially_delivered" in (ignored.reason or "")
    messenger = [(k, "messenger:4455667788" if k == "From" else v) for k, v in SMS]
    result = kit.receive("twilio", form_request(messenger))
    assert result.interactions == () and "messenger" in (result.ignored[0].reason or "")
    assert result.response.body == EMPTY_TWIML


def test_a_late_delivered_after_read_leaves_read(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    jan = kit.customers.identify(phone=JAN)
    kit.record(
        customer=jan.id,
        channel="whatsapp",
        direction="outbound",
        kind="message",
        text="Uw bestelling is onderweg.",
        external_id=OUTBOUND_SID,
    )
    for reported, stored in (
        ("sent", DeliveryStatus.SENT),
        ("read", DeliveryStatus.READ),
        ("delivered", DeliveryStatus.READ),
        ("failed", DeliveryStatus.READ),
    ):
        kit.receive("twilio", form_request(whatsapp_status(reported)))
        [step] = kit.journey(jan.id).steps
        assert step.status is stored, reported


def test_a_status_for_an_unknown_message_is_ignored_with_the_reason(kit: Omnikit) -> None:
    kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
    result = kit.receive("twilio", form_request(sms_status("delivered")))
    assert result.updated == () and OUTBOUND_SID in (result.ignored[0].reason or "")


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (
            InboundRequest(method="POST", url=URL, headers={"content-type": "text/plain"}),
            "text/plain",
        ),
        (InboundRequest(method="PUT", url=URL), "PUT"),
        (form_request([(k, v) for k, v in SMS if "Sid" not in k]), "MessageSid"),
        (form_request([(k, v) for k, v in SMS if k != "From"]), "From"),
        (form_request([(k, "x" if k == "NumMedia" else v) for k, v in SMS]), "NumMedia"),
        (form_request([(k, "11" if k == "NumMedia" else v) for k, v in SMS]), "NumMedia"),
        (form_request([(k, v) for k, v in MMS if k != "MediaUrl1"]), "MediaUrl1"),
        (form_request([*WHATSAPP, ("Latitude", "north"), ("Longitude", "4.9")]), "location"),
        (json_request([JSON_MESSAGE]), "object"),
        (json_request({**JSON_MESSAGE, "Body": {"text": "hi"}}), "'Body'"),
        (json_request({**JSON_MESSAGE, "NumMedia": True}), "'NumMedia'"),
    ],
)
def test_unreadable_requests_are_payload_errors(request_: InboundRequest, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        messaging().parse(request_)


def test_a_body_that_is_not_a_form_is_a_payload_error() -> None:
    for body, reason in (
        (b"Body=%FF%FE", "not UTF-8"),
        (b"From=%2B31612345678&Mijn+adres+is+Dam+1", "without '='"),
    ):
        request = form_request(SMS).model_copy(update={"body": body})
        with pytest.raises(PayloadError, match=reason):
            messaging().parse(request)
        # verify cannot read what the signature covers, so the signature cannot match
        with pytest.raises(SignatureError, match=reason) as caught:
            messaging().verify(request)
        assert "Dam" not in str(caught.value)  # no message text in errors (nor in logs)
    request = form_request(SMS).model_copy(update={"body": b"Body=\xff"})
    with pytest.raises(PayloadError, match="UTF-8"):
        messaging().verify(request)


# messaging: outbound ---------------------------------------------------------------------

API = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
# Twilio's answer to a create, abridged from the Message resource's example
CREATED = {
    "account_sid": ACCOUNT,
    "api_version": "2010-04-01",
    "body": "Uw bestelling is onderweg.",
    "direction": "outbound-api",
    "from": OUR_NUMBER,
    "num_media": "0",
    "num_segments": "1",
    "sid": OUTBOUND_SID,
    "status": "queued",
    "to": JAN,
    "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{OUTBOUND_SID}.json",
}


def sent_requests(
    adapter: TwilioAdapter | TwilioVoiceAdapter,
    message: OutboundMessage,
    answer: Mapping[str, object],
) -> tuple[list[httpx.Request], list[SendResult]]:
    seen: list[httpx.Request] = []

    def twilio(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=answer)

    with httpx.Client(transport=httpx.MockTransport(twilio)) as client:
        results = [adapter.send(payload, client) for payload in adapter.render(message)]
    return seen, results


def test_an_sms_is_posted_to_the_messages_resource() -> None:
    adapter = messaging(
        from_number=OUR_NUMBER, status_callback="https://support.example.nl/webhooks/twilio"
    )
    message = OutboundMessage(to=JAN, text="Uw bestelling is onderweg & morgen bij u.")
    [request], [result] = sent_requests(adapter, message, CREATED)
    assert request.method == "POST" and str(request.url) == API
    assert request.headers["authorization"] == BASIC
    assert request.headers["content-type"] == FORM
    assert request.content == (
        b"To=%2B31612345678&From=%2B3197010253570"
        b"&Body=Uw+bestelling+is+onderweg+%26+morgen+bij+u."
        b"&StatusCallback=https%3A%2F%2Fsupport.example.nl%2Fwebhooks%2Ftwilio"
    )
    assert result.external_id == OUTBOUND_SID
    assert result.status is DeliveryStatus.QUEUED


def test_mms_carries_every_media_url() -> None:
    adapter = messaging(from_number="OmniShop")
    media = ("https://cdn.example.nl/bon-1001.pdf", "https://cdn.example.nl/foto.jpg")
    [payload] = adapter.render(OutboundMessage(to=JAN, text="Uw bon", media=media))
    assert parse_qsl(payload.body.decode()) == [
        ("To", JAN),
        ("From", "OmniShop"),
        ("Body", "Uw bon"),
        ("MediaUrl", media[0]),
        ("MediaUrl", media[1]),
    ]
    with pytest.raises(ValidationError, match="at most 10"):
        adapter.render(OutboundMessage(to=JAN, media=media * 6))


def test_whatsapp_goes_from_the_whatsapp_sender_one_media_per_message() -> None:
    adapter = messaging(from_number=OUR_NUMBER, whatsapp_from="+14155238886")
    media = ("https://cdn.example.nl/a.jpg", "https://cdn.example.nl/b.jpg")
    payloads = adapter.render(OutboundMessage(to=f"whatsapp:{JAN}", text="Foto's", media=media))
    assert [parse_qsl(p.body.decode()) for p in payloads] == [
        [
            ("To", f"whatsapp:{JAN}"),
            ("From", "whatsapp:+14155238886"),
            ("Body", "Foto's"),
            ("MediaUrl", media[0]),
        ],
        [("To", f"whatsapp:{JAN}"), ("From", "whatsapp:+14155238886"), ("MediaUrl", media[1])],
    ]


def test_a_whatsapp_template_is_sent_through_the_content_api() -> None:
    adapter = messaging(whatsapp_from=OUR_NUMBER)
    content = "HXb5b62575e6e4ff6129ad7c8efe1f983e"
    [payload] = adapter.render(
        OutboundMessage(
            to=f"whatsapp:{JAN}",
            template=content,
            template_params=("12 december", "14:00"),
            text="ignored",
        )
    )
    assert payload.url == API
    assert parse_qsl(payload.body.decode()) == [
        ("To", f"whatsapp:{JAN}"),
        ("From", f"whatsapp:{OUR_NUMBER}"),
        ("ContentSid", content),
        ("ContentVariables", '{"1": "12 december", "2": "14:00"}'),
    ]
    with pytest.raises(ValidationError, match="ContentSid"):
        adapter.render(OutboundMessage(to=f"whatsapp:{JAN}", template="order_shipped"))


def test_a_messaging_service_replaces_the_sender() -> None:
    adapter = messaging(from_number=OUR_NUMBER, messaging_service_sid=SERVICE)
    [payload] = adapter.render(OutboundMessage(to=JAN, text="Hallo"))
    assert parse_qsl(payload.body.decode()) == [
        ("To", JAN),
        ("MessagingServiceSid", SERVICE),
        ("Body", "Hallo"),
    ]


def test_long_text_is_split_in_parts_of_1600_characters() -> None:
    adapter = messaging(from_number=OUR_NUMBER)
    text = " ".join(f"woord{i:03d}" for i in range(400))  # 3,599 characters
    payloads = adapter.render(OutboundMessage(to=JAN, text=text))
    bodies = [dict(parse_qsl(p.body.decode()))["Body"] for p in payloads]
    assert len(bodies) == 3 and all(len(b) <= 1600 for b in bodies)
    assert " ".join(bodies) == text


def test_sending_needs_a_sender_and_something_to_send() -> None:
    with pytest.raises(ValidationError, match="from_number"):
        messaging().render(OutboundMessage(to=JAN, text="Hallo"))
    with pytest.raises(ValidationError, match="whatsapp_from"):
        messaging(from_number=OUR_NUMBER).render(OutboundMessage(to=f"whatsapp:{JAN}", text="Hi"))
    with pytest.raises(ValidationError, match="no text or media"):
        messaging(from_number=OUR_NUMBER).render(OutboundMessage(to=JAN))


def test_sent_reads_the_sid_and_status() -> None:
    adapter = messaging(messaging_service_sid=SERVICE)
    [payload] = adapter.render(OutboundMessage(to=JAN, text="Hallo"))
    for answer, sid, status in (
        ({**CREATED, "status": "accepted"}, OUTBOUND_SID, DeliveryStatus.QUEUED),
        ({**CREATED, "status": "sent"}, OUTBOUND_SID, DeliveryStatus.SENT),
        ({"unexpected": True}, None, DeliveryStatus.QUEUED),
    ):
        result = adapter.sent(payload, httpx.Response(201, json=answer))
        assert (result.external_id, result.status, result.http_status) == (sid, status, 201)
    assert adapter.sent(payload, httpx.Response(200, text="<xml/>")).external_id is None


def twilio_error(status: int, code: int, message: str) -> httpx.Response:
    """Twilio's error answer, as its REST API documents it."""
    return httpx.Response(
        status,
        json={
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def refusal(adapter: TwilioAdapter | TwilioVoiceAdapter, answer: httpx.Response) -> SendError:
    [payload] = adapter.render(OutboundMessage(to=JAN, text="Uw pakket komt morgen."))
    transport = httpx.MockTransport(lambda _: answer)
    with httpx.Client(transport=transport) as client, pytest.raises(SendError) as caught:
        adapter.send(payload, client)
    return caught.value


@pytest.mark.parametrize(
    ("answer", "undeliverable", "retryable"),
    [
        (
            twilio_error(400, 21211, f"The 'To' number {JAN} is not a valid phone number."),
            True,
            False,
        ),
        (twilio_error(400, 21614, f"'To' number {JAN} is not a valid mobile number"), True, False),
        (twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"), True, False),
        # the account may not send to that region: a setting, not the customer's number
        (
            twilio_error(
                400,
                21408,
                "Permission to send an SMS has not been enabled for the region indicated by "
                f"the 'To' number: {JAN}.",
            ),
            False,
            False,
        ),
        (twilio_error(401, 20003, "Authenticate"), False, False),
        (twilio_error(429, 20429, "Too Many Requests"), False, True),
        (twilio_error(500, 20500, "Internal Server Error"), False, True),
        (httpx.Response(503, text="Service Unavailable"), False, True),
    ],
)
def test_refusals_say_whether_the_number_can_receive(
    answer: httpx.Response, undeliverable: bool, retryable: bool
) -> None:
    error = refusal(messaging(from_number=OUR_NUMBER), answer)
    assert (error.undeliverable, error.retryable, error.status) == (
        undeliverable,
        retryable,
        answer.status_code,
    )
    assert error.retry_after is None


def test_a_call_to_an_invalid_number_is_undeliverable() -> None:
    answer = twilio_error(400, 21217, "Phone number does not appear to be valid")
    error = refusal(voice(from_number=VOICE_NUMBER), answer)
    assert error.undeliverable and not error.retryable and "21217" in str(error)


def test_a_rate_limit_passes_on_a_retry_after() -> None:
    answer = twilio_error(429, 20429, "Too Many Requests")
    answer.headers["Retry-After"] = "2"
    error = refusal(messaging(from_number=OUR_NUMBER), answer)
    assert (error.retryable, error.retry_after) == (True, 2.0)


def test_no_idempotency_key_is_sent_twilio_documents_none() -> None:
    adapter = messaging(from_number=OUR_NUMBER)
    plain = adapter.render(OutboundMessage(to=JAN, text="Hallo"))
    keyed = adapter.render(OutboundMessage(to=JAN, text="Hallo", idempotency_key="outbox-17"))
    assert [(p.headers, p.body) for p in keyed] == [(p.headers, p.body) for p in plain]


# settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"account_sid": "AC123"}, "account_sid 'AC123'"),
        ({"account_sid": None}, "account_sid None"),
        ({"auth_token": "secret"}, r"auth_token \*\*\*"),
        ({"from_number": "0612345678"}, "from_number"),
        ({"from_number": "A sender that is far too long"}, "from_number"),
        ({"whatsapp_from": "06 12345678"}, "whatsapp_from"),
        ({"messaging_service_sid": "MG1"}, "messaging_service_sid"),
        ({"api_base": "api.twilio.com"}, "api_base"),
        ({"status_callback": "ftp://example.nl/x"}, "status_callback"),
    ],
)
def test_settings_are_checked(settings: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        TwilioAdapter(**{"account_sid": ACCOUNT, "auth_token": TOKEN, **settings})
    assert TOKEN not in str(caught.value)


def test_settings_are_keyword_only_and_named(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match="sender_id"):
        kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN, sender_id="x")
    adapter = kit.adapters.use(
        "twilio", account_sid=ACCOUNT, auth_token=TOKEN, whatsapp_from=f"whatsapp:{OUR_NUMBER}"
    )
    assert isinstance(adapter, TwilioAdapter) and adapter.whatsapp_from == OUR_NUMBER
    assert isinstance(
        kit.adapters.use("twilio_voice", account_sid=ACCOUNT, auth_token=TOKEN), TwilioVoiceAdapter
    )


# voice -----------------------------------------------------------------------------------

CALL_SID = "CA9e8d7c6b5a49382716f5e4d3c2b1a0f9"


def incoming_call(caller: str = "+31201234567", sid: str = CALL_SID) -> list[tuple[str, str]]:
    """Twilio's request to the "A call comes in" URL of a number."""
    return [
        ("Called", VOICE_NUMBER),
        ("ToState", ""),
        ("CallerCountry", "NL"),
        ("Direction", "inbound"),
        ("CallerState", ""),
        ("ToZip", ""),
        ("CallSid", sid),
        ("To", VOICE_NUMBER),
        ("CallerZip", ""),
        ("ToCountry", "NL"),
        ("CallToken", "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D"),
        ("CalledZip", ""),
        ("ApiVersion", "2010-04-01"),
        ("CalledCity", ""),
        ("CallStatus", "ringing"),
        ("From", caller),
        ("AccountSid", ACCOUNT),
        ("CalledCountry", "NL"),
        ("CallerCity", ""),
        ("ToCity", ""),
        ("FromCountry", "NL"),
        ("Caller", caller),
        ("FromCity", ""),
        ("CalledState", ""),
        ("FromZip", ""),
        ("FromState", ""),
    ]


def call_status(
    status: str, duration: str | None = "42", sid: str = CALL_SID
) -> list[tuple[str, str]]:
    """Twilio's status callback at the end of a call."""
    fields = [
        ("Called", VOICE_NUMBER),
        ("ToState", ""),
        ("CallerCountry", "NL"),
        ("Direction", "inbound"),
        ("Timestamp", "Mon, 23 Nov 2026 12:03:12 +0000"),
        ("CallbackSource", "call-progress-events"),
        ("SipResponseCode", "200"),
        ("CallerState", ""),
        ("ToZip", ""),
        ("SequenceNumber", "0"),
        ("CallSid", sid),
        ("To", VOICE_NUMBER),
        ("CallerZip", ""),
        ("ToCountry", "NL"),
        ("CalledZip", ""),
        ("ApiVersion", "2010-04-01"),
        ("CalledCity", ""),
        ("CallStatus", status),
        ("From", "+31201234567"),
        ("AccountSid", ACCOUNT),
        ("CalledCountry", "NL"),
        ("CallerCity", ""),
        ("ToCity", ""),
        ("FromCountry", "NL"),
        ("Caller", "+31201234567"),
        ("FromCity", ""),
        ("CalledState", ""),
        ("FromZip", ""),
        ("FromState", ""),
    ]
    if duration is not None:
        fields += [("Duration", "1"), ("CallDuration", duration)]
    return fields


def voice(**settings: str) -> TwilioVoiceAdapter:
    return TwilioVoiceAdapter(account_sid=ACCOUNT, auth_token=TOKEN, **settings)


def voice_request(fields: list[tuple[str, str]]) -> InboundRequest:
    return form_request(fields, url=VOICE_URL)


class TestTwilioVoiceConformance(SignedByTwilio):
    @pytest.fixture
    def adapter(self) -> TwilioVoiceAdapter:
        return voice(from_number=VOICE_NUMBER)

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [
            voice_request(incoming_call()),
            voice_request(incoming_call("anonymous", sid="CA0a1b2c3d4e5f60718293a4b5c6d7e8f9")),
            voice_request(call_status("completed")),
            voice_request(call_status("no-answer", duration="0")),
        ]

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to=JAN, text="Uw pakket ligt klaar.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(201, json={"sid": CALL_SID, "status": "queued"})


def test_a_call_is_recognised_by_a_national_number_and_completed(kit: Omnikit) -> None:
    kit.adapters.use("twilio_voice", account_sid=ACCOUNT, auth_token=TOKEN)
    jan = kit.customers.identify(phone="020 123 4567", name="Jan")
    result = kit.receive("twilio_voice", voice_request(incoming_call("+31201234567")))
    [call] = result.interactions
    assert call.customer_id == jan.id
    assert (call.channel, call.direction, call.kind, call.external_id) == (
        "phone",
        "inbound",
        "call",
        CALL_SID,
    )
    assert call.metadata == {"to": VOICE_NUMBER}
    assert result.response.headers == {"content-type": "text/xml"}
    assert result.response.body == DEFAULT_ANSWER.encode()

    done = kit.receive("twilio_voice", voice_request(call_status("completed", "42")))
    [updated] = done.updated
    assert updated.id == call.id and updated.status is None
    assert updated.metadata == {"to": VOICE_NUMBER, "duration": 42, "outcome": "completed"}
    assert done.response.body == EMPTY_TWIML
    [step] = kit.journey(jan.id).steps
    assert step.metadata["duration"] == 42 and step.metadata["outcome"] == "completed"


def test_a_withheld_caller_gets_a_customer_of_its_own(kit: Omnikit) -> None:
    kit.adapters.use("twilio_voice", account_sid=ACCOUNT, auth_token=TOKEN)
    kit.customers.identify(phone="020 123 4567", name="Jan")
    first = kit.receive("twilio_voice", voice_request(incoming_call("+266696687"))).interactions[0]
    assert first.metadata == {"to": VOICE_NUMBER, "caller": "withheld", "sender": "unknown"}
    assert kit.customers.get(first.customer_id).name == "Unknown sender"
    # Twilio's retry lands on the same call and customer; another withheld call does not
    retry = kit.receive("twilio_voice", voice_request(incoming_call("+266696687")))
    assert retry.interactions[0].id == first.id
    other = kit.receive(
        "twilio_voice",
        voice_request(incoming_call("anonymous", sid="CA0a1b2c3d4e5f60718293a4b5c6d7e8f9")),
    ).interactions[0]
    assert other.customer_id != first.customer_id


@pytest.mark.parametrize(
    "caller",
    ["anonymous", "Anonymous", "restricted", "unknown", "+266696687", "+86282452253", ""],
)
def test_withheld_caller_ids(caller: str) -> None:
    [event] = voice().parse(voice_request(incoming_call(caller)))
    assert event.type is EventType.MESSAGE and event.kind == "call"
    assert event.sender is not None and event.sender.phone is None
    assert event.metadata["caller"] == "withheld"


@pytest.mark.parametrize(
    ("status", "duration", "metadata"),
    [
        ("completed", "42", {"outcome": "completed", "duration": 42}),
        ("busy", "0", {"outcome": "busy", "duration": 0}),
        ("no-answer", None, {"outcome": "no-answer"}),
        ("failed", None, {"outcome": "failed"}),
        ("canceled", None, {"outcome": "canceled"}),
        # an outbound call's progress callbacks are news about it, not new calls
        ("ringing", None, {"outcome": "ringing"}),
        ("in-progress", None, {"outcome": "in-progress"}),
    ],
)
def test_call_status_callbacks(
    status: str, duration: str | None, metadata: dict[str, object]
) -> None:
    [event] = voice().parse(voice_request(call_status(status, duration)))
    assert (event.type, event.channel, event.external_id, event.status) == (
        EventType.STATUS,
        "phone",
        CALL_SID,
        None,
    )
    assert event.metadata == metadata


def test_voice_ignores_unknown_call_statuses_and_rejects_bad_fields() -> None:
    [event] = voice().parse(voice_request(call_status("transferred")))
    assert event.type is EventType.IGNORED and "transferred" in (event.reason or "")
    with pytest.raises(PayloadError, match="CallSid"):
        voice().parse(voice_request([(k, v) for k, v in incoming_call() if k != "CallSid"]))
    with pytest.raises(PayloadError, match="CallDuration"):
        voice().parse(voice_request(call_status("completed", "4m2s")))


def test_voice_verifies_like_messaging() -> None:
    adapter = voice()
    adapter.verify(voice_request(incoming_call()))
    with pytest.raises(SignatureError):
        adapter.verify(form_request(incoming_call(), url=VOICE_URL, signed_url=URL))
    theirs = [(k, OTHER_ACCOUNT if k == "AccountSid" else v) for k, v in incoming_call()]
    with pytest.raises(SignatureError, match="account"):
        adapter.verify(voice_request(theirs))


def test_the_answer_is_checked_twiml() -> None:
    dial = "<Response><Dial><Queue>support</Queue></Dial></Response>"
    adapter = voice(answer=dial)
    [event] = adapter.parse(voice_request(incoming_call()))
    assert adapter.ack([event]).body == dial.encode()
    assert adapter.ack([]).body == EMPTY_TWIML
    for answer, reason in (
        ("<Response><Say>Hallo</Response>", "not XML"),
        ("<Say>Hallo</Say>", "<Response> root, not <Say>"),
        ("", "not XML"),
    ):
        with pytest.raises(ValidationError, match=reason):
            voice(answer=answer)
    with pytest.raises(ValidationError, match="from_number"):
        voice(from_number="020 123 4567")


def test_a_call_is_placed_through_the_calls_resource() -> None:
    adapter = voice(from_number=VOICE_NUMBER)
    message = OutboundMessage(to=JAN, text='Uw pakket & bon liggen klaar <"balie 3">.')
    [request], [result] = sent_requests(adapter, message, {"sid": CALL_SID, "status": "queued"})
    assert request.method == "POST"
    assert str(request.url) == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    assert request.headers["authorization"] == BASIC
    assert request.headers["content-type"] == FORM
    assert parse_qsl(request.content.decode()) == [
        ("To", JAN),
        ("From", VOICE_NUMBER),
        (
            "Twiml",
            '<Response><Say>Uw pakket &amp; bon liggen klaar &lt;"balie 3"&gt;.</Say></Response>',
        ),
    ]
    assert result.external_id == CALL_SID


def test_a_call_says_the_text_in_the_configured_voice_within_twilios_limit() -> None:
    adapter = voice(from_number=VOICE_NUMBER, voice="Polly.Lotte", language="nl-NL")
    [payload] = adapter.render(OutboundMessage(to=JAN, text="Hallo"))
    assert dict(parse_qsl(payload.body.decode()))["Twiml"] == (
        '<Response><Say voice="Polly.Lotte" language="nl-NL">Hallo</Say></Response>'
    )
    payloads = adapter.render(OutboundMessage(to=JAN, text="& " * 1500))
    twiml = [dict(parse_qsl(p.body.decode()))["Twiml"] for p in payloads]
    assert len(twiml) >= 2 and all(len(t) <= 4000 for t in twiml)
    for message, reason in (
        (OutboundMessage(to=JAN), "needs text"),
        (OutboundMessage(to=f"whatsapp:{JAN}", text="Hallo"), "not a phone number"),
    ):
        with pytest.raises(ValidationError, match=reason):
            adapter.render(message)
    with pytest.raises(ValidationError, match="from_number"):
        voice().render(OutboundMessage(to=JAN, text="Hallo"))


def test_the_receiver_verifies_against_its_public_url(tmp_path: Path) -> None:
    from omnikit.server import create_app

    request = form_request(SMS)  # signed for https://support.example.nl/webhooks/twilio

    async def post(app: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        # the app sees the internal address, as behind a TLS-terminating proxy
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.3.7:8000") as c:
            return await c.post("/webhooks/twilio", headers=request.headers, content=request.body)

    with Omnikit(f"sqlite:///{tmp_path / 'omnikit.db'}", default_region="NL") as kit:
        kit.adapters.use("twilio", account_sid=ACCOUNT, auth_token=TOKEN)
        refused = asyncio.run(post(create_app(kit)))
        assert refused.status_code == 403
        answer = asyncio.run(post(create_app(kit, public_url="https://support.example.nl")))
        assert answer.status_code == 200 and answer.content == EMPTY_TWIML
        assert answer.headers["content-type"].startswith("text/xml")
        jan = kit.customers.find(phone=JAN)
        assert jan is not None
        [step] = kit.journey(jan.id).steps
        assert step.external_id == "SM5b1e2f3a4c5d6e7f8091a2b3c4d5e6f7"


def test_the_docs_example_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "providers" / "twilio.md").read_text(
        "utf-8"
    )
    blocks = [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/providers/twilio.md", "exec"), {})
