"""Meta's webhooks (WhatsApp Cloud API, Messenger, Instagram): conformance, what they
parse, and the exact Graph API requests they send."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnikit import (
    EventType,
    InboundRequest,
    Omnikit,
    OutboundMessage,
    PayloadError,
    SendError,
    SignatureError,
    ValidationError,
)
from omnikit.adapters.meta import InstagramAdapter, MessengerAdapter, WhatsAppAdapter
from omnikit.model import DeliveryStatus
from omnikit.testing import AdapterConformance

APP_SECRET = "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f"
VERIFY_TOKEN = "omnikit-verify-7f3a9c"
ACCESS_TOKEN = "EAAJZCx0ZBZC4ZAkBAOmnikitTestToken"
PHONE_NUMBER_ID = "106540352242922"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOST = "https://omnikit.example.nl/webhooks"


def signature(body: bytes, secret: str = APP_SECRET) -> str:
    """``X-Hub-Signature-256`` as Meta documents it: HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(document: object, adapter: str = "whatsapp", secret: str = APP_SECRET) -> InboundRequest:
    body = json.dumps(document, ensure_ascii=False).encode()
    return InboundRequest(
        method="POST",
        url=f"{HOST}/{adapter}",
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature(body, secret),
        },
        body=body,
        received_at=NOW,
    )


def challenge_request(adapter: str, token: str | None = VERIFY_TOKEN) -> InboundRequest:
    query = "hub.mode=subscribe&hub.challenge=1158201444"
    if token is not None:
        query += f"&hub.verify_token={token}"
    return InboundRequest(method="GET", url=f"{HOST}/{adapter}?{query}", received_at=NOW)


def resign(request: InboundRequest, secret: str) -> InboundRequest:
    headers = {**request.headers, "x-hub-signature-256": signature(request.body, secret)}
    return InboundRequest(**{**request.model_dump(), "headers": headers})


def transport(answer: httpx.Response, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.MockTransport(handle)


# WhatsApp samples, shaped as in Meta's "messages webhook reference" --------------------------

JAN = "31612345678"
WAMID_IN = "wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
WAMID_OUT = "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def whatsapp(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    changes = []
    for value in values:
        base = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "3197010255555",
                "phone_number_id": PHONE_NUMBER_ID,
            },
        }
        changes.append({"value": base | value, "field": field})
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": changes}],
    }


def contact(wa_id: str = JAN, name: str = "Jan de Vries") -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def wa_message(wamid: str = WAMID_IN, **content: Any) -> dict[str, Any]:
    return {"from": JAN, "id": wamid, "timestamp": "1795435170"} | (
        content or {"type": "text", "text": {"body": "Waar blijft mijn bestelling?"}}
    )


def wa_status(status: str, wamid: str = WAMID_OUT, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": status,
        "timestamp": "1795435260",
        "recipient_id": JAN,
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
    } | extra


FAILED = wa_status(
    "failed",
    errors=[
        {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {
                "details": "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number."
            },
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        }
    ],
)
TEXT = whatsapp({"contacts": [contact()], "messages": [wa_message()]})
IMAGE = whatsapp(
    {
        "contacts": [contact()],
        "messages": [
            wa_message(
                "wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzRUIwNjlGQjI0QTc5NkQyN0Q4MwA=",
                type="image",
                image={
                    "caption": "De doos was kapot",
                    "mime_type": "image/jpeg",
                    "sha256": "MTRhMzI3NjY1ZGI1ZTVlOWQzZWY1NzcyMTM0YjU3ZmY=",
                    "id": "1003383421387256",
                },
            )
        ],
    }
)
REPLY = whatsapp(
    {
        "contacts": [contact()],
        "messages": [
            wa_message(
                "wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUI3QkU1NjE4RTg4QzBDODMxNgA=",
                context={"from": "3197010255555", "id": WAMID_OUT},
                type="text",
                text={"body": "Dinsdag is goed"},
            )
        ],
    }
)
TEMPLATE_APPROVED = whatsapp(
    {
        "event": "APPROVED",
        "message_template_id": 1241856810394620,
        "message_template_name": "order_update",
        "message_template_language": "nl",
        "reason": "NONE",
    },
    field="message_template_status_update",
)


class TestWhatsAppConformance(AdapterConformance):
    secret = APP_SECRET
    signature_headers = ("X-Hub-Signature-256",)
    signs_time = False
    challenge = b"1158201444"

    @pytest.fixture
    def adapter(self) -> WhatsAppAdapter:
        return WhatsAppAdapter(
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
            access_token=ACCESS_TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
        )

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [
            signed(TEXT),
            signed(IMAGE),
            signed(REPLY),
            signed(whatsapp({"statuses": [wa_status("sent")]})),
            signed(whatsapp({"statuses": [wa_status("delivered")]})),
            signed(whatsapp({"statuses": [wa_status("read")]})),
            signed(whatsapp({"statuses": [FAILED]})),
            signed(TEMPLATE_APPROVED),
        ]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        return resign(request, secret)

    @pytest.fixture
    def handshake_request(self) -> InboundRequest:
        return challenge_request("whatsapp")

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to="+31612345678", text="Uw pakket komt dinsdag.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "31612345678", "wa_id": JAN}],
                "messages": [{"id": WAMID_OUT}],
            },
        )


