"""The e-mail adapters: conformance, what a message becomes, and sending.

``email`` reads raw RFC 5322 messages signed by the relay that hands them over and
sends over SMTP (tested against a real aiosmtpd server on 127.0.0.1); ``mailgun`` reads
Mailgun route posts (parsed fields or raw MIME) and sends through Mailgun's messages
API (tested with ``httpx.MockTransport``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import socket
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope
from hypothesis import given, settings
from hypothesis import strategies as st

from omnikit import (
    Attachment,
    DeliveryStatus,
    EventType,
    InboundRequest,
    Omnikit,
    OutboundMessage,
    PayloadError,
    SendError,
    SignatureError,
    ValidationError,
)
from omnikit.adapters.email import EmailAdapter, MailgunAdapter, parse_mail
from omnikit.testing import AdapterConformance
from tests.mail_samples import (
    BOUNCE,
    BOUNCED_ID,
    HTML_LATIN1,
    JPEG_SIZE,
    PDF_SIZE,
    PLAIN,
    REPLY,
    WITH_ATTACHMENT,
)

SECRET = "relay-secret-0123456789abcdef"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
URL = "https://crm.shop.example.nl/webhooks/email"
SENDER = "Klantenservice <service@shop.example.nl>"


def relay_signed(raw: bytes, *, at: datetime = NOW, secret: str = SECRET) -> InboundRequest:
    """``raw`` as a mail relay posts it: signed like the generic webhook, written out."""
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "message/rfc822",
        "X-Omnikit-Timestamp": stamp,
        "X-Omnikit-Signature": f"v1={digest}",
    }
    return InboundRequest(method="POST", url=URL, headers=headers, body=raw, received_at=NOW)


def mail(**headers: str) -> bytes:
    """A small plain-text message with ``headers`` (underscores become hyphens)."""
    lines = [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join([*lines, "Content-Type: text/plain; charset=utf-8", "", "Hallo"])).encode()


class TestEmailConformance(AdapterConformance):
    secret = SECRET
    signature_headers = ("X-Omnikit-Signature",)

    @pytest.fixture
    def adapter(self) -> EmailAdapter:
        return EmailAdapter(secret=SECRET, sender=SENDER, smtp_host="smtp.shop.example.nl")

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [relay_signed(raw) for raw in (PLAIN, HTML_LATIN1, REPLY, WITH_ATTACHMENT, BOUNCE)]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        again = relay_signed(request.body, at=at, secret=secret)
        headers = {**request.headers, **again.headers}
        return InboundRequest(**{**request.model_dump(), "headers": headers})

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to="jan@example.nl", subject="Uw bestelling 1001", text="Hallo Jan")


# what a message becomes ---------------------------------------------------------------------


def test_mail_is_recorded_on_the_customer_its_sender_is(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    jan = kit.customers.identify(email="jan@example.nl", name="Jan")
    [interaction] = kit.receive("email", relay_signed(PLAIN)).interactions
    assert interaction.customer_id == jan.id
    assert (interaction.channel, interaction.direction, interaction.kind) == (
        "email",
        "inbound",
        "email",
    )
    assert interaction.external_id == "CAKx7Pm1-q2bV0dZ@mail.example.nl"
    assert interaction.subject == "Waar blijft mijn bestelling 1001?"
    assert interaction.text == (
        "Goedemiddag,\n\nMijn bestelling 1001 (een boormachine) is nog niet bezorgd. Kunt u "
        "kijken waar hij blijft? Café om de hoek heeft hem ook niet.\n\nGroet,\nJan"
    )
    assert interaction.occurred_at == datetime(2026, 11, 23, 11, 58, 30, tzinfo=UTC)
    assert interaction.metadata == {"to": ["service@shop.example.nl"]}


def test_an_unknown_sender_becomes_a_customer_found_by_address(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    [interaction] = kit.receive("email", relay_signed(HTML_LATIN1)).interactions
    found = kit.customers.find(email="Renee@Example.BE")
    assert found is not None and found.id == interaction.customer_id
    assert found.name == "Renée Dupré"


def test_html_only_mail_in_latin1_becomes_text() -> None:
    event = parse_mail(HTML_LATIN1)
    assert event.subject == "Annulering bestelling 1002 café"
    # tags, the title and the style sheet dropped; entities decoded; one line per block;
    # ISO-8859-1 read as browsers read it (windows-1252: 0x96 is an en dash)
    assert event.text == (
        "Beste klantenservice,\n\nIk wil bestelling 1002 annuleren & het geld terug \N{EN DASH} "
        "graag snel.\nMijn café gaat dicht.\n\nRenée"
    )
    assert event.sender is not None and event.sender.name == "Renée Dupré"


def test_reply_carries_its_thread() -> None:
    event = parse_mail(REPLY)
    assert event.metadata == {
        "in_reply_to": "a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl",
        "references": [
            "CAKx7Pm1-q2bV0dZ@mail.example.nl",
            "a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl",
        ],
        "to": ["service@shop.example.nl"],
    }


def test_reply_joins_the_case_of_the_mail_it_answers(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    jan = kit.customers.identify(email="jan@example.nl")
    sent = kit.record(
        customer=jan,
        channel="email",
        direction="outbound",
        kind="email",
        subject="Uw bestelling 1001",
        external_id="a1b2c3d4-0000-4000-8000-000000000001@shop.example.nl",
    )
    case = kit.cases.open(customer=jan.id, subject="Bestelling 1001", interaction=sent.id)
    other = kit.cases.open(customer=jan.id, subject="Retour 998")  # two open: no guessing
    [reply] = kit.receive("email", relay_signed(REPLY)).interactions
    assert reply.case_id == case.id != other.id


def test_attachments_are_listed_without_content() -> None:
    event = parse_mail(WITH_ATTACHMENT)
    assert event.text == "De boormachine kwam beschadigd aan, zie de bijlagen."
    assert event.attachments == (
        Attachment(name="pakbon 1001.pdf", content_type="application/pdf", size=PDF_SIZE),
        Attachment(name="schade.jpg", content_type="image/jpeg", size=JPEG_SIZE),
    )
    assert "auto_submitted" not in event.metadata  # Auto-Submitted: no


def test_bounce_marks_the_returned_mail_failed(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    jan = kit.customers.identify(email="oud@example.nl")
    kit.record(
        customer=jan, channel="email", direction="outbound", kind="email", external_id=BOUNCED_ID
    )
    result = kit.receive("email", relay_signed(BOUNCE))
    assert result.interactions == ()
    [failed] = result.updated
    assert failed.external_id == BOUNCED_ID and failed.status is DeliveryStatus.FAILED
    assert failed.metadata == {
        "dsn_action": "failed",
        "dsn_status": "5.1.1",
        "dsn_diagnostic_code": (
            "smtp; 550 5.1.1 <oud@example.nl>: Recipient address rejected: User unknown"
        ),
        "dsn_recipient": "rfc822; oud@example.nl",
    }
    assert kit.journey(jan.id).channels == ["email"]  # the bounce is no contact of its own


def test_bounce_that_names_no_message_is_ignored(kit: Omnikit) -> None:
    kit.adapters.use("email", secret=SECRET)
    headerless = BOUNCE.replace(b"Message-ID: <a1b2c3d4", b"X-Was-Message-ID: <a1b2c3d4")
    result = kit.receive("email", relay_signed(headerless))
    [ignored] = result.ignored
    assert ignored.type is EventType.IGNORED
    assert ignored.reason == "delivery status notification without the original Message-ID"
    # and one for a message omnikit never sent is acknowledged, not recorded
    result = kit.receive("email", relay_signed(BOUNCE))
    assert result.updated == () and "no interaction" in (result.ignored[0].reason or "")


def test_bounce_with_the_returned_message_attached() -> None:
    attached = BOUNCE.replace(b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822")
    event = parse_mail(attached)
    assert (event.type, event.external_id) == (EventType.STATUS, BOUNCED_ID)
    # Original-Message-ID in the report itself comes first
    named = BOUNCE.replace(
        b"Arrival-Date:", b"Original-Message-ID: <first@shop.example.nl>\r\nArrival-Date:"
    )
    assert parse_mail(named).external_id == "first@shop.example.nl"
    delayed = BOUNCE.replace(b"Action: failed", b"Action: delayed").replace(b"5.1.1", b"4.4.1")
    event = parse_mail(delayed)
    assert event.status is None and event.metadata["dsn_action"] == "delayed"


def test_read_receipt_marks_the_mail_read() -> None:
    receipt = (
        b"From: jan@example.nl\r\nMessage-ID: <mdn-1@example.nl>\r\n"
        b"Content-Type: multipart/report; report-type=disposition-notification; boundary=B\r\n"
        b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nGelezen.\r\n"
        b"--B\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; jan@example.nl\r\n"
        b"Original-Message-ID: <out-1@shop.example.nl>\r\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--B--\r\n"
    )
    event = parse_mail(receipt)
    assert (event.type, event.external_id, event.status) == (
        EventType.STATUS,
        "out-1@shop.example.nl",
        DeliveryStatus.READ,
    )
    deleted = parse_mail(receipt.replace(b"displayed", b"deleted"))
    assert deleted.type is EventType.IGNORED and deleted.reason


def test_message_without_message_id_gets_a_stable_id(kit: Omnikit) -> None:
    raw = mail(From="jan@example.nl", Subject="Zonder id")
    expected = "sha256:" + hashlib.sha256(raw).hexdigest()
    assert parse_mail(raw).external_id == expected
    assert parse_mail(raw + b" ").external_id != expected
    kit.adapters.use("email", secret=SECRET)
    first = kit.receive("email", relay_signed(raw)).interactions
    again = kit.receive("email", relay_signed(raw)).interactions
    assert first == again and first[0].external_id == expected
    # written without angle brackets, a Message-ID is still the id
    assert parse_mail(mail(From="a@b.nl", Message_ID="bare-17@b.nl")).external_id == "bare-17@b.nl"


def test_dates_and_automatic_replies() -> None:
    missing = parse_mail(mail(From="a@b.nl"))
    assert missing.occurred_at is None
    assert parse_mail(mail(From="a@b.nl", Date="gisteren")).occurred_at is None
    unknown_zone = parse_mail(mail(From="a@b.nl", Date="Mon, 23 Nov 2026 10:00:00 -0000"))
    assert unknown_zone.occurred_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    vacation = parse_mail(mail(From="a@b.nl", Auto_Submitted="auto-replied"))
    assert vacation.metadata["auto_submitted"] == "auto-replied"


def test_raw_8bit_headers_and_unknown_charsets_are_read() -> None:
    raw = (
        "From: Zoë Jansen <zoe@example.nl>\r\nSubject: Bestelling ✓\r\n"
        "Message-ID: <8bit@example.nl>\r\n"
        "Content-Type: text/plain; charset=x-unknown\r\n\r\nDag Zoë"
    ).encode()
    event = parse_mail(raw)
    assert event.sender is not None and event.sender.name == "Zoë Jansen"
    assert (event.subject, event.text) == ("Bestelling ✓", "Dag Zoë")
    broken = raw.replace("Zoë Jansen".encode(), b"Zo\xeb Jansen").replace(b"\x00", b"")
    event = parse_mail(broken + b"\x00\xff")
    assert event.sender is not None and event.sender.name == "Zo\ufffd Jansen"
    assert event.text is not None and "\x00" not in event.text


def test_unreadable_mail_is_a_payload_error() -> None:
    adapter = EmailAdapter(secret=SECRET)
    for raw, reason in (
        (b"", "no From address"),
        (b"\x00\xff garbage", "no From address"),
        (mail(From="Jan"), "no From address"),
        (mail(From="jan@example.nl", Message_ID=f"<{'x' * 300}@x>"), "over 256"),
    ):
        with pytest.raises(PayloadError, match=reason):
            adapter.parse(relay_signed(raw))
    as_json = relay_signed(PLAIN).model_copy(update={"headers": {"content-type": "text/plain"}})
    with pytest.raises(PayloadError, match="'text/plain' is not message/rfc822"):
        adapter.parse(as_json)
    small = EmailAdapter(secret=SECRET, max_size=2048)
    with pytest.raises(PayloadError, match="over the 2,048 byte limit"):
        small.parse(relay_signed(PLAIN + b"x" * 2048))


# header text as mailers write it: no control characters or line separators (the
# stdlib writes a subject of "\n" as an empty line that ends the headers)
HEADER_TEXT = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(HEADER_TEXT, min_size=1, max_size=40),
    subject=st.text(HEADER_TEXT, max_size=80),
    text=st.text(max_size=300),
)
def test_text_subject_and_name_survive_the_round_trip(name: str, subject: str, text: str) -> None:
    written = EmailMessage(policy=policy.SMTP)
    try:
        written["From"] = Address(display_name=name, addr_spec="jan@example.nl")
        written["Subject"] = subject
        written["Message-ID"] = "<round@trip>"
        written.set_content(text, charset="utf-8")
        raw = written.as_bytes()
    except (ValueError, TypeError, IndexError):
        return  # not a message a mailer could write (a line break in a header)
    event = parse_mail(raw)
    assert event.external_id == "round@trip"
    assert event.sender is not None and event.sender.email == "jan@example.nl"
    # runs of white space may be folded into one; and the stdlib keeps the folding
    # space between two encoded words of a long display name (RFC 2047 drops it)
    assert "".join((event.sender.name or "").split()) == "".join(name.split())
    assert " ".join((event.subject or "").split()) == " ".join(subject.split())
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()
    if "\x00" not in text and all(c.isprintable() or c in "\n\r\t" for c in text):
        assert (event.text or "") == expected


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "From",
                    "To",
                    "Cc",
                    "Date",
                    "Message-ID",
                    "In-Reply-To",
                    "References",
                    "Subject",
                    "Content-Type",
                    "Content-Transfer-Encoding",
                    "Auto-Submitted",
                ]
            ),
            st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
        ),
        max_size=8,
    ),
    body=st.binary(max_size=300),
)
def test_any_header_soup_is_an_event_or_a_payload_error(
    headers: list[tuple[str, str]], body: bytes
) -> None:
    raw = b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "surrogateescape") for name, value in headers
    )
    try:
        event = parse_mail(raw + b"\r\n" + body)
    except PayloadError:
        return
    assert event.type in (EventType.MESSAGE, EventType.STATUS, EventType.IGNORED)


# verification and settings ------------------------------------------------------------------


def test_signature_window_and_missing_secret() -> None:
    adapter = EmailAdapter(secret=SECRET)
    adapter.verify(relay_signed(PLAIN, at=NOW - timedelta(minutes=4, seconds=59)))
    with pytest.raises(SignatureError, match="window"):
        adapter.verify(relay_signed(PLAIN, at=NOW - timedelta(minutes=5, seconds=1)))
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(relay_signed(PLAIN, secret="another-secret-0123456789"))
    with pytest.raises(SignatureError, match="no secret is configured"):
        EmailAdapter(sender=SENDER).verify(relay_signed(PLAIN))
    assert EmailAdapter(secret=SECRET).has_secret and not EmailAdapter().has_secret


def test_settings_are_checked() -> None:
    for settings_, reason in (
        ({"secret": "short"}, "at least 16"),
        ({"smtp_port": 0}, "smtp_port"),
        ({"smtp_host": "smtp://x"}, "smtp_host"),
        ({"smtp_username": "crm"}, "together"),
        ({"sender": "not an address"}, "sender"),
        ({"sender": "a@b.nl, c@d.nl"}, "sender"),
        ({"domain": "-bad-"}, "domain"),
        ({"tolerance": timedelta(0)}, "tolerance"),
        ({"max_size": 10}, "max_size"),
        ({"timeout": 0}, "timeout"),
    ):
        with pytest.raises(ValidationError, match=reason):
            EmailAdapter(**settings_)
    with Omnikit("sqlite:///:memory:") as kit:
        with pytest.raises(ValidationError, match="does not take these settings"):
            kit.adapters.use("email", smtp_server="x")
        adapter = kit.adapters.use("email", secret=SECRET)
        assert isinstance(adapter, EmailAdapter) and adapter.channel == "email"


# rendering and sending over SMTP ------------------------------------------------------------


def test_render_writes_a_threaded_plain_text_message() -> None:
    adapter = EmailAdapter(sender=SENDER, smtp_host="smtp.shop.example.nl", smtp_port=587)
    [payload] = adapter.render(
        OutboundMessage(
            to="Jan de Vries <jan@example.nl>",
            subject="Re: Waar blijft mijn bestelling 1001?",
            text="Hij wordt donderdag bezorgd. Groet, Anne \N{EN DASH} klantenservice",
            reply_to="CAKx7Pm1-q2bV0dZ@mail.example.nl",
            references=("<older@mail.example.nl>",),
            media=("https://shop.example.nl/track/1001",),
        )
    )
    assert (payload.method, payload.url) == ("SMTP", "smtp://smtp.shop.example.nl:587")
    message_id = payload.metadata["message_id"]
    assert isinstance(message_id, str) and message_id.endswith("@shop.example.nl")
    assert payload.metadata == {
        "message_id": message_id,
        "from": "service@shop.example.nl",
        "to": ["jan@example.nl"],
    }
    written = message_from_bytes(payload.body, policy=policy.default)
    assert written["From"] == SENDER and written["To"] == "Jan de Vries <jan@example.nl>"
    assert written["Message-ID"] == f"<{message_id}>"
    assert written["In-Reply-To"] == "<CAKx7Pm1-q2bV0dZ@mail.example.nl>"
    assert written["References"].split() == [
        "<older@mail.example.nl>",
        "<CAKx7Pm1-q2bV0dZ@mail.example.nl>",
    ]
    assert written["Date"].datetime.tzinfo is not None
    assert written.get_content_type() == "text/plain"
    assert written.get_content_charset() == "utf-8"
    assert written.get_content().replace("\r\n", "\n") == (
        "Hij wordt donderdag bezorgd. Groet, Anne \N{EN DASH} klantenservice\n\n"
        "https://shop.example.nl/track/1001\n"
    )
    assert b"\r\n" in payload.body and b"\n\n" not in payload.body.replace(b"\r\n", b"")


def test_render_writes_an_internationalised_domain_as_idna() -> None:
    adapter = EmailAdapter(sender="Bücherei <info@bücher.example>")
    [payload] = adapter.render(OutboundMessage(to="Zoë <zoe@straße.example>", text="x"))
    assert payload.metadata["from"] == "info@xn--bcher-kva.example"
    assert payload.metadata["to"] == ["zoe@xn--strae-oqa.example"]
    written = message_from_bytes(payload.body, policy=policy.default)
    assert written["To"] == "Zoë <zoe@xn--strae-oqa.example>"
    assert str(payload.metadata["message_id"]).endswith("@xn--bcher-kva.example")


def test_render_refuses_what_cannot_be_written() -> None:
    with pytest.raises(ValidationError, match="no sender is configured"):
        EmailAdapter().render(OutboundMessage(to="jan@example.nl", text="x"))
    adapter = EmailAdapter(sender=SENDER)
    for message, reason in (
        (OutboundMessage(to="jan", text="x"), "not one e-mail address"),
        (OutboundMessage(to="a@b.nl, c@d.nl", text="x"), "not one e-mail address"),
        (OutboundMessage(to="zoë@example.nl", text="x"), "non-ASCII local part"),
        (OutboundMessage(to="jan@example.nl\r\nBcc: x@y.nl", text="x"), "not an e-mail"),
        (OutboundMessage(to="jan@example.nl", subject="a\r\nBcc: x@y.nl"), "line break"),
        (OutboundMessage(to="jan@example.nl", subject="Uw bestelling\n"), "line break"),
        (OutboundMessage(to="jan@example.nl", reply_to="two words"), "not a Message-ID"),
    ):
        with pytest.raises(ValidationError, match=reason):
            adapter.render(message)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Collector:
    """An aiosmtpd handler that keeps what it receives, or answers ``refuse``."""

    def __init__(self, *, refuse_rcpt: str | None = None, refuse_data: str | None = None):
        self.envelopes: list[Envelope] = []
        self.refuse_rcpt = refuse_rcpt
        self.refuse_data = refuse_data

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        self.envelopes.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_server(handler: _Collector, **options: Any) -> Iterator[int]:
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def test_send_delivers_to_an_smtp_server() -> None:
    collector = _Collector()
    with smtp_server(collector) as port:
        adapter = EmailAdapter(sender=SENDER, smtp_host="127.0.0.1", smtp_port=port)
        message = OutboundMessage(
            to="jan@example.nl",
            subject="Uw bestelling 1001",
            text="Beste Jan,\n\nUw boormachine wordt donderdag bezorgd. Één dag later dan gepland.",
            reply_to="CAKx7Pm1-q2bV0dZ@mail.example.nl",
            references=("CAKx7Pm0-first@mail.example.nl",),
        )
        [payload] = adapter.render(message)
        result = adapter.send(payload, httpx.Client())
        second = asyncio.run(adapter.asend(adapter.render(message)[0], httpx.AsyncClient()))
    first, other = collector.envelopes
    assert first.mail_from == "service@shop.example.nl"
    assert first.rcpt_tos == ["jan@example.nl"]
    assert isinstance(first.original_content, bytes)
    received = message_from_bytes(first.original_content, policy=policy.default)
    assert received["From"] == SENDER
    assert received["To"] == "jan@example.nl"
    assert received["Subject"] == "Uw bestelling 1001"
    assert received["Message-ID"] == f"<{result.external_id}>"
    assert received["In-Reply-To"] == "<CAKx7Pm1-q2bV0dZ@mail.example.nl>"
    assert received["References"].split() == [  # folded after the colon: over 78 characters
        "<CAKx7Pm0-first@mail.example.nl>",
        "<CAKx7Pm1-q2bV0dZ@mail.example.nl>",
    ]
    assert received.get_content().replace("\r\n", "\n") == (
        "Beste Jan,\n\nUw boormachine wordt donderdag bezorgd. Één dag later dan gepland.\n"
    )
    assert result.external_id == payload.metadata["message_id"]
    assert result.status is DeliveryStatus.SENT
    assert second.external_id != result.external_id
    assert isinstance(other.original_content, bytes)
    assert f"<{second.external_id}>".encode() in other.original_content


def test_send_logs_in_when_configured() -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        logins.append((data.login, data.password))
        good = data.password == b"app-password-1"
        return AuthResult(success=good, handled=False)  # aiosmtpd answers 535 when not good

    collector = _Collector()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS
        server = smtp_server(collector, authenticator=authenticator, auth_require_tls=False)
        with server as port:
            good = EmailAdapter(
                sender=SENDER,
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_username="crm",
                smtp_password="app-password-1",
            )
            good.send(
                good.render(OutboundMessage(to="jan@example.nl", text="x"))[0], httpx.Client()
            )
            bad = EmailAdapter(
                sender=SENDER,
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_username="crm",
                smtp_password="wrong",
            )
            with pytest.raises(SendError) as caught:
                bad.send(
                    bad.render(OutboundMessage(to="jan@example.nl", text="x"))[0], httpx.Client()
                )
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up
    assert logins[0] == (b"crm", b"app-password-1")
    assert set(logins[1:]) == {(b"crm", b"wrong")}
    assert len(collector.envelopes) == 1
    assert caught.value.status == 535 and not caught.value.retryable


@pytest.mark.parametrize(
    ("handler", "status", "retryable"),
    [
        (_Collector(refuse_rcpt="550 5.1.1 No such user"), 550, False),
        (_Collector(refuse_rcpt="450 4.2.0 Mailbox busy"), 450, True),
        (_Collector(refuse_data="451 4.3.0 Try again later"), 451, True),
        (_Collector(refuse_data="554 5.7.1 Spam"), 554, False),
    ],
)
def test_send_failures_say_whether_to_retry(
    handler: _Collector, status: int, retryable: bool
) -> None:
    with smtp_server(handler) as port:
        adapter = EmailAdapter(sender=SENDER, smtp_host="127.0.0.1", smtp_port=port)
        with pytest.raises(SendError) as caught:
            adapter.send(
                adapter.render(OutboundMessage(to="jan@example.nl", text="x"))[0], httpx.Client()
            )
    assert (caught.value.status, caught.value.retryable) == (status, retryable)


def test_send_without_a_server_or_without_starttls() -> None:
    adapter = EmailAdapter(sender=SENDER, smtp_host="127.0.0.1", smtp_port=_free_port(), timeout=5)
    payload = adapter.render(OutboundMessage(to="jan@example.nl", text="x"))[0]
    with pytest.raises(SendError, match="cannot reach") as caught:
        adapter.send(payload, httpx.Client())
    assert caught.value.retryable
    with smtp_server(_Collector()) as port:
        plain_only = EmailAdapter(
            sender=SENDER, smtp_host="127.0.0.1", smtp_port=port, starttls=True
        )
        payload = plain_only.render(OutboundMessage(to="jan@example.nl", text="x"))[0]
        with pytest.raises(SendError, match="STARTTLS") as caught:
            plain_only.send(payload, httpx.Client())
    assert not caught.value.retryable


# Mailgun ------------------------------------------------------------------------------------

SIGNING_KEY = "0f9a3c5e7b1d2f4a6c8e0b2d4f6a8c0e-4b1d9c7e-5a3f2e1d"
API_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MAILGUN_URL = "https://crm.shop.example.nl/webhooks/mailgun"
BOUNDARY = "4d9c1b2a3e5f60718293a4b5c6d7e8f9"
TOKEN = "4b1d9c7e2f5a8d3c6e9b0a1f4d7c2e5b8a0f3d6c9e1b4a7d2c"  # 50 characters, as Mailgun's
SIGNED_FIELDS = ("timestamp", "token", "signature")


def mailgun_signature(timestamp: str, token: str, key: str = SIGNING_KEY) -> str:
    """Mailgun's documented scheme: hex HMAC-SHA256 of timestamp + token."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def _signed_fields(at: datetime, key: str) -> list[tuple[str, str]]:
    stamp = str(int(at.timestamp()))
    return [
        ("timestamp", stamp),
        ("token", TOKEN),
        ("signature", mailgun_signature(stamp, TOKEN, key)),
    ]


