"""The adapter protocol: what a provider's webhook and API look like to omnikit.

An adapter is pure where it can be: ``verify`` and ``parse`` turn an
``InboundRequest`` (bytes and headers, no web framework) into ``InboundEvent``
values; ``render`` turns an ``OutboundMessage`` into ``OutboundPayload`` values (the
exact HTTP requests the provider's API expects). Only ``send``/``asend`` do I/O, and
only through the ``httpx`` client they are given. Adapters know no storage: the kit
(``kit.receive``) identifies senders and records what an adapter parsed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import Field, JsonValue, field_validator, model_validator

from omnikit.errors import PayloadError, SendError, ValidationError
from omnikit.model import Attachment, DeliveryStatus
from omnikit.model._base import Model, UtcDatetime

__all__ = [
    "Adapter",
    "BaseAdapter",
    "Capabilities",
    "EventType",
    "InboundEvent",
    "InboundRequest",
    "OutboundMessage",
    "OutboundPayload",
    "Response",
    "SendResult",
    "Sender",
    "form_of",
    "hmac_digest",
    "json_of",
    "parse_retry_after",
    "signatures_match",
    "split_text",
]

MAX_BODY = 1024 * 1024
"""The largest webhook body an adapter reads (1 MiB)."""

MAX_RETRY_AFTER = 24 * 60 * 60.0
"""The longest wait ``parse_retry_after`` reports (one day), whatever a provider asks."""

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


class InboundRequest(Model):
    """One HTTP request from a provider, without any web framework.

    ``headers`` keys are lower-cased on construction (HTTP header names are
    case-insensitive); ``query`` defaults to the query string of ``url`` (the first
    value of each key). ``received_at`` is when the request arrived: signature schemes
    with a time window compare against it (``kit.receive`` fills in the kit's clock;
    left None, the wall clock).
    """

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes = b""
    query: dict[str, str] | None = None
    received_at: UtcDatetime | None = None

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return value.upper()

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k).lower(): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _defaults(self) -> InboundRequest:
        if self.query is None:
            query = dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True)[::-1])
            object.__setattr__(self, "query", query)
        return self

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name.lower())

    @property
    def params(self) -> dict[str, str]:
        """The query parameters (never None after construction)."""
        return self.query or {}

    @property
    def arrived(self) -> datetime:
        """``received_at``, or now by the wall clock when it is None."""
        return self.received_at or datetime.now(UTC)


class EventType(StrEnum):
    """What a provider told us."""

    MESSAGE = "message"
    """A new contact from the customer: a message, a call, an e-mail, an order."""
    STATUS = "status"
    """News about an interaction already recorded: a delivery status, a call's
    duration and outcome."""
    IGNORED = "ignored"
    """A notification omnikit does not record (a typing indicator, an unknown type);
    it is acknowledged so the provider does not retry it."""


class Sender(Model):
    """Who sent an inbound event: the identifiers ``kit.customers.identify`` takes.

    A sender with no usable identifier (a withheld caller ID) is recorded on a new
    customer of its own, named after the contact (see ``docs/adapters.md``).
    """

    phone: str | None = None
    email: str | None = None
    handles: dict[str, str] = Field(default_factory=dict)
    external_ids: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    language: str | None = None


class InboundEvent(Model):
    """One thing a webhook request reported. A request may carry several."""

    type: EventType
    channel: str
    external_id: str | None = None
    """The provider's id of the message or call (``MESSAGE``: the idempotency key) or
    of the interaction the news is about (``STATUS``)."""
    occurred_at: UtcDatetime | None = None
    """When it happened by the provider's clock; None means when it was received."""
    sender: Sender | None = None
    kind: str = "message"
    """The interaction kind for ``MESSAGE``: ``message``, ``call``, ``email``…"""
    text: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    status: DeliveryStatus | None = None
    """``STATUS``: the delivery status reported, if any."""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    """Recorded with a ``MESSAGE``; merged into the interaction's metadata for a
    ``STATUS`` (a call's ``duration`` and ``outcome``, an ``error``). Threading keys:
    ``in_reply_to``, ``references``, ``conversation_id`` (see ``docs/cases.md``)."""
    reason: str | None = None
    """``IGNORED``: why, in a few words (``"unknown event type 'typing'"``)."""


class Capabilities(Model):
    """What a channel's provider can do."""

    text_limit: int | None = None
    """The most characters one message carries; ``render`` splits longer text."""
    media: bool = False
    """Messages may carry pictures and files."""
    templates: bool = False
    """Business-initiated messages outside the session window need an approved
    template (WhatsApp)."""
    session_window: timedelta | None = None
    """How long after the customer's last message free-form replies are allowed."""
    read_receipts: bool = False
    """The provider reports when a message was read."""
    subject: bool = False
    """Messages have a subject line (e-mail)."""