def whatsapp_adapter(**settings: Any) -> WhatsAppAdapter:
    return WhatsAppAdapter(
        **{
            "app_secret": APP_SECRET,
            "verify_token": VERIFY_TOKEN,
            "access_token": ACCESS_TOKEN,
            "phone_number_id": PHONE_NUMBER_ID,
        }
        | settings
    )


def use_whatsapp(kit: Omnikit) -> None:
    kit.adapters.use(
        "whatsapp",
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        access_token=ACCESS_TOKEN,
        phone_number_id=PHONE_NUMBER_ID,
    )


def test_whatsapp_message_lands_on_the_customer_known_by_phone(kit: Omnikit) -> None:
    use_whatsapp(kit)
    jan = kit.customers.identify(phone="06 12345678")
    result = kit.receive("whatsapp", signed(TEXT))
    [interaction] = result.interactions
    assert interaction.customer_id == jan.id
    assert (interaction.channel, interaction.direction, interaction.kind) == (
        "whatsapp",
        "inbound",
        "message",
    )
    assert interaction.external_id == WAMID_IN
    assert interaction.text == "Waar blijft mijn bestelling?"
    assert interaction.occurred_at == datetime(2026, 11, 23, 11, 59, 30, tzinfo=UTC)
    assert interaction.metadata == {}
    assert (result.response.status, result.response.body) == (200, b"EVENT_RECEIVED")
    # Meta retries a notification it thinks failed: nothing is recorded twice
    again = kit.receive("whatsapp", signed(TEXT))
    assert again.interactions[0].id == interaction.id
    assert len(kit.journey(jan.id).steps) == 1


def test_whatsapp_sender_name_reply_context_and_media() -> None:
    adapter = whatsapp_adapter()
    [reply] = adapter.parse(signed(REPLY))
    assert reply.sender is not None
    assert (reply.sender.phone, reply.sender.name) == ("+31612345678", "Jan de Vries")
    assert reply.metadata == {"in_reply_to": WAMID_OUT}
    [image] = adapter.parse(signed(IMAGE))
    assert image.text == "De doos was kapot"
    [attachment] = image.attachments
    assert (attachment.name, attachment.content_type, attachment.url) == (
        "1003383421387256",
        "image/jpeg",
        None,
    )
    assert image.metadata == {"type": "image", "media_id": "1003383421387256"}


def test_whatsapp_message_types_without_text() -> None:
    adapter = whatsapp_adapter()
    samples = [
        wa_message(
            "wamid.doc",
            type="document",
            document={
                "filename": "factuur-1001.pdf",
                "mime_type": "application/pdf",
                "sha256": "Z3J3ZndlL1pQeDB3QWJkZmJkZUZVTkl0UFowUnlsTDg=",
                "id": "1234567890987654",
            },
        ),
        wa_message(
            "wamid.loc",
            type="location",
            location={"latitude": 52.3731, "longitude": 4.8922, "name": "Dam", "address": "Dam 1"},
        ),
        wa_message(
            "wamid.btn",
            context={"from": "3197010255555", "id": WAMID_OUT},
            type="interactive",
            interactive={
                "type": "button_reply",
                "button_reply": {"id": "move", "title": "Verzetten"},
            },
        ),
        wa_message("wamid.qr", type="button", button={"payload": "STOP", "text": "Stop promoties"}),
        wa_message(
            "wamid.react", type="reaction", reaction={"message_id": WAMID_OUT, "emoji": "👍"}
        ),
        wa_message(
            "wamid.unsup",
            type="unsupported",
            errors=[
                {
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }
            ],
        ),
        wa_message("wamid.unreact", type="reaction", reaction={"message_id": WAMID_OUT}),
        wa_message(
            "wamid.sys",
            type="system",
            system={
                "body": "User Jan changed from 31612345678 to 31687654321",
                "type": "user_changed_number",
            },
        ),
    ]
    events = adapter.parse(signed(whatsapp({"contacts": [contact()], "messages": samples})))
    document, location, button, quick, reaction, unsupported, unreaction, system = events
    assert document.text is None
    assert document.attachments[0].name == "factuur-1001.pdf"
    assert document.attachments[0].content_type == "application/pdf"
    assert document.metadata == {"type": "document", "media_id": "1234567890987654"}
    assert location.metadata["type"] == "location"
    assert location.metadata["location"] == {
        "latitude": 52.3731,
        "longitude": 4.8922,
        "name": "Dam",
        "address": "Dam 1",
    }
    assert button.text == "Verzetten"
    assert button.metadata == {"type": "interactive", "reply_id": "move", "in_reply_to": WAMID_OUT}
    assert (quick.text, quick.metadata) == ("Stop promoties", {"type": "button", "payload": "STOP"})
    assert (reaction.text, reaction.metadata) == (
        "👍",
        {"type": "reaction", "in_reply_to": WAMID_OUT},
    )
    assert unsupported.type is EventType.MESSAGE and unsupported.text is None
    assert unsupported.metadata == {
        "type": "unsupported",
        "error": {
            "code": 131051,
            "title": "Message type unknown",
            "message": "Message type unknown",
            "details": "Message type is currently not supported.",
        },
    }
    assert unreaction.type is EventType.IGNORED and "removed" in (unreaction.reason or "")
    assert system.type is EventType.IGNORED and "'system'" in (system.reason or "")