def _part(name: str, value: bytes, filename: str | None = None, kind: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n"
    if kind:
        head += f"Content-Type: {kind}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


Fields = list[tuple[str, str | bytes]]
Files = list[tuple[str, str, str, bytes]]


def multipart(fields: Fields, files: Files) -> bytes:
    """A multipart/form-data body as Mailgun posts it (fields, then files)."""
    parts = [_part(n, v if isinstance(v, bytes) else v.encode()) for n, v in fields]
    parts += [_part(name, data, filename, kind) for name, filename, kind, data in files]
    delimiter = f"--{BOUNDARY}\r\n".encode()
    return b"".join(delimiter + part for part in parts) + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FORM = "application/x-www-form-urlencoded"

PARSED_FIELDS = [
    ("recipient", "service@mg.shop.example.nl"),
    ("sender", "jan@example.nl"),
    ("subject", "Foto van de schade"),
    ("from", "Jan de Vries <jan@example.nl>"),
    ("X-Envelope-From", "<jan@example.nl>"),
    ("Message-Id", "<CAKx7Pm2-mailgun@mail.example.nl>"),
    ("Date", "Tue, 24 Nov 2026 10:00:00 +0100"),
    ("To", "service@mg.shop.example.nl"),
    ("body-plain", "De boormachine kwam beschadigd aan, zie de foto.\r\n\r\n-- \r\nJan"),
    ("stripped-text", "De boormachine kwam beschadigd aan, zie de foto."),
    ("stripped-signature", "Jan"),
    (
        "message-headers",
        json.dumps(
            [
                ["Received", "by mail.example.nl with SMTP id x7; Tue, 24 Nov 2026 01:00:00 -0800"],
                ["Mime-Version", "1.0"],
                ["From", "Jan de Vries <jan@example.nl>"],
                ["Date", "Tue, 24 Nov 2026 10:00:00 +0100"],
                ["Message-Id", "<CAKx7Pm2-mailgun@mail.example.nl>"],
                ["Subject", "Foto van de schade"],
                ["To", "service@mg.shop.example.nl"],
                ["Content-Type", f'multipart/mixed; boundary="{BOUNDARY}"'],
            ]
        ),
    ),
    ("attachment-count", "1"),
]
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//////////////////////////////////////////"
)

