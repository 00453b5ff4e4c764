"""E-mail: raw RFC 5322 messages in, SMTP out (``email``); Mailgun routes (``mailgun``).

Both adapters read an e-mail the same way (``parse_mail``): the Message-ID is the
provider id (without angle brackets), the From address identifies the customer, the
text/plain part (or the text of the HTML part) is the text, attachments are listed
without their content, and ``in_reply_to``/``references`` in the metadata let
continuity join a reply to the case of the message it answers. A delivery status
notification (a bounce) becomes a ``failed`` status of the message it returns.

Raw mail carries no provider signature, so whatever hands it to omnikit (a mail
relay's HTTP hook, ``omnikit.smtp.SmtpReceiver``) signs it exactly as the generic
webhook is signed (``omnikit.adapters.webhook.sign``). See ``docs/providers/email.md``.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import html
import json
import re
import smtplib
import ssl
import string
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, format_datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from email_validator import EmailNotValidError, validate_email

from omnikit._validate import MAX_TEXT_BYTES
from omnikit.adapters.base import (
    BaseAdapter,
    Capabilities,
    EventType,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    OutboundPayload,
    Sender,
    SendResult,
    hmac_digest,
    signatures_match,
)
from omnikit.adapters.webhook import WebhookAdapter, sign
from omnikit.errors import OmnikitError, PayloadError, SendError, SignatureError, ValidationError
from omnikit.model import Attachment, DeliveryStatus

__all__ = ["EmailAdapter", "MailgunAdapter", "parse_mail"]

MAX_MAIL = 10 * 1024 * 1024
"""The largest message the e-mail adapters read by default (10 MiB)."""

_IDS = re.compile(r"<([^<>\s]+)>")
_DOMAIN = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_MAX_IDS = 50  # references kept: the nearest ones, which continuity tries first
_MAX_PARTS = 100
_MAX_DEPTH = 20


# reading an e-mail ------------------------------------------------------------------------


def parse_mail(raw: bytes, *, channel: str = "email", adapter: str = "email") -> InboundEvent:
    """The event one raw RFC 5322 message carries.

    A message is a ``MESSAGE`` event; a delivery status notification is a ``STATUS``
    event for the message it returns (``failed``, or ``delivered``), a read receipt a
    ``read`` status; a report that names no message it could be about is ``IGNORED``.
    Raises ``PayloadError`` (naming ``adapter``) for a message without a From address
    or one the parser cannot read.
    """
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        if not isinstance(message, EmailMessage):  # always one with policy.default
            raise PayloadError("the message cannot be read")
        report = _report(message, channel)
        if report is not None:
            return report
        return _message(message, raw, channel)
    except PayloadError as error:
        raise PayloadError(f"{adapter}: {error}") from None
    except OmnikitError as error:
        raise PayloadError(f"{adapter}: message cannot be recorded: {error}") from None
    except Exception as error:
        # The stdlib's lenient parser still raises assorted errors (IndexError,
        # AttributeError, ValueError, RecursionError…) on hostile headers and nesting.
        raise PayloadError(f"{adapter}: message cannot be read ({type(error).__name__})") from None


def _message(message: EmailMessage, raw: bytes, channel: str) -> InboundEvent:
    header = message.get
    body = message.get_body(preferencelist=("plain", "html"))
    text: str | None = None
    if isinstance(body, Message) and not body.is_multipart():
        text = _decoded(body)
        if body.get_content_subtype() == "html":
            text = _html_text(text)
    attachments = _attachments(message, body)
    return _event(
        header,
        channel=channel,
        text=text,
        attachments=attachments,
        fallback_id="sha256:" + hashlib.sha256(raw).hexdigest(),
    )


def _event(
    header: Callable[[str], Any],
    *,
    channel: str,
    text: str | None,
    attachments: list[Attachment],
    fallback_id: str,
) -> InboundEvent:
    """A ``MESSAGE`` event from an e-mail's headers (``header(name)`` gives the parsed
    header or None), its text and its attachments."""
    sender = _sender(header("From"))
    if sender is None:
        raise PayloadError("the message has no From address")
    ids = _ids(header("Message-ID"))
    external_id = ids[0] if ids else _bare_id(header("Message-ID")) or fallback_id
    if len(external_id) > 256:
        raise PayloadError(f"Message-ID {external_id[:40]!r}… is over 256 characters")
    metadata: dict[str, Any] = {}
    in_reply_to = _ids(header("In-Reply-To"))
    if in_reply_to:
        metadata["in_reply_to"] = in_reply_to[0]
    references = _ids(header("References"))
    if references:
        metadata["references"] = references[-_MAX_IDS:]
    for key in ("To", "Cc"):
        addresses = _addresses(header(key))
        if addresses:
            metadata[key.lower()] = addresses[:_MAX_IDS]
    auto = header("Auto-Submitted")
    if auto is not None and _clean(str(auto)).strip().lower() not in ("", "no"):
        metadata["auto_submitted"] = _clean(str(auto)).strip()[:100]
    if text is not None:
        text = _clean(text).replace("\r\n", "\n").replace("\r", "\n").strip()
        encoded = text.encode()
        if len(encoded) > MAX_TEXT_BYTES:
            text = encoded[: MAX_TEXT_BYTES - 4].decode("utf-8", "ignore")
            metadata["text_truncated"] = True
    subject = header("Subject")
    subject_text = _clean(str(subject)).strip()[:1000] if subject is not None else ""
    return InboundEvent(
        type=EventType.MESSAGE,
        channel=channel,
        external_id=external_id,
        occurred_at=_date(header("Date")),
        sender=sender,
        kind="email",
        text=text or None,
        subject=subject_text or None,
        attachments=tuple(attachments),
        metadata=metadata,
    )


def _report(message: EmailMessage, channel: str) -> InboundEvent | None:
    """A delivery status notification or read receipt as an event; None for a message."""
    if message.get_content_type() != "multipart/report":
        return None
    kind = _param(message, "report-type").lower()
    parts = list(_walk(message))
    if kind == "delivery-status":
        blocks = [
            block
            for part in parts
            if part.get_content_type() == "message/delivery-status"
            for block in _blocks(part)
        ]
        return _bounce(blocks, parts, channel)
    if kind == "disposition-notification":
        fields = [
            block
            for part in parts
            if part.get_content_type() == "message/disposition-notification"
            for block in _blocks(part)
        ]
        original = _original_id(fields, parts)
        disposition = " ".join(_field(block, "Disposition") for block in fields).lower()
        if original is None or "displayed" not in disposition:
            return InboundEvent(
                type=EventType.IGNORED,
                channel=channel,
                reason="read receipt that names no message or does not say it was displayed",
            )
        return InboundEvent(
            type=EventType.STATUS,
            channel=channel,
            external_id=original,
            status=DeliveryStatus.READ,
            occurred_at=_date(message.get("Date")),
        )
    return None


def _bounce(blocks: list[Message], parts: list[Message], channel: str) -> InboundEvent:
    """The status a delivery status notification reports about the message it returns.

    Any recipient ``failed``: failed (its details in the metadata); otherwise any
    ``delivered``: delivered; a ``delayed`` or ``relayed`` report only adds its details.
    """
    original = _original_id(blocks, parts)
    if original is None:
        return InboundEvent(
            type=EventType.IGNORED,
            channel=channel,
            reason="delivery status notification without the original Message-ID",
        )
    recipients = [b for b in blocks if _field(b, "Action") or _field(b, "Final-Recipient")]
    actions = [_field(b, "Action").lower() for b in recipients]
    status: DeliveryStatus | None = None
    chosen = recipients[0] if recipients else None
    if "failed" in actions:
        status = DeliveryStatus.FAILED
        chosen = recipients[actions.index("failed")]
    elif "delivered" in actions:
        status = DeliveryStatus.DELIVERED
        chosen = recipients[actions.index("delivered")]
    metadata: dict[str, Any] = {}
    if chosen is not None:
        for key, name in (
            ("dsn_action", "Action"),
            ("dsn_status", "Status"),
            ("dsn_diagnostic_code", "Diagnostic-Code"),
            ("dsn_recipient", "Final-Recipient"),
        ):
            value = _field(chosen, name)
            if value:
                metadata[key] = value[:500]
    return InboundEvent(
        type=EventType.STATUS,
        channel=channel,
        external_id=original,
        status=status,
        metadata=metadata,
    )


def _original_id(blocks: list[Message], parts: list[Message]) -> str | None:
    """The Message-ID of the message a report is about: its Original-Message-ID field,
    else the Message-ID of the returned message or of its returned headers."""
    for block in blocks:
        for name in ("Original-Message-ID", "X-Original-Message-ID"):
            ids = _IDS.findall(_field(block, name))
            if ids:
                return _checked_id(ids[0])
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload(0) if part.is_multipart() else None
            value = inner.get("Message-ID") if isinstance(inner, Message) else None
        elif kind == "text/rfc822-headers":
            content = part.get_payload(decode=True)
            headers = BytesParser(policy=policy.default).parsebytes(
                content if isinstance(content, bytes) else b"", headersonly=True
            )
            value = headers.get("Message-ID")
        else:
            continue
        ids = _ids(value)
        if ids:
            return _checked_id(ids[0])
    return None


def _checked_id(value: str) -> str | None:
    return value if len(value) <= 256 else None


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a ``message/delivery-status`` or ``…/disposition-notification``
    part (the parser reads each block as a header-only message)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    return []


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return "" if value is None else " ".join(_clean(str(value)).split())


def _param(message: Message, name: str) -> str:
    value = message.get_param(name)
    if value is None or isinstance(value, str):
        return value or ""
    return collapse_rfc2231_value(value)


def _walk(part: Message, depth: int = 0) -> Iterator[Message]:
    """Every part of a message, depth-first, to a bounded depth."""
    yield part
    if depth >= _MAX_DEPTH or not part.is_multipart():
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload[:_MAX_PARTS]:
            if isinstance(sub, Message):
                yield from _walk(sub, depth + 1)


def _attachments(message: Message, body: object) -> list[Attachment]:
    """Every part that is not the text read as the message: files, pictures, and
    attached messages (listed as one attachment, not opened)."""
    found: list[Attachment] = []
    pending: list[tuple[Message, int]] = [(message, 0)]
    while pending and len(found) < _MAX_PARTS:
        part, depth = pending.pop(0)
        if part is body:
            continue
        maintype = part.get_content_maintype()
        if maintype == "multipart":
            payload = part.get_payload()
            if depth < _MAX_DEPTH and isinstance(payload, list):
                subs = payload[:_MAX_PARTS]
                pending.extend((sub, depth + 1) for sub in subs if isinstance(sub, Message))
            continue
        filename = part.get_filename()
        attached = isinstance(part, EmailMessage) and part.is_attachment()
        if maintype == "text" and not filename and not attached:
            continue  # an alternative rendering of the text, a footer
        size: int | None = None
        if maintype != "message":
            content = part.get_payload(decode=True)
            size = len(content) if isinstance(content, bytes) else None
        name = _clean(filename or "").replace("/", "_").replace("\\", "_").strip()
        found.append(
            Attachment(
                name=name[:255] or f"attachment-{len(found) + 1}",
                content_type=part.get_content_type(),
                size=size,
            )
        )
    return found


def _decoded(part: Message) -> str:
    """A text part's content in its charset; undecodable bytes replaced."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    # As browsers do (WHATWG Encoding): 8-bit text labelled ASCII is UTF-8 more often
    # than not, and text labelled Latin-1 is written in its superset windows-1252.
    charset = _CHARSETS.get(charset, charset)
    try:
        return payload.decode(codecs.lookup(charset).name, errors="replace")
    except (LookupError, UnicodeError):
        return payload.decode("utf-8", errors="replace")