def test_whatsapp_statuses_move_an_outbound_message_forward(kit: Omnikit) -> None:
    use_whatsapp(kit)
    jan = kit.customers.identify(phone="+31612345678")
    sent = kit.record(
        customer=jan,
        channel="whatsapp",
        direction="outbound",
        kind="message",
        text="Uw pakket komt dinsdag.",
        external_id=WAMID_OUT,
    )

    def status_now() -> DeliveryStatus | None:
        [step] = [s for s in kit.journey(jan.id).steps if s.id == sent.id]
        return step.status

    for reported in ("sent", "delivered", "read"):
        result = kit.receive("whatsapp", signed(whatsapp({"statuses": [wa_status(reported)]})))
        assert [i.id for i in result.updated] == [sent.id]
        assert status_now() == DeliveryStatus(reported)
    late = kit.receive("whatsapp", signed(whatsapp({"statuses": [wa_status("delivered")]})))
    assert late.updated == ()
    assert status_now() is DeliveryStatus.READ


def test_whatsapp_failed_status_keeps_the_error(kit: Omnikit) -> None:
    use_whatsapp(kit)
    jan = kit.customers.identify(phone="+31612345678")
    kit.record(
        customer=jan,
        channel="whatsapp",
        direction="outbound",
        kind="message",
        text="Uw pakket komt dinsdag.",
        external_id=WAMID_OUT,
    )
    result = kit.receive("whatsapp", signed(whatsapp({"statuses": [FAILED]})))
    [failed] = result.updated
    assert failed.status is DeliveryStatus.FAILED
    assert failed.metadata["error"] == {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "details": "Message failed to send because more than 24 hours have passed "
        "since the customer last replied to this number.",
    }


def test_whatsapp_other_fields_and_objects_are_acknowledged_and_ignored(kit: Omnikit) -> None:
    use_whatsapp(kit)
    result = kit.receive("whatsapp", signed(TEMPLATE_APPROVED))
    [ignored] = result.ignored
    assert "message_template_status_update" in (ignored.reason or "")
    assert result.interactions == () and result.response.status == 200
    page = {"object": "page", "entry": [{"id": "1", "time": 1, "messaging": []}]}
    [wrong] = kit.receive("whatsapp", signed(page)).ignored
    assert "'page'" in (wrong.reason or "") and "whatsapp_business_account" in (wrong.reason or "")


def test_whatsapp_several_entries_changes_and_messages() -> None:
    adapter = whatsapp_adapter()
    document = whatsapp(
        {"contacts": [contact()], "messages": [wa_message("wamid.a"), wa_message("wamid.b")]},
        {"statuses": [wa_status("delivered", "wamid.c"), wa_status("read", "wamid.d")]},
    )
    document["entry"].append(
        whatsapp({"contacts": [contact()], "messages": [wa_message("wamid.e")]})["entry"][0]
    )
    events = adapter.parse(signed(document))
    assert [(e.type, e.external_id) for e in events] == [
        (EventType.MESSAGE, "wamid.a"),
        (EventType.MESSAGE, "wamid.b"),
        (EventType.STATUS, "wamid.c"),
        (EventType.STATUS, "wamid.d"),
        (EventType.MESSAGE, "wamid.e"),
    ]
    assert [e.status for e in events if e.type is EventType.STATUS] == [
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
    ]


def test_whatsapp_business_scoped_user_id_recognises_a_username_user(kit: Omnikit) -> None:
    use_whatsapp(kit)
    with_number = {"profile": {"name": "Jan"}, "wa_id": JAN, "user_id": "NL.13491208655302741918"}
    first = kit.receive(
        "whatsapp", signed(whatsapp({"contacts": [with_number], "messages": [wa_message()]}))
    )
    username_only = {
        "contacts": [
            {"profile": {"name": "Jan", "username": "@jandv"}, "user_id": "NL.13491208655302741918"}
        ],
        "messages": [
            {
                "from_user_id": "NL.13491208655302741918",
                "id": "wamid.username",
                "timestamp": "1795435300",
                "type": "text",
                "text": {"body": "Nog een vraag"},
            }
        ],
    }
    second = kit.receive("whatsapp", signed(whatsapp(username_only)))
    assert second.interactions[0].customer_id == first.interactions[0].customer_id
    assert second.interactions[0].metadata == {}
    # a user id in 'from', where the number used to be, is read as the user id
    in_from = {"from": "NL.13491208655302741918", "id": "wamid.f", "type": "text", "text": {}}
    [event] = whatsapp_adapter().parse(signed(whatsapp({"messages": [in_from]})))
    assert event.sender is not None and event.sender.phone is None
    assert event.sender.external_ids == {"whatsapp": "NL.13491208655302741918"}


# the handshake and the signature ------------------------------------------------------------