REPLY_FIELDS = [
    ("recipient", "service@mg.shop.example.nl"),
    ("sender", "jan@example.nl"),
    ("subject", "Re: Uw bestelling 1001"),
    ("from", "Jan de Vries <jan@example.nl>"),
    ("Message-Id", "<CAKx7Pm3-mailgun@mail.example.nl>"),
    ("In-Reply-To", "<a1b2c3d4-0000-4000-8000-000000000001@mg.shop.example.nl>"),
    ("References", "<a1b2c3d4-0000-4000-8000-000000000001@mg.shop.example.nl>"),
    ("To", "Klantenservice <service@mg.shop.example.nl>"),
    ("body-plain", "Donderdag is prima."),
    ("stripped-text", "Donderdag is prima."),
]


def mailgun_request(
    fields: Fields,
    *,
    files: Files | None = None,
    form: bool = False,
    at: datetime = NOW,
    key: str = SIGNING_KEY,
    url: str = MAILGUN_URL,
) -> InboundRequest:
    signed: Fields = [*fields, *_signed_fields(at, key)]
    if form:
        body, kind = urlencode(signed).encode(), FORM
    else:
        body, kind = multipart(signed, files or []), MULTIPART
    return InboundRequest(
        method="POST", url=url, headers={"Content-Type": kind}, body=body, received_at=NOW
    )


