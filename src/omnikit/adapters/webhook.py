"""A generic signed JSON webhook, for a website's own chat, web shop or app.

The sender signs every request the way Stripe-style webhooks do::

    X-Omnikit-Timestamp: 1763900000                       (Unix seconds)
    X-Omnikit-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

A request whose timestamp is more than ``tolerance`` (5 minutes) from the time it was
received is rejected, so a captured request cannot be replayed later. The body is
one event or ``{"events": [...]}``; see ``docs/adapters.md`` for the fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from omnikit.adapters.base import (
    BaseAdapter,
    Capabilities,
    EventType,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    OutboundPayload,
    Response,
    Sender,
    SendResult,
    hmac_digest,
    json_of,
    signatures_match,
    split_text,
)
from omnikit.errors import OmnikitError, PayloadError, SignatureError, ValidationError
from omnikit.model import Attachment, DeliveryStatus

__all__ = ["WebhookAdapter", "sign"]

TIMESTAMP_HEADER = "X-Omnikit-Timestamp"
SIGNATURE_HEADER = "X-Omnikit-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers that sign ``body`` at ``timestamp`` (Unix seconds) with ``secret``."""
    digest = hmac_digest(secret, f"{timestamp}.".encode() + body)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"v1={digest}"}


class WebhookAdapter(BaseAdapter):
    """Signed JSON events from the business's own systems.

    ``secret`` signs both ways. ``channel`` (default ``webchat``) is where events land;
    ``name`` lets one kit take two such webhooks (``name="shop", channel="webshop"``).
    ``outbound_url`` is where ``render`` posts replies, signed the same way.
    """

    capabilities = Capabilities(text_limit=None, media=True)

    def __init__(
        self,
        *,
        secret: str,
        channel: str = "webchat",
        name: str = "webhook",
        outbound_url: str | None = None,
        tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValidationError("webhook secret must be a string of at least 16 characters")
        if not isinstance(tolerance, timedelta) or tolerance <= timedelta(0):
            raise ValidationError(f"tolerance {tolerance!r} must be a positive timedelta")
        self._secret = secret
        self.channel = channel
        self.name = name
        self.outbound_url = outbound_url
        self.tolerance = tolerance

    def verify(self, request: InboundRequest) -> None:
        stamp = request.header(TIMESTAMP_HEADER)
        given = request.header(SIGNATURE_HEADER)
        if stamp is None or given is None:
            raise SignatureError(
                f"{self.name}: {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required"
            )
        if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
            raise SignatureError(f"{self.name}: {TIMESTAMP_HEADER} {stamp[:20]!r} is not a time")
        age = abs(request.arrived.timestamp() - int(stamp))
        if age > self.tolerance.total_seconds():
            raise SignatureError(
                f"{self.name}: signature timestamp is {math.floor(age)} s from now, "
                f"outside the {self.tolerance.total_seconds():.0f} s window"
            )
        expected = sign(self._secret, request.body, int(stamp))[SIGNATURE_HEADER]
        if not any(signatures_match(expected, part.strip()) for part in given.split(",")):
            raise SignatureError(f"{self.name}: signature does not match the body")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        document = json_of(request, adapter=self.name)
        if isinstance(document, dict) and "events" in document:
            items = document["events"]
            if not isinstance(items, list):
                raise PayloadError(f"{self.name}: 'events' must be a list")
        else:
            items = [document]
        return [self._event(item, at) for at, item in enumerate(items)]

    def _event(self, item: Any, at: int) -> InboundEvent:
        if not isinstance(item, dict):
            raise PayloadError(f"{self.name}: events[{at}] must be an object")
        kind = item.get("type", "message")
        try:
            if kind == "message":
                return InboundEvent(
                    type=EventType.MESSAGE,
                    channel=self.channel,
                    external_id=_text(item, "id", at),
                    occurred_at=_time(item.get("occurred_at"), at),
                    sender=Sender(**_sender(item.get("sender"), self.channel, at)),
                    kind=item.get("kind", "message"),
                    text=item.get("text"),
                    subject=item.get("subject"),
                    attachments=tuple(Attachment(**a) for a in _list(item, "attachments", at)),
                    metadata=_metadata(item, at),
                )
            if kind == "status":
                return InboundEvent(
                    type=EventType.STATUS,
                    channel=self.channel,
                    external_id=_text(item, "id", at),
                    occurred_at=_time(item.get("occurred_at"), at),
                    status=DeliveryStatus(item["status"]) if "status" in item else None,
                    metadata=_metadata(item, at),
                )
        except PayloadError:
            raise
        except (OmnikitError, ValueError, TypeError, KeyError) as error:
            raise PayloadError(f"{self.name}: events[{at}]: {error}") from None
        return InboundEvent(
            type=EventType.IGNORED,
            channel=self.channel,
            reason=f"unknown event type {str(kind)[:40]!r}",
        )

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        body = json.dumps({"received": len(events)}).encode()
        return Response(headers={"content-type": "application/json"}, body=body)

    @property
    def sends(self) -> tuple[str, ...]:
        """The adapter's channel when an ``outbound_url`` is configured."""
        return (self.channel,) if self.outbound_url is not None else ()

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """A signed JSON POST to ``outbound_url``: ``to``, ``text``, ``subject``,
        ``media``, ``reply_to``. With an ``idempotency_key`` the body's ``id`` is the
        key and the ``Idempotency-Key`` header repeats it, so the receiver can drop a
        retried delivery.

        Raises ``ValidationError`` without an ``outbound_url``.
        """
        if self.outbound_url is None:
            raise ValidationError(f"{self.name}: no outbound_url is configured for replies")
        parts = split_text(message.text or "", self.capabilities.text_limit)
        key = message.idempotency_key
        payloads = []
        for at, part in enumerate(parts, 1):
            document: dict[str, Any] = {}
            headers = {"content-type": "application/json"}
            if key is not None:
                # one key per request: a message split in parts is several requests
                document["id"] = key if len(parts) == 1 else f"{key}:{at}"
                headers[IDEMPOTENCY_HEADER] = document["id"]
            document |= {
                "to": message.to,
                "text": part,
                "subject": message.subject,
                "media": list(message.media),
                "reply_to": message.reply_to,
            }
            body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
            headers |= sign(self._secret, body, int(datetime.now(UTC).timestamp()))
            payloads.append(
                OutboundPayload(method="POST", url=self.outbound_url, headers=headers, body=body)
            )
        return payloads

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            answer = None
        identifier = answer.get("id") if isinstance(answer, dict) else None
        return SendResult(
            external_id=str(identifier) if identifier is not None else None,
            http_status=response.status_code,
        )


def _text(item: dict[str, Any], key: str, at: int) -> str:
    value = item.get(key)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise PayloadError(f"events[{at}]: {key!r} must be a non-empty string, not {value!r}")
    return str(value)


def _list(item: dict[str, Any], key: str, at: int) -> list[Any]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise PayloadError(f"events[{at}]: {key!r} must be a list of objects")
    return value


def _time(value: Any, at: int) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"events[{at}]: occurred_at {value!r} must be an ISO 8601 string")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"events[{at}]: occurred_at {value[:40]!r} is not ISO 8601") from None
    if when.tzinfo is None:
        raise PayloadError(f"events[{at}]: occurred_at {value[:40]!r} has no time zone")
    return when


def _sender(value: Any, channel: str, at: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"events[{at}]: 'sender' must be an object, not {value!r}"[:200])
    fields = dict(value)
    external = fields.pop("external_id", None)
    if external is not None:
        fields["external_ids"] = {channel: external, **fields.get("external_ids", {})}
    return fields


def _metadata(item: dict[str, Any], at: int) -> dict[str, Any]:
    metadata = item.get("metadata", {})
    if not isinstance(metadata, dict):
        raise PayloadError(f"events[{at}]: 'metadata' must be an object")
    metadata = dict(metadata)
    for key in ("conversation_id", "in_reply_to", "references"):
        if key in item:
            metadata[key] = item[key]
    return metadata