class OutboundMessage(Model):
    """One message to send, before it is fitted to a channel.

    ``to`` is the address on the channel (an E.164 number, an e-mail address, a chat
    or recipient id). ``reply_to`` is the provider id of the message this answers
    (threading: e-mail In-Reply-To, a quoted chat message).
    """

    to: str
    text: str | None = None
    subject: str | None = None
    html: str | None = None
    """E-mail: an HTML rendering of the message, sent as the alternative to the text."""
    media: tuple[str, ...] = ()
    """URLs of pictures or files to attach."""
    template: str | None = None
    """A provider template name, for channels with ``capabilities.templates``."""
    template_params: tuple[str, ...] = ()
    language: str | None = None
    reply_to: str | None = None
    references: tuple[str, ...] = ()
    """E-mail: the Message-IDs of the thread so far."""
    idempotency_key: str | None = None
    """The same for every attempt to deliver this message (1 to 200 printable ASCII
    characters, no spaces). Adapters whose provider deduplicates by a key send it; the
    e-mail adapters derive the Message-ID from it, so a retry repeats the Message-ID."""

    @field_validator("idempotency_key")
    @classmethod
    def _idempotency_key(cls, value: str | None) -> str | None:
        if value is not None and not _IDEMPOTENCY_KEY.fullmatch(value):
            raise ValueError(
                f"{value[:60]!r} must be 1 to 200 printable ASCII characters without spaces"
            )
        return value


class OutboundPayload(Model):
    """One request exactly as the provider's API expects it."""

    method: str
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes = b""
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    """What the adapter needs later and the provider does not (e-mail: the envelope
    recipients, the Message-ID it chose)."""

    def request(self) -> httpx.Request:
        """This payload as an ``httpx.Request``."""
        return httpx.Request(self.method, _url(self.url), headers=self.headers, content=self.body)


@functools.lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    # A provider's API address repeats on every send; parsing it was about half of
    # building the request (≈ 10 µs). httpx.URL is immutable, so one can be shared.
    return httpx.URL(url)


class SendResult(Model):
    """What the provider answered to one payload."""

    external_id: str | None
    """The provider's id of the sent message: delivery statuses will name it."""
    status: DeliveryStatus = DeliveryStatus.SENT
    http_status: int | None = None


class Response(Model):
    """The HTTP response a provider expects back from a webhook."""

    status: int = 200
    headers: dict[str, str] = Field(default_factory=dict)
    body: bytes = b""


@runtime_checkable
class Adapter(Protocol):
    """A provider's webhook and API, as omnikit uses them.

    ``name`` is the adapter's registry name (``"twilio"``), ``channel`` the channel its
    events land on unless an event says otherwise.
    """

    name: str
    channel: str
    capabilities: Capabilities

    def handshake(self, request: InboundRequest) -> Response | None:
        """The answer to a subscription challenge, or None for other requests.

        Raises ``SignatureError`` for a challenge with the wrong verify token.
        """
        ...

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless the request is signed by the provider."""
        ...

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The events a verified request carries; ``PayloadError`` when unreadable."""
        ...

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        """The response the provider expects once ``events`` are recorded."""
        ...

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """The requests that send ``message`` within the channel's limits."""
        ...

    def send(self, payload: OutboundPayload, client: httpx.Client) -> SendResult:
        """Send one payload; raise ``SendError`` when the provider refuses it."""
        ...

    async def asend(self, payload: OutboundPayload, client: httpx.AsyncClient) -> SendResult:
        """``send`` for asyncio."""
        ...