def _without_signature(request: InboundRequest) -> bytes:
    """The body with the timestamp, token and signature fields taken out."""
    kind = request.header("content-type") or ""
    if kind.startswith(FORM):
        pairs = parse_qsl(request.body.decode("latin-1"), keep_blank_values=True)
        return urlencode([(k, v) for k, v in pairs if k not in SIGNED_FIELDS]).encode()
    delimiter = f"--{BOUNDARY}".encode()
    chunks = request.body.split(delimiter)
    names = [f'name="{name}"'.encode() for name in SIGNED_FIELDS]
    kept = [c for c in chunks if not any(c.split(b"\r\n\r\n")[0].endswith(n) for n in names)]
    return delimiter.join(kept)


def mailgun_resigned(request: InboundRequest, key: str, at: datetime) -> InboundRequest:
    body = _without_signature(request)
    fresh = _signed_fields(at, key)
    kind = request.header("content-type") or ""
    if kind.startswith(FORM):
        body = body + b"&" + urlencode(fresh).encode()
    else:
        closing = f"--{BOUNDARY}--".encode()
        added = b"".join(f"--{BOUNDARY}\r\n".encode() + _part(n, v.encode()) for n, v in fresh)
        body = body.replace(closing, added + closing) if closing in body else body + added
    return InboundRequest(**{**request.model_dump(), "body": body})


