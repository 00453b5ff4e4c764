"""omnikit adapter for the LINE Messaging API.

LINE posts ``{"destination": ..., "events": [...]}`` to the webhook URL set in the
LINE Developers Console, signed with the channel secret::

    X-Line-Signature: base64(HMAC-SHA256(channel secret, raw body))

``message`` events become messages on the ``line`` channel, recorded once by LINE's
message id; ``follow``, ``postback`` and the other events are acknowledged and
ignored. Replies go out as push messages. omnikit has no built-in ``line`` channel:
register ``LINE_CHANNEL`` before configuring the adapter::

    kit.channels.register(LINE_CHANNEL)
    kit.adapters.use("line", channel_secret=..., channel_access_token=...)
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from omnikit.adapters import (
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
    json_of,
    signatures_match,
    split_text,
)
from omnikit.errors import PayloadError, SignatureError, ValidationError
from omnikit.model import Attachment, Channel, IdentityKind
from pydantic import JsonValue

__all__ = ["LINE_CHANNEL", "SIGNATURE_HEADER", "LineAdapter"]

SIGNATURE_HEADER = "X-Line-Signature"

LINE_CHANNEL = Channel(
    id="line",
    name="LINE",
    identity_kind=IdentityKind.HANDLE,
    realtime=False,
    outbound=True,
    text_limit=5000,
)
"""The channel LINE messages land on: register it in every kit that uses the adapter."""

_MESSAGES_PER_REQUEST = 5
_RECIPIENT = re.compile(r"[UCRucr][0-9a-fA-F]{32}")
"""A user (``U…``), group (``C…``) or multi-person chat (``R…``) id, in any case: omnikit
stores handles lower-cased, LINE wants the prefix upper-case and the rest lower-case."""

# What a file of each message type is, and the events that are not messages.
_CONTENT_TYPES = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mp4",
    "file": "application/octet-stream",
}
_NOT_MESSAGES = {
    "follow": "the user added the account as a friend",
    "unfollow": "the user blocked the account",
    "postback": "a button press (postback)",
    "join": "the account joined a group chat",
    "leave": "the account left a group chat",
    "memberJoined": "a member joined a group chat",
    "memberLeft": "a member left a group chat",
    "unsend": "the user unsent a message",
    "videoPlayComplete": "the user watched a video to the end",
    "beacon": "a LINE Beacon event",
    "accountLink": "an account link event",
    "things": "a LINE Things device event",
    "membership": "a membership event",
}


class LineAdapter(BaseAdapter):
    """A LINE Official Account's webhook and push messages.

    ``channel_secret`` (Basic settings in the LINE Developers Console) verifies
    webhooks; ``channel_access_token`` (a long-lived token from the Messaging API tab)
    sends push messages; without it the adapter only receives.
    """

    name = "line"
    channel = "line"
    capabilities = Capabilities(text_limit=5000, media=True)

    def __init__(
        self,
        *,
        channel_secret: str,
        channel_access_token: str | None = None,
        api_base: str = "https://api.line.me",
    ) -> None:
        if not isinstance(channel_secret, str) or not channel_secret.strip():
            raise ValidationError("line channel_secret must be a non-empty string")
        if channel_access_token is not None and (
            not isinstance(channel_access_token, str) or not channel_access_token.strip()
        ):
            raise ValidationError("line channel_access_token must be a non-empty string")
        if not isinstance(api_base, str) or not api_base.startswith(("https://", "http://")):
            raise ValidationError(f"line api_base {api_base!r} must be an http(s) URL")
        self._secret = channel_secret
        self._token = channel_access_token
        self.api_base = api_base.rstrip("/")

    # inbound ---------------------------------------------------------------------------

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless ``X-Line-Signature`` signs the raw body."""
        given = request.header(SIGNATURE_HEADER)
        if given is None:
            raise SignatureError(f"line: the {SIGNATURE_HEADER} header is missing")
        expected = hmac_digest(self._secret, request.body, encoding="base64")
        if not signatures_match(expected, given.strip()):
            raise SignatureError(f"line: {SIGNATURE_HEADER} does not match the body")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """One event per webhook event; none for LINE's empty verification request."""
        document = json_of(request, adapter=self.name)
        if not isinstance(document, dict) or not isinstance(document.get("events"), list):
            raise PayloadError("line: the body must be an object with an 'events' list")
        return [self._event(item, at) for at, item in enumerate(document["events"])]

    def _event(self, item: Any, at: int) -> InboundEvent:
        if not isinstance(item, dict):
            raise PayloadError(f"line: events[{at}] must be an object")
        kind = item.get("type")
        if kind != "message":
            reason = _NOT_MESSAGES.get(kind) if isinstance(kind, str) else None
            return InboundEvent(
                type=EventType.IGNORED,
                channel=self.channel,
                reason=f"{kind}: {reason}" if reason else f"unknown event type {str(kind)[:40]!r}",
            )
        message = item.get("message")
        if not isinstance(message, dict):
            raise PayloadError(f"line: events[{at}].message must be an object")
        message_id = _text(message, "id", at)
        if message_id is None:
            raise PayloadError(f"line: events[{at}].message.id is missing")
        source = item.get("source")
        if not isinstance(source, dict):
            raise PayloadError(f"line: events[{at}].source must be an object")
        user = _text(source, "userId", at)
        timestamp = item.get("timestamp")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise PayloadError(f"line: events[{at}].timestamp must be milliseconds")
        try:
            occurred = datetime.fromtimestamp(timestamp / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"line: events[{at}].timestamp {timestamp} is not a time") from None
        metadata: dict[str, JsonValue] = {}
        for key, field in (
            ("webhook_event_id", "webhookEventId"),
            ("reply_token", "replyToken"),
            ("in_reply_to", "quotedMessageId"),
        ):
            value = _text(message if field == "quotedMessageId" else item, field, at)
            if value is not None:
                metadata[key] = value
        context = item.get("deliveryContext")
        if isinstance(context, dict) and isinstance(context.get("isRedelivery"), bool):
            metadata["is_redelivery"] = context["isRedelivery"]
        for key in ("groupId", "roomId"):
            value = _text(source, key, at)
            if value is not None:
                metadata["conversation_id"] = value
        content = message.get("type")
        attachments: tuple[Attachment, ...] = ()
        if content in _CONTENT_TYPES:
            provider = message.get("contentProvider")
            url = f"https://api-data.line.me/v2/bot/message/{message_id}/content"
            if isinstance(provider, dict) and provider.get("type") == "external":
                url = _text(provider, "originalContentUrl", at) or url
            name = _text(message, "fileName", at) or f"{content}-{message_id}"
            attachments = (Attachment(name=name, content_type=_CONTENT_TYPES[content], url=url),)
        elif content == "location":
            metadata["location"] = {
                key: message[key]
                for key in ("latitude", "longitude")
                if isinstance(message.get(key), int | float)
                and not isinstance(message[key], bool)
                and math.isfinite(message[key])
            }
        elif content == "sticker":
            metadata["sticker"] = {
                key: value
                for key in ("packageId", "stickerId")
                if (value := _text(message, key, at)) is not None
            }
        elif content != "text":
            return InboundEvent(
                type=EventType.IGNORED,
                channel=self.channel,
                reason=f"unknown message type {str(content)[:40]!r}",
            )
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=message_id,
            occurred_at=occurred,
            # A group member who has not added the account may come without a userId:
            # omnikit then records the message on a customer of its own.
            sender=Sender(handles={"line": user} if user else {}),
            text=_text(message, "text", at) if content == "text" else None,
            attachments=attachments,
            metadata=metadata,
        )

    # outbound --------------------------------------------------------------------------

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """Push requests to ``message.to`` (a user, group or room id): images first,
        then the text in parts of at most 5,000 characters, five messages a request."""
        if self._token is None:
            raise ValidationError("line: no channel_access_token is configured for sending")
        if not _RECIPIENT.fullmatch(message.to):
            raise ValidationError(f"line: {message.to[:40]!r} is not a LINE user, group or room id")
        to = message.to[0].upper() + message.to[1:].lower()
        items: list[dict[str, str]] = [
            {"type": "image", "originalContentUrl": url, "previewImageUrl": url}
            for url in message.media
        ]
        if message.text:
            items += [
                {"type": "text", "text": part}
                for part in split_text(message.text, self.capabilities.text_limit)
            ]
        if not items:
            raise ValidationError("line: a message needs text or media")
        headers = {
            "authorization": f"Bearer {self._token}",
            "content-type": "application/json",
        }
        return [
            OutboundPayload(
                method="POST",
                url=f"{self.api_base}/v2/bot/message/push",
                headers=headers,
                body=json.dumps(
                    {"to": to, "messages": items[start : start + _MESSAGES_PER_REQUEST]},
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode(),
            )
            for start in range(0, len(items), _MESSAGES_PER_REQUEST)
        ]

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The id of the first message the push sent (``sentMessages[0].id``)."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        sent = answer.get("sentMessages") if isinstance(answer, dict) else None
        first = sent[0] if isinstance(sent, list) and sent else None
        identifier = first.get("id") if isinstance(first, dict) else None
        return SendResult(
            external_id=str(identifier) if identifier is not None else None,
            http_status=response.status_code,
        )


def _text(item: dict[str, Any], key: str, at: int) -> str | None:
    """``item[key]`` as text, None when absent; ``PayloadError`` for anything else."""
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"line: events[{at}]: {key!r} must be a string, not {value!r}"[:200])
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"line: events[{at}]: {key!r} is not valid Unicode") from None
    return value or None