class BaseAdapter:
    """Defaults for the parts most adapters share; subclass it and fill in the rest.

    Subclasses set ``name``, ``channel`` and ``capabilities``, and implement
    ``verify``, ``parse`` and ``render``; ``sent`` reads the provider's answer to a
    send and ``refused`` its refusal. ``handshake`` answers nothing and ``ack`` is an
    empty 200 unless overridden.

    For the outbox, ``sends`` names the channels the adapter sends on and
    ``recipient`` turns a stored address into the ``to`` of an ``OutboundMessage``.
    They are not part of the ``Adapter`` protocol: for an adapter without them the
    outbox uses ``(adapter.channel,)`` and the address unchanged.
    """

    name: str
    channel: str
    capabilities: Capabilities = Capabilities()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    @property
    def sends(self) -> tuple[str, ...]:
        """The channels this adapter can send on as configured: ``(channel,)``."""
        return (self.channel,)

    def recipient(self, channel: str, value: str) -> str:
        """The ``to`` for ``value``, a customer's stored address on ``channel`` (an
        E.164 number, an e-mail address, a handle): ``value`` itself.

        Raises ``ValidationError`` for a channel not in ``sends``.
        """
        self._sends_on(channel)
        return value

    def _sends_on(self, channel: str) -> None:
        if channel not in self.sends:
            sends = ", ".join(self.sends) or "nothing (not configured to send)"
            raise ValidationError(f"{self.name}: cannot send on {channel!r}; it sends on {sends}")

    def handshake(self, request: InboundRequest) -> Response | None:
        """No subscription challenge: None."""
        return None

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless the provider signed ``request``."""
        raise NotImplementedError

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The events ``request`` carries."""
        raise NotImplementedError

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        """An empty 200."""
        return Response()

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """The requests that send ``message``."""
        raise NotImplementedError

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The ``SendResult`` of a 2xx answer (default: no provider id)."""
        return SendResult(external_id=None, http_status=response.status_code)

    def refused(self, payload: OutboundPayload, response: httpx.Response) -> SendError:
        """The ``SendError`` for an answer that is not 2xx: ``retryable`` for 429 and
        5xx, ``retry_after`` from a ``Retry-After`` header. Override it to read the
        provider's error codes (``undeliverable``, rate limits answered with 400)."""
        status = response.status_code
        return SendError(
            f"{self.name}: {payload.method} {payload.url} answered {status} "
            f"{response.reason_phrase}: {response.text[:200]!r}",
            retryable=status == 429 or status >= 500,
            status=status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def send(self, payload: OutboundPayload, client: httpx.Client) -> SendResult:
        """Send ``payload`` through ``client``; ``SendError`` unless the answer is 2xx
        (``retryable`` for 429, 5xx and network failures; see ``refused``)."""
        try:
            response = client.send(payload.request())
        except httpx.HTTPError as error:
            raise SendError(
                f"{self.name}: {payload.method} {payload.url} failed: {type(error).__name__}",
                retryable=True,
            ) from None
        return self._result(payload, response)

    async def asend(self, payload: OutboundPayload, client: httpx.AsyncClient) -> SendResult:
        """``send`` for asyncio."""
        try:
            response = await client.send(payload.request())
        except httpx.HTTPError as error:
            raise SendError(
                f"{self.name}: {payload.method} {payload.url} failed: {type(error).__name__}",
                retryable=True,
            ) from None
        return self._result(payload, response)

    def _result(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        if response.is_success:
            return self.sent(payload, response)
        raise self.refused(payload, response)


# helpers for adapters -------------------------------------------------------------------


def signatures_match(expected: str | bytes, given: str | bytes | None) -> bool:
    """Compare two signatures in constant time; a missing one never matches."""
    if given is None:
        return False
    a = expected.encode() if isinstance(expected, str) else expected
    b = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else given
    return hmac.compare_digest(a, b)


def hmac_digest(
    secret: str | bytes,
    message: bytes,
    algorithm: str = "sha256",
    encoding: str = "hex",
) -> str:
    """HMAC of ``message`` under ``secret`` as ``"hex"`` or ``"base64"`` text."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, message, getattr(hashlib, algorithm)).digest()
    if encoding == "base64":
        return base64.b64encode(digest).decode()
    return digest.hex()


def _content_type(request: InboundRequest) -> str:
    return (request.header("content-type") or "").split(";")[0].strip().lower()


def json_of(request: InboundRequest, *, adapter: str) -> Any:
    """The request body as JSON; ``PayloadError`` for another content type or bad JSON."""
    kind = _content_type(request)
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise PayloadError(f"{adapter}: content type {kind!r} is not application/json")
    if len(request.body) > MAX_BODY:
        raise PayloadError(f"{adapter}: body of {len(request.body)} bytes is over 1 MiB")
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as error:
        raise PayloadError(f"{adapter}: body is not valid JSON ({error})") from None


def form_of(request: InboundRequest, *, adapter: str) -> dict[str, str]:
    """The body as an ``application/x-www-form-urlencoded`` form (first value per key)."""
    kind = _content_type(request)
    if kind != "application/x-www-form-urlencoded":
        raise PayloadError(
            f"{adapter}: content type {kind or 'none'!r} is not application/x-www-form-urlencoded"
        )
    try:
        text = request.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError(f"{adapter}: body is not a valid form ({error})") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110): delay-seconds or an
    HTTP-date, counted from ``now`` (default: the wall clock).

    None when absent or unreadable; a date in the past (or a negative number) is 0;
    anything longer than a day is a day (``MAX_RETRY_AFTER``).
    """
    if value is None:
        return None
    text = value.strip()
    number = text.removeprefix("-")
    if number.isascii() and number.isdigit():
        if text.startswith("-"):
            return 0.0
        digits = number.lstrip("0") or "0"
        return MAX_RETRY_AFTER if len(digits) > 6 else min(float(digits), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except Exception:  # the date parser raises assorted errors on garbage
        return None
    if when.tzinfo is None:  # asctime dates carry no zone; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    try:
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    except OverflowError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def split_text(text: str, limit: int | None) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, broken at whitespace where
    possible (a word longer than ``limit`` is cut). No limit: one part."""
    if limit is None or len(text) <= limit:
        return [text]
    if limit < 1:
        raise ValidationError(f"text limit {limit!r} must be at least 1")
    parts = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