class TestMailgunConformance(AdapterConformance):
    secret = SIGNING_KEY
    signs_body = False  # Mailgun signs timestamp + token, not the message

    @pytest.fixture
    def adapter(self) -> MailgunAdapter:
        return MailgunAdapter(
            signing_key=SIGNING_KEY, api_key=API_KEY, domain="mg.shop.example.nl", sender=SENDER
        )

    @pytest.fixture
    def requests(self) -> list[InboundRequest]:
        return [
            mailgun_request(
                PARSED_FIELDS, files=[("attachment-1", "schade.jpg", "image/jpeg", JPEG)]
            ),
            mailgun_request(REPLY_FIELDS, form=True),
            mailgun_request(
                [
                    ("recipient", "service@mg.shop.example.nl"),
                    ("sender", "jan@example.nl"),
                    ("from", "Jan de Vries <JAN@Example.NL>"),
                    ("subject", "Waar blijft mijn bestelling 1001?"),
                    ("body-mime", PLAIN),
                ],
                url=MAILGUN_URL + "_mime",
            ),
            mailgun_request([("body-mime", BOUNCE)], url=MAILGUN_URL + "_mime"),
        ]

    def sign(self, request: InboundRequest, secret: str, at: datetime) -> InboundRequest:
        return mailgun_resigned(request, secret, at)

    def unsigned(self, request: InboundRequest) -> InboundRequest:
        return InboundRequest(**{**request.model_dump(), "body": _without_signature(request)})

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return OutboundMessage(to="jan@example.nl", subject="Uw bestelling 1001", text="Hallo Jan")

    @pytest.fixture
    def send_response(self) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "id": "<20261123140000.1.ABCDEF@mg.shop.example.nl>",
                "message": "Queued. Thank you.",
            },
        )