@pytest.mark.parametrize("cls", [WhatsAppAdapter, MessengerAdapter, InstagramAdapter])
def test_subscription_handshake(cls: type[WhatsAppAdapter]) -> None:
    adapter = cls(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    response = adapter.handshake(challenge_request(adapter.name))
    assert response is not None
    assert (response.status, response.body) == (200, b"1158201444")
    assert response.headers["content-type"].startswith("text/plain")
    for token in ("not-the-token", None, ""):
        with pytest.raises(SignatureError, match="verify_token"):
            adapter.handshake(challenge_request(adapter.name, token))
    unsubscribe = InboundRequest(
        method="GET", url=f"{HOST}/x?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}"
    )
    with pytest.raises(PayloadError, match="subscribe"):
        adapter.handshake(unsubscribe)
    assert adapter.handshake(InboundRequest(method="GET", url=f"{HOST}/x")) is None


def test_handshake_through_the_kit(kit: Omnikit) -> None:
    use_whatsapp(kit)
    result = kit.receive("whatsapp", challenge_request("whatsapp"))
    assert result.response.body == b"1158201444" and result.events == ()
    with pytest.raises(SignatureError):
        kit.receive("whatsapp", challenge_request("whatsapp", "guess"))


def test_signature_header_forms() -> None:
    adapter = whatsapp_adapter()
    request = signed(TEXT)
    digest = request.headers["x-hub-signature-256"].removeprefix("sha256=")
    sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), request.body, hashlib.sha1).hexdigest()
    for header, reason in (
        (sha1, "not 'sha256="),
        (digest, "not 'sha256="),
        ("sha256=", "not 'sha256="),
        ("sha256=" + "0" * 64, "does not match"),
    ):
        headers = {**request.headers, "x-hub-signature-256": header}
        with pytest.raises(SignatureError, match=reason):
            adapter.verify(request.model_copy(update={"headers": headers}))
    adapter.verify(request)


def test_bad_bodies_are_payload_errors() -> None:
    adapter = whatsapp_adapter()
    message = wa_message()
    for document, reason in (
        ([TEXT], "must be an object"),
        ({"entry": []}, "'object'"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry must be a list"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}, "changes must be a list"),
        (
            whatsapp({"messages": [{k: v for k, v in message.items() if k != "id"}]}),
            r"messages\[0\]\.id",
        ),
        (whatsapp({"messages": [{k: v for k, v in message.items() if k != "from"}]}), "no sender"),
        (whatsapp({"messages": [message | {"timestamp": "yesterday"}]}), "not a Unix time"),
        (whatsapp({"messages": [message | {"timestamp": 10**30}]}), "not a Unix time"),
        (whatsapp({"statuses": [{"status": "read"}]}), r"statuses\[0\]\.id"),
        (whatsapp({"messages": "nope"}), "messages must be a list"),
    ):
        with pytest.raises(PayloadError, match=reason):
            adapter.parse(signed(document))
    xml = InboundRequest(
        method="POST", url=HOST, headers={"content-type": "text/xml"}, body=b"<a/>"
    )
    with pytest.raises(PayloadError, match="text/xml"):
        adapter.parse(xml)


def test_settings_are_checked() -> None:
    for settings, reason in (
        ({"app_secret": "short"}, "app_secret"),
        ({"verify_token": ""}, "verify_token"),
        ({"access_token": " padded "}, "access_token"),
        ({"api_version": "21"}, "api_version"),
        ({"graph_url": "graph.facebook.com"}, "graph_url"),
        ({"phone_number_id": "+31 20 123 4567"}, "phone_number_id"),
    ):
        with pytest.raises(ValidationError, match=reason):
            whatsapp_adapter(**settings)
    text = OutboundMessage(to="+31612345678", text="Hallo")
    with pytest.raises(ValidationError, match="access_token"):
        whatsapp_adapter(access_token=None).render(text)
    with pytest.raises(ValidationError, match="phone_number_id"):
        whatsapp_adapter(phone_number_id=None).render(text)
    with pytest.raises(ValidationError, match="access_token"):
        MessengerAdapter(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN).render(text)
    with pytest.raises(ValidationError, match="verify_token"):
        InstagramAdapter(app_secret=APP_SECRET, verify_token=None)  # type: ignore[arg-type]


# WhatsApp outbound --------------------------------------------------------------------------

MESSAGES_URL = f"https://graph.facebook.com/v21.0/{PHONE_NUMBER_ID}/messages"


def test_whatsapp_text_reply_is_sent_as_the_cloud_api_expects() -> None:
    adapter = whatsapp_adapter()
    message = OutboundMessage(
        to="+31 6 12345678", text="Dinsdag tussen 9 en 12 uur 🚚", reply_to=WAMID_IN
    )
    [payload] = adapter.render(message)
    seen: list[httpx.Request] = []
    answer = httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": "31612345678", "wa_id": JAN}],
            "messages": [{"id": WAMID_OUT, "message_status": "accepted"}],
        },
    )
    with httpx.Client(transport=transport(answer, seen)) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", MESSAGES_URL)
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31612345678",
        "type": "text",
        "text": {"preview_url": False, "body": "Dinsdag tussen 9 en 12 uur 🚚"},
        "context": {"message_id": WAMID_IN},
    }
    assert result.external_id == WAMID_OUT and result.http_status == 200