_CHARSETS = {
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
}


class _HtmlText(HTMLParser):
    _BLOCKS = re.compile(
        r"address|article|blockquote|br|d[dilt]|footer|h[1-6r]|header|li|ol|p|pre|section"
        r"|table|t[dhr]|ul"
    )
    _HIDDEN = frozenset(("script", "style", "title", "template"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif self._BLOCKS.fullmatch(tag):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif self._BLOCKS.fullmatch(tag):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    """The text of an HTML document: tags dropped, entities decoded, one line per
    block, runs of blank lines collapsed."""
    reader = _HtmlText()
    try:
        reader.feed(html)
        reader.close()
        text = "".join(reader.parts)
    except Exception:
        # HTMLParser gives up on some malformed declarations; strip tags crudely then.
        text = re.sub(r"<[^>]*>", " ", html)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _sender(value: object) -> Sender | None:
    for address in getattr(value, "addresses", ()):
        if isinstance(address, Address) and address.username and address.domain:
            name = _clean(address.display_name or "").strip()[:200]
            return Sender(email=_clean(address.addr_spec), name=name or None)
    return None


def _addresses(value: object) -> list[str]:
    return [
        _clean(address.addr_spec)
        for address in getattr(value, "addresses", ())
        if isinstance(address, Address) and address.username and address.domain
    ]


def _ids(value: object) -> list[str]:
    """The message ids in a Message-ID, In-Reply-To or References header, without
    their angle brackets."""
    if value is None:
        return []
    return [i for i in _IDS.findall(_clean(str(value))) if i.isprintable() and len(i) <= 256]


def _bare_id(value: object) -> str | None:
    """A Message-ID written without angle brackets, as some mailers do."""
    if value is None:
        return None
    text = _clean(str(value)).strip()
    return text if text and text.isprintable() and not any(c.isspace() for c in text) else None


def _date(value: object) -> datetime | None:
    when = getattr(value, "datetime", None)
    if not isinstance(when, datetime):
        return None
    try:
        # RFC 5322: -0000 is UTC with no local zone; the parser gives it without one
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _clean(value: str) -> str:
    """Text as it can be stored: raw 8-bit header bytes read as UTF-8, no NUL."""
    try:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\x00", "")


def _content_type(request: InboundRequest) -> str:
    return (request.header("content-type") or "").split(";")[0].strip().lower()


# writing an e-mail ------------------------------------------------------------------------


def _mailbox(value: object, what: str, adapter: str) -> Address:
    """One address as ``jan@example.nl`` or ``Jan <jan@example.nl>``, checked with
    email-validator, its domain in ASCII (an internationalised domain as IDNA 2008)."""
    if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
        raise ValidationError(f"{adapter}: {what} {value!r} is not an e-mail address")
    try:
        header = policy.default.header_factory("To", value)
        addresses = [a for a in getattr(header, "addresses", ()) if a.username and a.domain]
        defects = header.defects
    except Exception:  # the header parser's assorted errors, as in parse_mail
        addresses, defects = [], ()
    if len(addresses) == 1 and not addresses[0].username.isascii():
        raise ValidationError(
            f"{adapter}: {what} {value!r} has a non-ASCII local part, which needs SMTPUTF8 "
            "(not supported)"
        )
    if len(addresses) != 1 or defects:
        raise ValidationError(f"{adapter}: {what} {value!r} is not one e-mail address")
    found: Address = addresses[0]
    try:
        checked = validate_email(found.addr_spec, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise ValidationError(f"{adapter}: {what} {value!r} is not valid: {error}") from None
    username, _, domain = (checked.ascii_email or checked.normalized).rpartition("@")
    return Address(display_name=found.display_name, username=username, domain=domain)


def _bracketed(ids: list[str], adapter: str) -> str:
    for value in ids:
        if not value or any(c.isspace() or c in "<>" for c in value):
            raise ValidationError(f"{adapter}: {value!r} is not a Message-ID")
    return " ".join(f"<{value}>" for value in ids)


def _thread(message: OutboundMessage, adapter: str) -> tuple[str | None, str | None]:
    """In-Reply-To and References for a reply: the thread so far, ending with the
    message answered."""
    if message.reply_to is None and not message.references:
        return None, None
    refs = [r.strip().strip("<>") for r in message.references]
    parent = message.reply_to.strip().strip("<>") if message.reply_to is not None else None
    if parent is not None and (not refs or refs[-1] != parent):
        refs.append(parent)
    in_reply_to = _bracketed([parent], adapter) if parent is not None else None
    return in_reply_to, _bracketed(refs[-_MAX_IDS:], adapter)


def _subject(message: OutboundMessage, adapter: str) -> str | None:
    """The subject to write; ``ValidationError`` for one with a line break in it (it
    would end the header, or start another)."""
    subject = message.subject
    if subject and subject.splitlines() != [subject]:
        raise ValidationError(f"{adapter}: subject {subject[:40]!r} has a line break")
    return subject or None


def _body_text(message: OutboundMessage) -> str:
    """The message's text (or, without text, the text of its HTML), with the media
    URLs listed under it as links."""
    text = message.text or (_html_text(message.html) if message.html else "")
    if message.media:
        text = (text + "\n\n" if text else "") + "\n".join(message.media)
    return text


def _body_html(html_text: str, media: tuple[str, ...]) -> str:
    """The message's HTML with the media URLs linked at the end of its body."""
    if not media:
        return html_text
    links = "".join(f'<p><a href="{html.escape(url)}">{html.escape(url)}</a></p>' for url in media)
    end = html_text.lower().rfind("</body>")
    return html_text[:end] + links + html_text[end:] if end >= 0 else html_text + links


_ID_SAFE = frozenset(string.ascii_letters + string.digits + "-_+")


def _message_id(message: OutboundMessage, domain: str) -> str:
    """The Message-ID (without brackets) for ``message`` sent from ``domain``.

    With an ``idempotency_key`` it is the key at the domain, so every attempt to
    deliver the message carries the same Message-ID: characters other than letters,
    digits, ``-``, ``_`` and ``+`` are written ``=XX`` (their hex code), which keeps it
    a valid Message-ID and keeps different keys apart. Otherwise a new UUID.
    """
    key = message.idempotency_key
    if key is None:
        return f"{uuid.uuid4()}@{domain}"
    left = "".join(c if c in _ID_SAFE else f"={ord(c):02X}" for c in key)
    return f"{left}@{domain}"


# Enhanced status codes (RFC 3463) that say the recipient's address cannot receive:
# bad destination mailbox (5.1.1), system (5.1.2) or syntax (5.1.3), mailbox moved
# (5.1.6), a domain that accepts no mail (5.1.10), mailbox disabled (5.2.1).
_GONE = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"})
_ENHANCED = re.compile(rb"\s*([245]\.[0-9]{1,3}\.[0-9]{1,3})\b")


def _gone(code: int, answer: bytes | str, *, recipient: bool) -> bool:
    """Whether an SMTP refusal says the recipient's address cannot receive: by its
    enhanced status code when it has one, else (refusing the recipient itself) by a
    550, 551 or 553 reply: mailbox unavailable, not local, name not allowed."""
    text = answer.encode("utf-8", "replace") if isinstance(answer, str) else answer
    enhanced = _ENHANCED.match(text)
    if enhanced is not None:
        return enhanced.group(1).decode() in _GONE
    return recipient and code in (550, 551, 553)


def _settings_tolerance(tolerance: object, adapter: str) -> timedelta:
    if not isinstance(tolerance, timedelta) or tolerance <= timedelta(0):
        raise ValidationError(f"{adapter}: tolerance {tolerance!r} must be a positive timedelta")
    return tolerance


def _settings_size(max_size: object, adapter: str) -> int:
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1024:
        raise ValidationError(f"{adapter}: max_size {max_size!r} must be at least 1024 bytes")
    return max_size


def _too_big(request: InboundRequest, max_size: int, adapter: str) -> None:
    if len(request.body) > max_size:
        raise PayloadError(
            f"{adapter}: body of {len(request.body):,} bytes is over the {max_size:,} byte limit"
        )


class EmailAdapter(BaseAdapter):
    """Raw e-mail in (signed by whoever hands it over), plain-text e-mail out over SMTP.

    Inbound: the request body is the raw RFC 5322 message (content type
    ``message/rfc822``), signed with ``secret`` as the generic webhook signs its body
    (``X-Omnikit-Timestamp``, ``X-Omnikit-Signature``; a 5-minute window). Without a
    ``secret`` every inbound request is rejected.

    Outbound: ``render`` builds the message from ``sender`` (``"Shop
    <service@shop.example.nl>"``) with a new Message-ID at ``domain`` (default: the
    sender's domain); ``send`` hands it to ``smtp_host:smtp_port`` (STARTTLS and
    login when configured). The send result's id is the Message-ID.
    """

    capabilities = Capabilities(text_limit=None, media=True, subject=True)

    def __init__(
        self,
        *,
        secret: str | None = None,
        smtp_host: str = "localhost",
        smtp_port: int = 25,
        smtp_username: str | None = None,
        smtp_password: str | None = None,
        starttls: bool = False,
        sender: str | None = None,
        domain: str | None = None,
        timeout: float = 30.0,
        tolerance: timedelta = timedelta(minutes=5),
        max_size: int = MAX_MAIL,
        name: str = "email",
        channel: str = "email",
    ) -> None:
        if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
            raise ValidationError(f"{name}: secret must be a string of at least 16 characters")
        if not isinstance(smtp_host, str) or not smtp_host or any(c in smtp_host for c in "/@ "):
            raise ValidationError(f"{name}: smtp_host {smtp_host!r} is not a host name")
        if (
            not isinstance(smtp_port, int)
            or isinstance(smtp_port, bool)
            or not (0 < smtp_port < 65536)
        ):
            raise ValidationError(f"{name}: smtp_port {smtp_port!r} is not a port number")
        if (smtp_username is None) != (smtp_password is None):
            raise ValidationError(f"{name}: give smtp_username and smtp_password together")
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ValidationError(f"{name}: timeout {timeout!r} must be a positive number")
        tolerance = _settings_tolerance(tolerance, name)
        self.name = name
        self.channel = channel
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.smtp_username = smtp_username
        self._smtp_password = smtp_password
        self.starttls = bool(starttls)
        self.timeout = float(timeout)
        self.sender = None if sender is None else _mailbox(sender, "sender", name)
        if domain is not None and (not isinstance(domain, str) or not _DOMAIN.fullmatch(domain)):
            raise ValidationError(f"{name}: domain {domain!r} is not a domain name")
        self.domain = domain
        self.tolerance = tolerance
        self.max_size = _settings_size(max_size, name)
        self._signed = (
            None
            if secret is None
            else WebhookAdapter(secret=secret, name=name, channel=channel, tolerance=tolerance)
        )
        self._secret = secret

    @property
    def has_secret(self) -> bool:
        """Whether a ``secret`` is configured (inbound mail is refused without one)."""
        return self._secret is not None

    def signature_headers(self, body: bytes, at: datetime) -> dict[str, str]:
        """The headers that sign ``body`` as sent at ``at`` with this adapter's secret
        (what ``omnikit.smtp.SmtpReceiver`` adds to the mail it hands over).

        Raises ``ValidationError`` when no ``secret`` is configured.
        """
        if self._secret is None:
            raise ValidationError(f"{self.name}: no secret is configured to sign with")
        return sign(self._secret, body, int(at.timestamp()))

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless ``request`` carries a fresh signature of its
        body made with ``secret`` (the generic webhook's scheme)."""
        if self._signed is None:
            raise SignatureError(f"{self.name}: no secret is configured; inbound mail is refused")
        self._signed.verify(request)

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The one event a raw message carries (see ``parse_mail``)."""
        kind = _content_type(request)
        if kind != "message/rfc822":
            raise PayloadError(
                f"{self.name}: content type {kind or 'none'!r} is not message/rfc822"
            )
        _too_big(request, self.max_size, self.name)
        return [parse_mail(request.body, channel=self.channel, adapter=self.name)]

    @property
    def sends(self) -> tuple[str, ...]:
        """The adapter's channel when a ``sender`` is configured."""
        return (self.channel,) if self.sender is not None else ()

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """One ``SMTP`` payload: the whole message as bytes, and in ``metadata`` its
        Message-ID and envelope (``from``, ``to``). With ``html`` the message is
        ``multipart/alternative``: the text, then the HTML. With an
        ``idempotency_key`` the Message-ID is derived from the key.

        Raises ``ValidationError`` without a ``sender``, for a recipient that is not an
        e-mail address or a subject with a line break.
        """
        if self.sender is None:
            raise ValidationError(
                f"{self.name}: no sender is configured; set sender='Shop <service@…>' to send"
            )
        to = _mailbox(message.to, "recipient", self.name)
        message_id = _message_id(message, self.domain or self.sender.domain)
        in_reply_to, references = _thread(message, self.name)
        subject = _subject(message, self.name)
        mail = EmailMessage(policy=policy.SMTP)
        try:
            mail["From"] = self.sender
            mail["To"] = to
            if subject is not None:
                mail["Subject"] = subject
            mail["Date"] = format_datetime(datetime.now(UTC))
            mail["Message-ID"] = f"<{message_id}>"
            if in_reply_to is not None:
                mail["In-Reply-To"] = in_reply_to
            if references is not None:
                mail["References"] = references
            mail.set_content(_body_text(message), charset="utf-8", cte="quoted-printable")
            if message.html:
                mail.add_alternative(
                    _body_html(message.html, message.media),
                    subtype="html",
                    charset="utf-8",
                    cte="quoted-printable",
                )
            body = mail.as_bytes()
        except (ValueError, TypeError) as error:
            raise ValidationError(f"{self.name}: message cannot be written: {error}") from None
        host = f"[{self.smtp_host}]" if ":" in self.smtp_host else self.smtp_host
        return [
            OutboundPayload(
                method="SMTP",
                url=f"smtp://{host}:{self.smtp_port}",
                body=body,
                metadata={
                    "message_id": message_id,
                    "from": self.sender.addr_spec,
                    "to": [to.addr_spec],
                },
            )
        ]

    def send(self, payload: OutboundPayload, client: httpx.Client) -> SendResult:
        """Deliver ``payload`` to the SMTP server (``client`` is not used).

        Raises ``SendError``: ``retryable`` for a 4xx answer or a connection failure,
        not for a 5xx answer or a configuration the server refuses (no STARTTLS, login).
        """
        return self._deliver(payload)

    async def asend(self, payload: OutboundPayload, client: httpx.AsyncClient) -> SendResult:
        """``send`` in a worker thread."""
        return await asyncio.to_thread(self._deliver, payload)

    def _deliver(self, payload: OutboundPayload) -> SendResult:
        envelope = payload.metadata
        sender, recipients, message_id = (
            envelope.get("from"),
            envelope.get("to"),
            envelope.get("message_id"),
        )
        if (
            payload.method != "SMTP"
            or not isinstance(sender, str)
            or not isinstance(message_id, str)
            or not isinstance(recipients, list)
            or not all(isinstance(r, str) for r in recipients)
        ):
            raise SendError(
                f"{self.name}: payload was not rendered by an e-mail adapter", retryable=False
            )
        try:
            where = urlsplit(payload.url)
            host, port = where.hostname or self.smtp_host, where.port or self.smtp_port
        except ValueError:
            raise SendError(
                f"{self.name}: {payload.url!r} is not an SMTP URL", retryable=False
            ) from None
        try:
            with smtplib.SMTP(host, port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.smtp_username is not None and self._smtp_password is not None:
                    smtp.login(self.smtp_username, self._smtp_password)
                smtp.sendmail(sender, [str(r) for r in recipients], payload.body)
        except smtplib.SMTPRecipientsRefused as error:
            answers = list(error.recipients.values())
            codes = [code for code, _ in answers]
            raise SendError(
                f"{self.name}: {host}:{port} refused the recipient "
                f"({'; '.join(_reply(code, text) for code, text in answers)})",
                retryable=all(400 <= code < 500 for code in codes),
                status=codes[0] if codes else None,
                undeliverable=bool(answers)
                and all(_gone(code, text, recipient=True) for code, text in answers),
            ) from None
        except smtplib.SMTPResponseException as error:
            raise SendError(
                f"{self.name}: {host}:{port} answered {_reply(error.smtp_code, error.smtp_error)}",
                retryable=error.smtp_code < 0 or 400 <= error.smtp_code < 500,
                status=error.smtp_code,
                undeliverable=isinstance(error, smtplib.SMTPDataError)
                and _gone(error.smtp_code, error.smtp_error, recipient=False),
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise SendError(
                f"{self.name}: {host}:{port} closed the connection", retryable=True
            ) from None
        except smtplib.SMTPException as error:  # no STARTTLS, no usable login method
            raise SendError(f"{self.name}: {host}:{port}: {error}", retryable=False) from None
        except UnicodeError:  # an address smtplib cannot write in ASCII
            raise SendError(
                f"{self.name}: {host}:{port}: an address is not ASCII", retryable=False
            ) from None
        except ssl.SSLCertVerificationError as error:
            raise SendError(
                f"{self.name}: {host}:{port} certificate not trusted: {error.verify_message}",
                retryable=False,
            ) from None
        except OSError as error:
            raise SendError(
                f"{self.name}: cannot reach {host}:{port}: {type(error).__name__}", retryable=True
            ) from None
        return SendResult(external_id=message_id, status=DeliveryStatus.SENT)


def _reply(code: int, answer: bytes | str) -> str:
    """An SMTP reply as text for a message: ``550 5.1.1 No such user``."""
    text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return f"{code} {text[:200]}"


# Mailgun ----------------------------------------------------------------------------------


class MailgunAdapter(BaseAdapter):
    """Mailgun inbound routes in, Mailgun's messages API out.

    Inbound: a route's ``forward()`` posts either parsed fields (``from``, ``subject``,
    ``body-plain``, ``message-headers``, ``attachment-1``…) or, for a URL ending in
    ``mime``, the raw message as ``body-mime``; both are read. ``signature`` is
    HMAC-SHA256 of ``timestamp`` + ``token`` under the webhook ``signing_key``; a
    ``timestamp`` more than 5 minutes from arrival is rejected. Mailgun's signature does
    not cover the message itself.

    Outbound: ``POST {api_base}/v3/{domain}/messages`` with ``api_key``, from ``sender``.
    """

    capabilities = Capabilities(text_limit=None, media=True, subject=True)

    def __init__(
        self,
        *,
        signing_key: str | None = None,
        api_key: str | None = None,
        domain: str | None = None,
        api_base: str = "https://api.mailgun.net",
        sender: str | None = None,
        tolerance: timedelta = timedelta(minutes=5),
        max_size: int = MAX_MAIL,
        name: str = "mailgun",
        channel: str = "email",
    ) -> None:
        for what, value in (("signing_key", signing_key), ("api_key", api_key)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValidationError(f"{name}: {what} must be a non-empty string")
        if domain is not None and (not isinstance(domain, str) or not _DOMAIN.fullmatch(domain)):
            raise ValidationError(f"{name}: domain {domain!r} is not a domain name")
        if not isinstance(api_base, str) or not api_base.startswith(("https://", "http://")):
            raise ValidationError(f"{name}: api_base {api_base!r} is not an http(s) URL")
        self.name = name
        self.channel = channel
        self._signing_key = signing_key
        self._api_key = api_key
        self.domain = domain
        self.api_base = api_base.rstrip("/")
        self.sender = None if sender is None else _mailbox(sender, "sender", name)
        self.tolerance = _settings_tolerance(tolerance, name)
        self.max_size = _settings_size(max_size, name)

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless the ``signature`` field is HMAC-SHA256 of
        ``timestamp`` + ``token`` under ``signing_key`` and ``timestamp`` is within
        the window (``PayloadError`` for a body that is not a form)."""
        if self._signing_key is None:
            raise SignatureError(f"{self.name}: no signing_key is configured; requests are refused")
        fields, _ = self._form(request)
        stamp, token, given = (fields.get(k) for k in ("timestamp", "token", "signature"))
        if stamp is None or token is None or given is None:
            raise SignatureError(f"{self.name}: timestamp, token and signature fields are required")
        stamp_text = stamp.decode("ascii", "replace")
        if not stamp_text.isdigit() or len(stamp_text) > 12:
            raise SignatureError(f"{self.name}: timestamp {stamp_text[:20]!r} is not a time")
        age = abs(request.arrived.timestamp() - int(stamp_text))
        if age > self.tolerance.total_seconds():
            raise SignatureError(
                f"{self.name}: timestamp is {int(age)} s from now, "
                f"outside the {self.tolerance.total_seconds():.0f} s window"
            )
        expected = hmac_digest(self._signing_key, stamp + token)
        if not signatures_match(expected, given.decode("ascii", "replace").strip().lower()):
            raise SignatureError(f"{self.name}: signature does not match timestamp and token")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The one event a route's post carries: from ``body-mime`` when present (as
        ``parse_mail`` reads it), else from the parsed fields."""
        fields, files = self._form(request)
        raw = fields.get("body-mime")
        if raw is not None:
            return [parse_mail(raw, channel=self.channel, adapter=self.name)]
        text = {
            key: _clean(value.decode("utf-8", "surrogateescape")) for key, value in fields.items()
        }
        digest = hashlib.sha256()
        for key in sorted(set(text) - {"timestamp", "token", "signature"}):
            digest.update(f"{key}={text[key]}\x00".encode("utf-8", "replace"))
        try:
            headers = _mailgun_headers(text)
            kind = headers("Content-Type")
            if getattr(kind, "content_type", "") == "multipart/report":
                return [
                    InboundEvent(
                        type=EventType.IGNORED,
                        channel=self.channel,
                        reason="report (bounce) as parsed fields; route it to a URL ending in mime",
                    )
                ]
            attachments = [
                Attachment(name=filename or key, content_type=content_type, size=size)
                for key, (filename, content_type, size) in files.items()
                if key.startswith("attachment-")
            ]
            event = _event(
                headers,
                channel=self.channel,
                text=text.get("body-plain", text.get("stripped-text")),
                attachments=attachments,
                fallback_id="sha256:" + digest.hexdigest(),
            )
        except PayloadError as error:
            raise PayloadError(f"{self.name}: {error}") from None
        except OmnikitError as error:
            raise PayloadError(f"{self.name}: message cannot be recorded: {error}") from None
        except Exception as error:  # the header parser's assorted errors, as in parse_mail
            raise PayloadError(
                f"{self.name}: fields cannot be read ({type(error).__name__})"
            ) from None
        return [event]

    def _form(
        self, request: InboundRequest
    ) -> tuple[dict[str, bytes], dict[str, tuple[str, str, int]]]:
        """The posted fields (first value per name, as bytes) and the uploaded files
        (``name: (filename, content type, size)``); ``PayloadError`` when unreadable."""
        _too_big(request, self.max_size, self.name)
        kind = _content_type(request)
        if kind == "application/x-www-form-urlencoded":
            try:
                text = request.body.decode("ascii")
                pairs = parse_qsl(
                    text,
                    keep_blank_values=True,
                    strict_parsing=bool(text),
                    encoding="utf-8",
                    errors="surrogateescape",
                )
            except (UnicodeDecodeError, ValueError) as error:
                raise PayloadError(f"{self.name}: body is not a valid form ({error})") from None
            fields: dict[str, bytes] = {}
            for key, value in pairs:
                fields.setdefault(key, value.encode("utf-8", "surrogateescape"))
            return fields, {}
        if kind == "multipart/form-data":
            return _multipart(request, self.name)
        raise PayloadError(
            f"{self.name}: content type {kind or 'none'!r} is neither multipart/form-data "
            "nor application/x-www-form-urlencoded"
        )

    @property
    def sends(self) -> tuple[str, ...]:
        """The adapter's channel when ``api_key``, ``domain`` and ``sender`` are set."""
        ready = None not in (self._api_key, self.domain, self.sender)
        return (self.channel,) if ready else ()

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """One ``POST {api_base}/v3/{domain}/messages`` with basic auth ``api:<api_key>``
        and the form fields from, to, subject, text, html and the threading headers.
        ``h:Message-Id`` is derived from the ``idempotency_key`` when there is one.

        Raises ``ValidationError`` without ``api_key``, ``domain`` or ``sender``.
        """
        if self._api_key is None or self.domain is None or self.sender is None:
            raise ValidationError(
                f"{self.name}: api_key, domain and sender must be configured to send"
            )
        to = _mailbox(message.to, "recipient", self.name)
        message_id = _message_id(message, self.domain)
        in_reply_to, references = _thread(message, self.name)
        subject = _subject(message, self.name)
        fields = [("from", str(self.sender)), ("to", str(to))]
        if subject is not None:
            fields.append(("subject", subject))
        fields.append(("text", _body_text(message)))
        if message.html:
            fields.append(("html", _body_html(message.html, message.media)))
        if in_reply_to is not None:
            fields.append(("h:In-Reply-To", in_reply_to))
        if references is not None:
            fields.append(("h:References", references))
        fields.append(("h:Message-Id", f"<{message_id}>"))
        token = f"api:{self._api_key}".encode()
        return [
            OutboundPayload(
                method="POST",
                url=f"{self.api_base}/v3/{self.domain}/messages",
                headers={
                    "authorization": "Basic " + base64.b64encode(token).decode("ascii"),
                    "content-type": "application/x-www-form-urlencoded",
                },
                body=urlencode(fields).encode(),
                metadata={"message_id": message_id},
            )
        ]

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The id Mailgun answered (``{"id": "<…>", "message": "Queued. Thank you."}``),
        without angle brackets; the Message-ID sent when it answered none."""
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            answer = None
        identifier = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(identifier, str) or not identifier.strip("<> "):
            fallback = payload.metadata.get("message_id")
            identifier = fallback if isinstance(fallback, str) else None
        return SendResult(
            external_id=identifier.strip().strip("<>") if identifier else None,
            http_status=response.status_code,
        )


def _mailgun_headers(fields: dict[str, str]) -> Callable[[str], BaseHeader | None]:
    """Header lookup over ``message-headers`` (the message's own headers, in order),
    then the fields Mailgun names after headers (``Message-Id``, ``from``…)."""
    pairs: list[tuple[str, str]] = []
    listed = fields.get("message-headers")
    if listed is not None:
        try:
            document = json.loads(listed)
        except (ValueError, RecursionError):
            raise PayloadError("message-headers is not valid JSON") from None
        if not isinstance(document, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p)
            for p in document
        ):
            raise PayloadError("message-headers must be a list of [name, value]")
        pairs = [(name, value) for name, value in document]
    lowered = {key.lower(): value for key, value in reversed(list(fields.items()))}

    def header(name: str) -> BaseHeader | None:
        wanted = name.lower()
        value = next((v for k, v in pairs if k.lower() == wanted), None)
        if value is None:
            value = lowered.get(wanted)
        if value is None and wanted == "from":
            value = lowered.get("sender")  # the envelope sender (MAIL FROM)
        if value is None:
            return None
        # unfold: the header parser refuses line breaks (a folded References)
        found: BaseHeader = policy.default.header_factory(name, re.sub(r"[\r\n]+", "", value))
        return found

    return header


def _multipart(
    request: InboundRequest, adapter: str
) -> tuple[dict[str, bytes], dict[str, tuple[str, str, int]]]:
    """A ``multipart/form-data`` body read with the stdlib's MIME parser."""
    header = request.header("content-type") or ""
    if not header.isascii() or any(c in header for c in "\r\n\x00"):
        raise PayloadError(f"{adapter}: content type header {header[:60]!r} is malformed")
    try:
        form = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: "
            + header.encode("ascii")
            + b"\r\nMIME-Version: 1.0\r\n\r\n"
            + request.body
        )
        parts = form.get_payload() if form.is_multipart() else None
        if not isinstance(parts, list) or not parts:
            raise PayloadError(f"{adapter}: multipart body has no parts")
        fields: dict[str, bytes] = {}
        files: dict[str, tuple[str, str, int]] = {}
        for part in parts[:1000]:
            if not isinstance(part, Message):
                continue
            name = part.get_param("name", header="content-disposition")
            if name is None:
                continue
            key = name if isinstance(name, str) else collapse_rfc2231_value(name)
            content = part.get_payload(decode=True)
            data = content if isinstance(content, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                files.setdefault(key, (_clean(filename)[:255], part.get_content_type(), len(data)))
            else:
                fields.setdefault(key, data)
    except PayloadError:
        raise
    except Exception as error:  # the MIME parser's assorted errors, as in parse_mail
        raise PayloadError(
            f"{adapter}: multipart body cannot be read ({type(error).__name__})"
        ) from None
    return fields, files