def test_mailgun_parsed_fields_become_the_same_message_as_raw_mail(kit: Omnikit) -> None:
    kit.adapters.use("mailgun", signing_key=SIGNING_KEY)
    jan = kit.customers.identify(email="jan@example.nl")
    request = mailgun_request(
        PARSED_FIELDS, files=[("attachment-1", "schade.jpg", "image/jpeg", JPEG)]
    )
    [interaction] = kit.receive("mailgun", request).interactions
    assert interaction.customer_id == jan.id
    assert (interaction.channel, interaction.kind, interaction.external_id) == (
        "email",
        "email",
        "CAKx7Pm2-mailgun@mail.example.nl",
    )
    assert interaction.subject == "Foto van de schade"
    assert interaction.text == "De boormachine kwam beschadigd aan, zie de foto.\n\n-- \nJan"
    assert interaction.occurred_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert interaction.attachments == (
        Attachment(name="schade.jpg", content_type="image/jpeg", size=len(JPEG)),
    )
    assert interaction.metadata == {"to": ["service@mg.shop.example.nl"]}


def test_mailgun_reply_as_a_form_carries_its_thread() -> None:
    adapter = MailgunAdapter(signing_key=SIGNING_KEY)
    [event] = adapter.parse(mailgun_request(REPLY_FIELDS, form=True))
    assert event.external_id == "CAKx7Pm3-mailgun@mail.example.nl"
    assert event.metadata == {
        "in_reply_to": "a1b2c3d4-0000-4000-8000-000000000001@mg.shop.example.nl",
        "references": ["a1b2c3d4-0000-4000-8000-000000000001@mg.shop.example.nl"],
        "to": ["service@mg.shop.example.nl"],
    }
    assert event.occurred_at is None  # no Date header or field


def test_mailgun_headers_come_from_message_headers_first() -> None:
    adapter = MailgunAdapter(signing_key=SIGNING_KEY)
    listed = [
        ["From", "=?utf-8?q?Zo=C3=AB?= <zoe@example.nl>"],
        ["Message-Id", "<listed@example.nl>"],
        ["References", "<a@example.nl>\r\n <b@example.nl>"],
        ["Auto-Submitted", "auto-replied"],
    ]
    fields: Fields = [
        ("from", "someone-else@example.nl"),
        ("Message-Id", "<field@example.nl>"),
        ("message-headers", json.dumps(listed)),
        ("body-plain", "Ik ben afwezig."),
    ]
    [event] = adapter.parse(mailgun_request(fields, form=True))
    assert event.sender is not None
    assert (event.sender.email, event.sender.name) == ("zoe@example.nl", "Zoë")
    assert event.external_id == "listed@example.nl"
    assert event.metadata == {
        "references": ["a@example.nl", "b@example.nl"],
        "auto_submitted": "auto-replied",
    }
    # without a From header or field: the envelope sender
    [event] = adapter.parse(mailgun_request([("sender", "bounce@example.nl")], form=True))
    assert event.sender is not None and event.sender.email == "bounce@example.nl"
    assert event.external_id is not None and event.external_id.startswith("sha256:")


def test_mailgun_raw_mime_reads_like_the_email_adapter() -> None:
    adapter = MailgunAdapter(signing_key=SIGNING_KEY)
    for raw in (PLAIN, HTML_LATIN1, WITH_ATTACHMENT, BOUNCE):
        for form in (False, True):
            [event] = adapter.parse(mailgun_request([("body-mime", raw)], form=form))
            assert event == parse_mail(raw)


def test_mailgun_signature_rules() -> None:
    adapter = MailgunAdapter(signing_key=SIGNING_KEY)
    adapter.verify(mailgun_request(REPLY_FIELDS, at=NOW + timedelta(minutes=4, seconds=59)))
    for request, reason in (
        (mailgun_request(REPLY_FIELDS, at=NOW - timedelta(minutes=5, seconds=1)), "window"),
        (mailgun_request(REPLY_FIELDS, key="another-key"), "does not match"),
        (
            InboundRequest(
                method="POST",
                url=MAILGUN_URL,
                headers={"content-type": FORM},
                body=urlencode(REPLY_FIELDS).encode(),
            ),
            "are required",
        ),
    ):
        with pytest.raises(SignatureError, match=reason):
            adapter.verify(request)
    with pytest.raises(SignatureError, match="no signing_key"):
        MailgunAdapter().verify(mailgun_request(REPLY_FIELDS))
    with pytest.raises(PayloadError, match="'application/json' is neither"):
        adapter.verify(
            InboundRequest(
                method="POST",
                url=MAILGUN_URL,
                headers={"content-type": "application/json"},
                body=b"{}",
            )
        )


def test_mailgun_bad_fields_are_payload_errors() -> None:
    adapter = MailgunAdapter(signing_key=SIGNING_KEY)
    for fields, reason in (
        ([("subject", "no sender")], "no From address"),
        ([("from", "a@b.nl"), ("message-headers", "[[")], "not valid JSON"),
        ([("from", "a@b.nl"), ("message-headers", '{"From": "x"}')], "list of \\[name, value\\]"),
    ):
        with pytest.raises(PayloadError, match=reason):
            adapter.parse(mailgun_request(fields, form=True))
    report = [
        ("from", "MAILER-DAEMON@mg.example.nl"),
        (
            "message-headers",
            json.dumps([["Content-Type", "multipart/report; report-type=delivery-status"]]),
        ),
    ]
    [ignored] = adapter.parse(mailgun_request(report, form=True))
    assert ignored.type is EventType.IGNORED and "mime" in (ignored.reason or "")