def test_whatsapp_template_message() -> None:
    adapter = whatsapp_adapter(api_version="v22.0")
    message = OutboundMessage(
        to="+31612345678",
        template="order_update",
        template_params=("Jan", "1001"),
        language="nl",
        text="Hallo Jan, bestelling 1001 is onderweg.",
    )
    [payload] = adapter.render(message)
    seen: list[httpx.Request] = []
    answer = httpx.Response(
        200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.T"}]}
    )
    with httpx.Client(transport=transport(answer, seen)) as client:
        assert adapter.send(payload, client).external_id == "wamid.T"
    [request] = seen
    assert (request.method, str(request.url)) == (
        "POST",
        f"https://graph.facebook.com/v22.0/{PHONE_NUMBER_ID}/messages",
    )
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31612345678",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "nl"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Jan"},
                        {"type": "text", "text": "1001"},
                    ],
                }
            ],
        },
    }
    [plain] = adapter.render(
        OutboundMessage(to="+31612345678", template="hello_world", language="en_US")
    )
    assert json.loads(plain.body)["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }
    with pytest.raises(ValidationError, match="language"):
        adapter.render(OutboundMessage(to="+31612345678", template="order_update"))


def test_whatsapp_media_long_text_and_bad_recipients() -> None:
    adapter = whatsapp_adapter()
    message = OutboundMessage(
        to="+31612345678",
        text="word " * 1000,
        media=("https://shop.example.nl/labels/1001.png", "https://shop.example.nl/f/1001.pdf"),
        reply_to=WAMID_IN,
    )
    payloads = adapter.render(message)
    bodies = [json.loads(p.body) for p in payloads]
    assert [b["type"] for b in bodies] == ["text", "text", "image", "document"]
    assert all(len(b["text"]["body"]) <= 4096 for b in bodies[:2])
    assert bodies[2]["image"] == {"link": "https://shop.example.nl/labels/1001.png"}
    assert bodies[3]["document"] == {"link": "https://shop.example.nl/f/1001.pdf"}
    assert "context" in bodies[0] and all("context" not in b for b in bodies[1:])
    for to in ("06 12345678", "jan@example.nl", "+31 6"):
        with pytest.raises(ValidationError, match="recipient"):
            adapter.render(OutboundMessage(to=to, text="Hallo"))
    with pytest.raises(ValidationError, match="no text"):
        adapter.render(OutboundMessage(to="+31612345678"))


# Messenger and Instagram samples, shaped as in Meta's webhook event references ----------------

PAGE_ID = "104412345678901"
PSID = "6734512345678901"
IG_ACCOUNT = "17841400000000000"
IGSID = "1203948576123456"
MID = "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheUYEDdHJXjDXEAyaS1xxONzb2Iv-DFzmTihfWJV012P5pK0AhQ"
MID_OUT = "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"


def page(*messaging: dict[str, Any], obj: str = "page", owner: str = PAGE_ID) -> dict[str, Any]:
    return {
        "object": obj,
        "entry": [{"id": owner, "time": 1795435200123, "messaging": list(messaging)}],
    }


def event(sender: str = PSID, recipient: str = PAGE_ID, **content: Any) -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": recipient},
        "timestamp": 1795435170123,
    } | content


MESSENGER_TEXT = page(event(message={"mid": MID, "text": "Kan ik mijn bestelling nog wijzigen?"}))
MESSENGER_IMAGE = page(
    event(
        message={
            "mid": "m_image1",
            "attachments": [
                {
                    "type": "image",
                    "payload": {
                        "url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_1001.jpg?oh=abc"
                    },
                }
            ],
        }
    )
)
MESSENGER_REPLY = page(
    event(
        message={
            "mid": "m_reply1",
            "text": "Ja, graag",
            "reply_to": {"mid": MID_OUT, "is_self_reply": False},
        }
    )
)
MESSENGER_DELIVERY = page(
    {
        "sender": {"id": PSID},
        "recipient": {"id": PAGE_ID},
        "delivery": {"mids": [MID_OUT], "watermark": 1795435260000},
    }
)
MESSENGER_READ = page(event(read={"watermark": 1795435270000}))
MESSENGER_ECHO = page(
    event(
        sender=PAGE_ID,
        recipient=PSID,
        message={
            "is_echo": True,
            "app_id": 1517776481860111,
            "mid": MID_OUT,
            "text": "Natuurlijk!",
        },
    )
)
MESSENGER_POSTBACK = page(
    event(postback={"mid": "m_postback1", "title": "Bestelling volgen", "payload": "TRACK_ORDER"})
)
MESSENGER_REACTION = page(
    event(reaction={"reaction": "love", "emoji": "❤️", "action": "react", "mid": MID_OUT})
)