def test_mailgun_render_and_send_the_exact_request() -> None:
    adapter = MailgunAdapter(
        api_key=API_KEY,
        domain="mg.shop.example.nl",
        sender=SENDER,
        api_base="https://api.eu.mailgun.net/",
    )
    [payload] = adapter.render(
        OutboundMessage(
            to="jan@example.nl",
            subject="Re: Uw bestelling 1001",
            text="Donderdag komt hij. Één dag later.",
            reply_to="CAKx7Pm3-mailgun@mail.example.nl",
        )
    )
    message_id = payload.metadata["message_id"]
    assert isinstance(message_id, str) and message_id.endswith("@mg.shop.example.nl")
    seen: list[httpx.Request] = []

    def mailgun(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": f"<{message_id}>", "message": "Queued. Thank you."})

    with httpx.Client(transport=httpx.MockTransport(mailgun)) as client:
        result = adapter.send(payload, client)
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.eu.mailgun.net/v3/mg.shop.example.nl/messages"
    expected_auth = base64.b64encode(f"api:{API_KEY}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(request.content.decode(), keep_blank_values=True) == [
        ("from", SENDER),
        ("to", "jan@example.nl"),
        ("subject", "Re: Uw bestelling 1001"),
        ("text", "Donderdag komt hij. Één dag later."),
        ("h:In-Reply-To", "<CAKx7Pm3-mailgun@mail.example.nl>"),
        ("h:References", "<CAKx7Pm3-mailgun@mail.example.nl>"),
        ("h:Message-Id", f"<{message_id}>"),
    ]
    assert result.external_id == message_id and result.http_status == 200


def test_mailgun_render_needs_its_settings() -> None:
    with pytest.raises(ValidationError, match="api_key, domain and sender"):
        MailgunAdapter(signing_key=SIGNING_KEY).render(OutboundMessage(to="jan@example.nl"))
    configured = MailgunAdapter(api_key=API_KEY, domain="mg.shop.example.nl", sender=SENDER)
    with pytest.raises(ValidationError, match="line break"):
        configured.render(OutboundMessage(to="jan@example.nl", subject="a\u2028b"))
    for settings_, reason in (
        ({"api_base": "ftp://x"}, "api_base"),
        ({"domain": "not a domain"}, "domain"),
        ({"signing_key": ""}, "signing_key"),
    ):
        with pytest.raises(ValidationError, match=reason):
            MailgunAdapter(**settings_)


# HTML, idempotency keys and undeliverable addresses -----------------------------------------

HTML = (
    "<html><body><h1>Uw bestelling 1001</h1>"
    "<p>Hij wordt <b>donderdag</b> bezorgd. &Eacute;&eacute;n dag later.</p></body></html>"
)


def _parts(raw: bytes) -> tuple[EmailMessage, dict[str, str]]:
    """The message and its alternatives by content type, decoded."""
    written = message_from_bytes(raw, policy=policy.default)
    assert isinstance(written, EmailMessage)
    parts = {}
    for part in written.iter_parts():
        assert isinstance(part, EmailMessage)
        parts[part.get_content_type()] = part.get_content().replace("\r\n", "\n")
    return written, parts


def test_html_is_sent_as_the_alternative_to_the_text() -> None:
    adapter = EmailAdapter(sender=SENDER)
    [payload] = adapter.render(
        OutboundMessage(
            to="jan@example.nl",
            subject="Uw bestelling 1001",
            text="Hij wordt donderdag bezorgd. Één dag later.",
            html=HTML,
            media=("https://shop.example.nl/track/1001",),
        )
    )
    written, parts = _parts(payload.body)
    assert written.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in written.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in written.iter_parts())
    assert parts["text/plain"] == (
        "Hij wordt donderdag bezorgd. Één dag later.\n\nhttps://shop.example.nl/track/1001\n"
    )
    assert parts["text/html"].rstrip("\n") == HTML.replace(
        "</body>",
        '<p><a href="https://shop.example.nl/track/1001">'
        "https://shop.example.nl/track/1001</a></p></body>",
    )
    assert written["Subject"] == "Uw bestelling 1001"
    # and omnikit reads its own message back as the text
    event = parse_mail(payload.body)
    assert (
        event.text
        == "Hij wordt donderdag bezorgd. Één dag later.\n\nhttps://shop.example.nl/track/1001"
    )


def test_html_without_text_gets_a_text_part_made_from_it() -> None:
    [payload] = EmailAdapter(sender=SENDER).render(OutboundMessage(to="jan@example.nl", html=HTML))
    written, parts = _parts(payload.body)
    assert written.get_content_type() == "multipart/alternative"
    assert parts["text/plain"].strip() == (
        "Uw bestelling 1001\n\nHij wordt donderdag bezorgd. Één dag later."
    )
    assert parts["text/html"].rstrip("\n") == HTML


def test_the_message_id_is_the_idempotency_key_at_the_domain() -> None:
    adapter = EmailAdapter(sender=SENDER, domain="mail.shop.example.nl")
    message = OutboundMessage(to="jan@example.nl", text="x", idempotency_key="outbox-7f3a_2+b")
    first, second = adapter.render(message)[0], adapter.render(message)[0]
    assert first.metadata["message_id"] == "outbox-7f3a_2+b@mail.shop.example.nl"
    assert second.metadata["message_id"] == first.metadata["message_id"]
    for payload in (first, second):
        written = message_from_bytes(payload.body, policy=policy.default)
        assert written["Message-ID"] == "<outbox-7f3a_2+b@mail.shop.example.nl>"
    other = adapter.render(message.model_copy(update={"idempotency_key": "outbox-7f3b"}))[0]
    assert other.metadata["message_id"] == "outbox-7f3b@mail.shop.example.nl"
    unkeyed = OutboundMessage(to="jan@example.nl", text="x")
    assert (
        adapter.render(unkeyed)[0].metadata["message_id"]
        != (adapter.render(unkeyed)[0].metadata["message_id"])
    )


def test_key_characters_a_message_id_cannot_hold_are_written_as_hex() -> None:
    adapter = EmailAdapter(sender=SENDER)
    [payload] = adapter.render(
        OutboundMessage(to="jan@example.nl", text="x", idempotency_key="case:42/mail.1=<a>")
    )
    expected = "case=3A42=2Fmail=2E1=3D=3Ca=3E@shop.example.nl"
    assert payload.metadata["message_id"] == expected
    assert message_from_bytes(payload.body, policy=policy.default)["Message-ID"] == f"<{expected}>"
    # a reply quoting it threads back: omnikit reads the same id
    reply = mail(From="jan@example.nl", Message_ID="<r1@example.nl>", In_Reply_To=f"<{expected}>")
    assert parse_mail(reply).metadata["in_reply_to"] == expected


_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"


@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60))
@settings(max_examples=200)
def test_every_key_gives_a_valid_message_id_of_its_own(key: str) -> None:
    adapter = EmailAdapter(sender=SENDER)
    message = OutboundMessage(to="jan@example.nl", text="x", idempotency_key=key)
    message_id = str(adapter.render(message)[0].metadata["message_id"])
    left, _, domain = message_id.rpartition("@")
    assert re.fullmatch(_DOT_ATOM, left) and domain == "shop.example.nl"
    # the key can be read back from the id, so different keys never share one
    assert re.sub("=([0-9A-F]{2})", lambda hex_: chr(int(hex_.group(1), 16)), left) == key


def test_smtp_delivers_html_with_a_stable_message_id() -> None:
    collector = _Collector()
    with smtp_server(collector) as port:
        adapter = EmailAdapter(sender=SENDER, smtp_host="127.0.0.1", smtp_port=port)
        message = OutboundMessage(
            to="jan@example.nl",
            subject="Uw bestelling 1001",
            text="Hij wordt donderdag bezorgd.",
            html="<p>Hij wordt <b>donderdag</b> bezorgd.</p>",
            idempotency_key="outbox-1001-email",
        )
        first = adapter.send(adapter.render(message)[0], httpx.Client())
        # the outbox renders again for a retry: the same Message-ID goes out
        second = asyncio.run(adapter.asend(adapter.render(message)[0], httpx.AsyncClient()))
    assert first.external_id == second.external_id == "outbox-1001-email@shop.example.nl"
    assert len(collector.envelopes) == 2
    for envelope in collector.envelopes:
        assert envelope.rcpt_tos == ["jan@example.nl"]
        assert isinstance(envelope.original_content, bytes)
        received, parts = _parts(envelope.original_content)
        assert received["Message-ID"] == "<outbox-1001-email@shop.example.nl>"
        assert received.get_content_type() == "multipart/alternative"
        assert parts == {
            "text/plain": "Hij wordt donderdag bezorgd.\n",
            "text/html": "<p>Hij wordt <b>donderdag</b> bezorgd.</p>\n",
        }


@pytest.mark.parametrize(
    ("handler", "status", "undeliverable", "retryable"),
    [
        (
            _Collector(refuse_rcpt="550 5.1.1 <jan@example.nl>: Recipient address rejected"),
            550,
            True,
            False,
        ),
        (_Collector(refuse_rcpt="550 5.2.1 Mailbox disabled"), 550, True, False),
        (
            _Collector(refuse_rcpt="550 Requested action not taken: mailbox unavailable"),
            550,
            True,
            False,
        ),
        (
            _Collector(refuse_rcpt="553 Requested action not taken: mailbox name not allowed"),
            553,
            True,
            False,
        ),
        (_Collector(refuse_rcpt="550 5.7.1 Relaying denied"), 550, False, False),
        (_Collector(refuse_rcpt="552 5.2.2 Mailbox full"), 552, False, False),
        (_Collector(refuse_rcpt="450 4.2.0 Mailbox busy"), 450, False, True),
        (_Collector(refuse_data="550 5.1.1 User unknown"), 550, True, False),
        (_Collector(refuse_data="550 Message rejected"), 550, False, False),
        (_Collector(refuse_data="554 5.7.1 Spam"), 554, False, False),
    ],
)
def test_an_address_that_cannot_receive_is_undeliverable(
    handler: _Collector, status: int, undeliverable: bool, retryable: bool
) -> None:
    with smtp_server(handler) as port:
        adapter = EmailAdapter(sender=SENDER, smtp_host="127.0.0.1", smtp_port=port)
        with pytest.raises(SendError) as caught:
            adapter.send(
                adapter.render(OutboundMessage(to="jan@example.nl", text="x"))[0], httpx.Client()
            )
    error = caught.value
    assert (error.status, error.undeliverable, error.retryable) == (
        status,
        undeliverable,
        retryable,
    )
    assert str(status) in str(error)


def test_mailgun_sends_html_and_a_message_id_from_the_key() -> None:
    adapter = MailgunAdapter(api_key=API_KEY, domain="mg.shop.example.nl", sender=SENDER)
    message = OutboundMessage(
        to="jan@example.nl",
        subject="Uw bestelling 1001",
        text="Donderdag komt hij.",
        html="<p>Donderdag komt hij.</p>",
        idempotency_key="outbox-1001-email",
    )
    first, second = adapter.render(message)[0], adapter.render(message)[0]
    assert first.body == second.body
    assert parse_qsl(first.body.decode()) == [
        ("from", SENDER),
        ("to", "jan@example.nl"),
        ("subject", "Uw bestelling 1001"),
        ("text", "Donderdag komt hij."),
        ("html", "<p>Donderdag komt hij.</p>"),
        ("h:Message-Id", "<outbox-1001-email@mg.shop.example.nl>"),
    ]
    assert first.metadata["message_id"] == "outbox-1001-email@mg.shop.example.nl"
    assert "idempotency" not in {name.lower() for name in first.headers}


def test_mailgun_rate_limit_passes_on_its_retry_after() -> None:
    adapter = MailgunAdapter(api_key=API_KEY, domain="mg.shop.example.nl", sender=SENDER)
    [payload] = adapter.render(OutboundMessage(to="jan@example.nl", text="x"))
    answer = httpx.Response(
        429, headers={"Retry-After": "15"}, json={"message": "Too many requests"}
    )
    with (
        httpx.Client(transport=httpx.MockTransport(lambda _: answer)) as client,
        pytest.raises(SendError) as caught,
    ):
        adapter.send(payload, client)
    assert (caught.value.retryable, caught.value.retry_after) == (True, 15.0)
    assert not caught.value.undeliverable