INSTAGRAM_TEXT = page(
    event(
        IGSID,
        IG_ACCOUNT,
        message={
            "mid": "aWdfZAG1faWQ6MTpJR01lc3NhZAZA2VJRDoxNzg0",
            "text": "Hoi! Is deze jas er nog in M?",
        },
    ),
    obj="instagram",
    owner=IG_ACCOUNT,
)
INSTAGRAM_STORY_REPLY = page(
    event(
        IGSID,
        IG_ACCOUNT,
        message={
            "mid": "aWdfZAG1faWQ6MTpJR01lc3NhZAZA2VJRDoxNzg1",
            "text": "Mooi!",
            "reply_to": {
                "story": {
                    "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1",
                    "id": "17890000000000001",
                }
            },
        },
    ),
    obj="instagram",
    owner=IG_ACCOUNT,
)
INSTAGRAM_READ = page(
    event(IGSID, IG_ACCOUNT, read={"mid": MID_OUT}), obj="instagram", owner=IG_ACCOUNT
)
INSTAGRAM_ECHO = page(
    event(IG_ACCOUNT, IGSID, message={"mid": MID_OUT, "text": "Ja, in M en L", "is_echo": True}),
    obj="instagram",
    owner=IG_ACCOUNT,
)
INSTAGRAM_COMMENT = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ACCOUNT,
            "time": 1795435200,
            "changes": [
                {
                    "field": "comments",
                    "value": {
                        "id": "17865799348089039",
                        "from": {"id": IGSID, "username": "jandv"},
                        "text": "Top",
                    },
                }
            ],
        }
    ],
}


class TestMessengerConformance(AdapterConformance):
    secret = APP_SECRET
    signature_headers = ("X-Hub-Signature-256",)
    signs_time = False
    challenge = b"1158201444"

    @pytest.fixture
    def adapter(self) -> MessengerAdapter:
        return MessengerAdapter(
            app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, access_token=ACCESS_TOKEN
        )

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        samples = [
            MESSENGER_TEXT,
            MESSENGER_IMAGE,
            MESSENGER_REPLY,
            MESSENGER_DELIVERY,
            MESSENGER_READ,
            MESSENGER_ECHO,
            MESSENGER_POSTBACK,
            MESSENGER_REACTION,
        ]
        return [signed(s, "messenger") for s in samples]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        return resign(request, secret)

    @pytest.fixture
    def handshake_request(self) -> InboundRequest:
        return challenge_request("messenger")

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to=PSID, text="Ja, dat kan tot 18:00 uur.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(200, json={"recipient_id": PSID, "message_id": MID_OUT})


class TestInstagramConformance(AdapterConformance):
    secret = APP_SECRET
    signature_headers = ("X-Hub-Signature-256",)
    signs_time = False
    challenge = b"1158201444"

    @pytest.fixture
    def adapter(self) -> InstagramAdapter:
        return InstagramAdapter(
            app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, access_token=ACCESS_TOKEN
        )

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        samples = [
            INSTAGRAM_TEXT,
            INSTAGRAM_STORY_REPLY,
            INSTAGRAM_READ,
            INSTAGRAM_ECHO,
            INSTAGRAM_COMMENT,
        ]
        return [signed(s, "instagram") for s in samples]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        return resign(request, secret)

    @pytest.fixture
    def handshake_request(self) -> InboundRequest:
        return challenge_request("instagram")

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to=IGSID, text="Ja, nog twee in M.")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(200, json={"recipient_id": IGSID, "message_id": MID_OUT})


def use_messaging(kit: Omnikit) -> None:
    for name in ("messenger", "instagram"):
        kit.adapters.use(
            name, app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, access_token=ACCESS_TOKEN
        )


def test_messenger_messages_are_recorded_by_page_scoped_id(kit: Omnikit) -> None:
    use_messaging(kit)
    first = kit.receive("messenger", signed(MESSENGER_TEXT, "messenger"))
    [text] = first.interactions
    assert (text.channel, text.direction, text.external_id) == ("messenger", "inbound", MID)
    assert text.text == "Kan ik mijn bestelling nog wijzigen?"
    assert text.occurred_at == datetime(2026, 11, 23, 11, 59, 30, 123000, tzinfo=UTC)
    assert text.metadata == {}
    customer = kit.customers.find(handles={"messenger": PSID})
    assert customer is not None and customer.id == text.customer_id
    [reply] = kit.receive("messenger", signed(MESSENGER_REPLY, "messenger")).interactions
    assert reply.customer_id == customer.id and reply.metadata == {"in_reply_to": MID_OUT}
    [image] = kit.receive("messenger", signed(MESSENGER_IMAGE, "messenger")).interactions
    assert image.text is None and image.metadata == {"type": "image"}
    [attachment] = image.attachments
    assert attachment.name == "photo_1001.jpg" and attachment.content_type == "image/jpeg"
    assert attachment.url == "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo_1001.jpg?oh=abc"
    [postback] = kit.receive("messenger", signed(MESSENGER_POSTBACK, "messenger")).interactions
    assert postback.text == "Bestelling volgen"
    assert postback.metadata == {"type": "postback", "payload": "TRACK_ORDER"}
    assert len(kit.journey(customer.id).steps) == 4


def test_messenger_receipts_echoes_and_reactions(kit: Omnikit) -> None:
    use_messaging(kit)
    customer = kit.customers.identify(handles={"messenger": PSID})
    sent = kit.record(
        customer=customer,
        channel="messenger",
        direction="outbound",
        kind="message",
        text="Natuurlijk!",
        external_id=MID_OUT,
    )
    delivered = kit.receive("messenger", signed(MESSENGER_DELIVERY, "messenger"))
    assert [(i.id, i.status) for i in delivered.updated] == [(sent.id, DeliveryStatus.DELIVERED)]
    for sample, reason in (
        (MESSENGER_READ, "watermark"),
        (MESSENGER_ECHO, "echo"),
        (MESSENGER_REACTION, "'reaction'"),
    ):
        result = kit.receive("messenger", signed(sample, "messenger"))
        [ignored] = result.ignored
        assert reason in (ignored.reason or "")
        assert result.interactions == () and result.updated == ()
        assert result.response.body == b"EVENT_RECEIVED"
    assert len(kit.journey(customer.id).steps) == 1


def test_instagram_messages_reads_and_comments(kit: Omnikit) -> None:
    use_messaging(kit)
    [text] = kit.receive("instagram", signed(INSTAGRAM_TEXT, "instagram")).interactions
    assert (text.channel, text.text) == ("instagram", "Hoi! Is deze jas er nog in M?")
    customer = kit.customers.find(handles={"instagram": IGSID})
    assert customer is not None and customer.id == text.customer_id
    [story] = kit.receive("instagram", signed(INSTAGRAM_STORY_REPLY, "instagram")).interactions
    assert story.metadata == {"story_id": "17890000000000001"}
    sent = kit.record(
        customer=customer,
        channel="instagram",
        direction="outbound",
        kind="message",
        external_id=MID_OUT,
    )
    [read] = kit.receive("instagram", signed(INSTAGRAM_READ, "instagram")).updated
    assert (read.id, read.status) == (sent.id, DeliveryStatus.READ)
    [echo] = kit.receive("instagram", signed(INSTAGRAM_ECHO, "instagram")).ignored
    assert "echo" in (echo.reason or "")
    [comment] = kit.receive("instagram", signed(INSTAGRAM_COMMENT, "instagram")).ignored
    assert "'comments'" in (comment.reason or "")
    # a Page notification sent to the Instagram adapter is not read as Instagram's
    [wrong] = kit.receive("instagram", signed(MESSENGER_TEXT, "instagram")).ignored
    assert "'page'" in (wrong.reason or "")


def test_standby_messages_and_postbacks_without_mid() -> None:
    adapter = MessengerAdapter(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    document = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1795435200123,
                "standby": [event(message={"mid": "m_standby", "text": "Hallo?"})],
                "messaging": [event(postback={"title": "Aan de slag", "payload": "GET_STARTED"})],
            }
        ],
    }
    postback, standby = adapter.parse(signed(document, "messenger"))
    assert postback.external_id == f"postback:{PSID}:1795435170123"
    assert postback.text == "Aan de slag"
    assert (standby.external_id, standby.text) == ("m_standby", "Hallo?")
    assert standby.sender is not None and standby.sender.handles == {"messenger": PSID}


# Messenger and Instagram outbound -----------------------------------------------------------

SEND_URL = "https://graph.facebook.com/v21.0/me/messages"


@pytest.mark.parametrize(("cls", "limit"), [(MessengerAdapter, 2000), (InstagramAdapter, 1000)])
def test_send_api_requests(cls: type[MessengerAdapter], limit: int) -> None:
    adapter = cls(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, access_token=ACCESS_TOKEN)
    [payload] = adapter.render(OutboundMessage(to=PSID, text="Ja, dat kan tot 18:00 uur."))
    seen: list[httpx.Request] = []
    answer = httpx.Response(200, json={"recipient_id": PSID, "message_id": MID_OUT})
    with httpx.Client(transport=transport(answer, seen)) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", SEND_URL)
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Ja, dat kan tot 18:00 uur."},
    }
    assert result.external_id == MID_OUT
    media = adapter.render(
        OutboundMessage(
            to=PSID, text="Uw label:", media=("https://shop.example.nl/labels/1001.png",)
        )
    )
    assert [json.loads(p.body)["message"] for p in media] == [
        {"text": "Uw label:"},
        {
            "attachment": {
                "type": "image",
                "payload": {"url": "https://shop.example.nl/labels/1001.png", "is_reusable": True},
            }
        },
    ]
    parts = adapter.render(OutboundMessage(to=PSID, text="woord " * limit))
    texts = [json.loads(p.body)["message"]["text"] for p in parts]
    assert len(texts) >= 3 and all(len(t) <= limit for t in texts)
    assert " ".join(texts).split() == ["woord"] * limit
    with pytest.raises(ValidationError, match="template"):
        adapter.render(OutboundMessage(to=PSID, template="x", language="nl"))
    with pytest.raises(ValidationError, match="recipient"):
        adapter.render(OutboundMessage(to="Jan de Vries", text="Hallo"))


# refusals: Graph API error codes -----------------------------------------------------------


def graph_error(
    status: int, code: int, message: str, *, subcode: int | None = None, details: str = ""
) -> httpx.Response:
    """A Graph API error answer as Meta documents it; ``details`` adds the Cloud API's
    ``error_data``."""
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf0123456789XyZ",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return httpx.Response(status, json={"error": error})


def meta_refusal(
    adapter: WhatsAppAdapter | MessengerAdapter, to: str, answer: httpx.Response
) -> SendError:
    [payload] = adapter.render(OutboundMessage(to=to, text="Uw pakket komt morgen."))
    with (
        httpx.Client(transport=httpx.MockTransport(lambda _: answer)) as client,
        pytest.raises(SendError) as caught,
    ):
        adapter.send(payload, client)
    return caught.value


@pytest.mark.parametrize(
    ("answer", "undeliverable", "retryable"),
    [
        (
            graph_error(
                400, 131026, "(#131026) Message Undeliverable.", details="Message Undeliverable."
            ),
            True,
            False,
        ),
        (
            graph_error(
                400,
                131047,
                "(#131047) Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since "
                "the customer last replied to this number.",
            ),
            False,  # a template still reaches the number
            False,
        ),
        (
            graph_error(
                400,
                130429,
                "(#130429) Rate limit hit",
                details="Cloud API message throughput has been reached.",
            ),
            False,
            True,
        ),
        (
            graph_error(
                400,
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                subcode=2494071,
                details="Message failed to send because there were too many messages sent "
                "from this phone number to the same phone number in a short period of time.",
            ),
            False,
            True,
        ),
        (graph_error(400, 131048, "(#131048) Spam rate limit hit"), False, True),
        (graph_error(400, 80007, "(#80007) Rate limit issues"), False, True),
        (graph_error(503, 2, "(#2) Service temporarily unavailable"), False, True),
        (graph_error(401, 190, "Error validating access token"), False, False),
        (graph_error(400, 100, "(#100) Invalid parameter"), False, False),
    ],
)
def test_whatsapp_refusals(answer: httpx.Response, undeliverable: bool, retryable: bool) -> None:
    error = meta_refusal(whatsapp_adapter(), "+31612345678", answer)
    assert (error.undeliverable, error.retryable, error.status) == (
        undeliverable,
        retryable,
        answer.status_code,
    )


@pytest.mark.parametrize("cls", [MessengerAdapter, InstagramAdapter])
@pytest.mark.parametrize(
    ("answer", "undeliverable", "retryable"),
    [
        (
            graph_error(400, 551, "(#551) This person isn't available right now.", subcode=1545041),
            True,
            False,
        ),
        (graph_error(400, 100, "(#100) No matching user found", subcode=2018001), True, False),
        (graph_error(400, 100, "(#100) Invalid parameter"), False, False),
        (
            graph_error(
                400,
                10,
                "(#10) This message is sent outside of allowed window.",
                subcode=2018278,
            ),
            False,  # the person can receive again once they write
            False,
        ),
        (
            graph_error(400, 613, "(#613) Calls to this API have exceeded the rate limit."),
            False,
            True,
        ),
        (graph_error(400, 4, "(#4) Application request limit reached"), False, True),
        (
            graph_error(
                500, 1200, "(#1200) Temporary send message failure. Please try again later"
            ),
            False,
            True,
        ),
        (httpx.Response(400, text="not json"), False, False),
    ],
)
def test_send_api_refusals(
    cls: type[MessengerAdapter], answer: httpx.Response, undeliverable: bool, retryable: bool
) -> None:
    adapter = cls(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN, access_token=ACCESS_TOKEN)
    error = meta_refusal(adapter, PSID, answer)
    assert (error.undeliverable, error.retryable) == (undeliverable, retryable)


def test_meta_sends_no_idempotency_key() -> None:
    adapter = whatsapp_adapter()
    plain = adapter.render(OutboundMessage(to="+31612345678", text="Hallo"))
    keyed = adapter.render(
        OutboundMessage(to="+31612345678", text="Hallo", idempotency_key="outbox-17")
    )
    assert [(p.headers, p.body) for p in keyed] == [(p.headers, p.body) for p in plain]


def test_the_receiver_subscribes_and_records(tmp_path: Path) -> None:
    from omnikit.server import create_app

    message = signed(TEXT)

    async def exchange(app: Any) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.3.7:8000") as c:
            query = "hub.mode=subscribe&hub.challenge=1158201444"
            return [
                await c.get(f"/webhooks/whatsapp?{query}&hub.verify_token={VERIFY_TOKEN}"),
                await c.get(f"/webhooks/whatsapp?{query}&hub.verify_token=guess"),
                await c.post("/webhooks/whatsapp", headers=message.headers, content=message.body),
                await c.post(
                    "/webhooks/whatsapp",
                    headers={**message.headers, "x-hub-signature-256": "sha256=" + "0" * 64},
                    content=message.body,
                ),
            ]

    with Omnikit(f"sqlite:///{tmp_path / 'omnikit.db'}", default_region="NL") as kit:
        use_whatsapp(kit)
        subscribed, refused, delivered, forged = asyncio.run(exchange(create_app(kit)))
        assert (subscribed.status_code, subscribed.text) == (200, "1158201444")
        assert subscribed.headers["content-type"].startswith("text/plain")
        assert refused.status_code == 403 and forged.status_code == 403
        assert (delivered.status_code, delivered.text) == (200, "EVENT_RECEIVED")
        jan = kit.customers.find(phone="+31612345678")
        assert jan is not None
        assert [step.external_id for step in kit.journey(jan.id).steps] == [WAMID_IN]


def test_the_docs_example_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "providers" / "meta.md").read_text(
        "utf-8"
    )
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/providers/meta.md", "exec"), {})
