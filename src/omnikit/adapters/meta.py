"""Meta's Graph webhooks: WhatsApp (Cloud API), Messenger and Instagram messaging.

All three share Meta's webhook conventions:

- Subscribing: Meta sends ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…``
  and expects the challenge back as plain text when the verify token is the one
  configured (``handshake``).
- Signing: every notification carries ``X-Hub-Signature-256: sha256=<hex
  HMAC-SHA256(app secret, raw body)>``. There is no timestamp in the scheme.
- The body is ``{"object": …, "entry": [...]}``; one request may carry several
  entries, changes and messages, and each becomes an event of its own.
- Sending goes through the Graph API with a bearer access token.

``WhatsAppAdapter`` reads ``entry[].changes[].value`` (``messages``, ``statuses``);
``MessengerAdapter`` and ``InstagramAdapter`` read ``entry[].messaging[]`` (and
``standby[]``). See ``docs/providers/meta.md`` for what each payload becomes.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import JsonValue

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
from omnikit.errors import PayloadError, SendError, SignatureError, ValidationError
from omnikit.model import Attachment, DeliveryStatus

__all__ = ["InstagramAdapter", "MessengerAdapter", "WhatsAppAdapter"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
ACK_BODY = b"EVENT_RECEIVED"

_API_VERSION = re.compile(r"v[0-9]{1,3}\.[0-9]{1,3}")
_NUMERIC_ID = re.compile(r"[0-9]{1,32}")
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]*")
_MAX_CHALLENGE = 256

_WHATSAPP_MEDIA = ("image", "audio", "video", "document", "sticker")
_WHATSAPP_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}
_EXTENSIONS = {
    "video": (".mp4", ".3gp", ".mov"),
    "audio": (".mp3", ".ogg", ".opus", ".aac", ".amr", ".m4a", ".wav"),
    "file": (".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".txt", ".csv", ".zip"),
}


class _MetaAdapter(BaseAdapter):
    """What WhatsApp, Messenger and Instagram share: settings, the subscription
    handshake, the signature, the envelope, the acknowledgement and the Graph API."""

    object_type: ClassVar[str]
    """The ``object`` of the notifications this adapter reads."""
    retry_codes: ClassVar[frozenset[int]]
    """Graph API error codes after which the same request may succeed later (rate
    limits, temporary failures), whatever the HTTP status."""
    undeliverable_codes: ClassVar[frozenset[tuple[int, int | None]]]
    """``(code, error_subcode)`` pairs that say the recipient cannot receive; a None
    subcode matches any."""

    def __init__(
        self,
        *,
        app_secret: str,
        verify_token: str,
        access_token: str | None = None,
        api_version: str = "v21.0",
        graph_url: str = "https://graph.facebook.com",
        name: str | None = None,
    ) -> None:
        label = name if name is not None else self.name
        if not isinstance(label, str) or not label:
            raise ValidationError(f"adapter name {label!r} must be a non-empty string")
        self.name = label
        self._app_secret = _setting(app_secret, "app_secret", label, minimum=16)
        self._verify_token = _setting(verify_token, "verify_token", label)
        self._access_token = (
            None if access_token is None else _setting(access_token, "access_token", label)
        )
        if not isinstance(api_version, str) or not _API_VERSION.fullmatch(api_version):
            raise ValidationError(f"{label}: api_version {api_version!r} must look like 'v21.0'")
        self.api_version = api_version
        parts = urlsplit(graph_url) if isinstance(graph_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(
                f"{label}: graph_url {graph_url!r} must be an http(s) URL such as "
                "'https://graph.facebook.com'"
            )
        self.graph_url = graph_url.rstrip("/")

    # inbound ---------------------------------------------------------------------------------

    def handshake(self, request: InboundRequest) -> Response | None:
        """Answer Meta's subscription challenge with the challenge, as plain text.

        Raises ``SignatureError`` when the verify token is missing or wrong, and
        ``PayloadError`` for a challenge request that is not a ``subscribe`` or has no
        usable challenge. Requests other than a ``GET`` with ``hub.*`` parameters: None.
        """
        params = request.params
        if request.method != "GET" or not any(key.startswith("hub.") for key in params):
            return None
        mode = params.get("hub.mode")
        if mode != "subscribe":
            raise PayloadError(f"{self.name}: hub.mode {str(mode)[:40]!r} is not 'subscribe'")
        if not signatures_match(self._verify_token, params.get("hub.verify_token")):
            raise SignatureError(f"{self.name}: hub.verify_token is missing or wrong")
        challenge = params.get("hub.challenge", "")
        if not challenge or len(challenge) > _MAX_CHALLENGE or not challenge.isprintable():
            raise PayloadError(
                f"{self.name}: hub.challenge must be 1 to {_MAX_CHALLENGE} printable characters"
            )
        return Response(
            headers={"content-type": "text/plain; charset=utf-8"},
            body=challenge.encode("utf-8", "surrogatepass"),
        )

    def verify(self, request: InboundRequest) -> None:
        """Check ``X-Hub-Signature-256`` against the HMAC-SHA256 of the raw body."""
        given = request.header(SIGNATURE_HEADER)
        if given is None:
            raise SignatureError(f"{self.name}: the {SIGNATURE_HEADER} header is missing")
        scheme, _, digest = given.strip().partition("=")
        if scheme.lower() != "sha256" or not digest:
            raise SignatureError(
                f"{self.name}: {SIGNATURE_HEADER} {given[:20]!r} is not 'sha256=<hex digest>'"
            )
        expected = hmac_digest(self._app_secret, request.body)
        if not signatures_match(expected, digest.lower()):
            raise SignatureError(f"{self.name}: signature does not match the body")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The events of every entry; a notification for another ``object`` is one
        ``IGNORED`` event naming it."""
        document = json_of(request, adapter=self.name)
        try:
            body = _obj(document, "the body")
            kind = body.get("object")
            if not isinstance(kind, str) or not kind:
                raise PayloadError("'object' must be a non-empty string")
            if kind != self.object_type:
                return [
                    self._ignored(
                        f"object {kind[:40]!r} is not {self.object_type!r}: "
                        "subscribe that product to its own adapter's URL"
                    )
                ]
            events: list[InboundEvent] = []
            for at, entry in enumerate(_list(body, "entry", "the body", required=True)):
                events.extend(self._entry(_obj(entry, f"entry[{at}]"), f"entry[{at}]"))
            return events
        except PayloadError as error:
            raise PayloadError(f"{self.name}: {error}") from None
        except (ValueError, TypeError) as error:
            # A model refused a value. Its message would quote the value, which may be
            # the customer's words: name the kind of failure only.
            raise PayloadError(
                f"{self.name}: the body holds a value that cannot be recorded "
                f"({type(error).__name__})"
            ) from None

    def _entry(self, entry: dict[str, Any], where: str) -> list[InboundEvent]:
        raise NotImplementedError

    def _ignored(self, reason: str) -> InboundEvent:
        return InboundEvent(type=EventType.IGNORED, channel=self.channel, reason=reason)

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        """200 ``EVENT_RECEIVED``: Meta only needs a fast 2xx."""
        return Response(headers={"content-type": "text/plain; charset=utf-8"}, body=ACK_BODY)

    # outbound --------------------------------------------------------------------------------

    @property
    def sends(self) -> tuple[str, ...]:
        """The adapter's channel when an ``access_token`` is configured to send with."""
        return (self.channel,) if self._access_token is not None else ()

    def refused(self, payload: OutboundPayload, response: httpx.Response) -> SendError:
        """The ``SendError`` for a Graph API error (``{"error": {"message": …, "type":
        …, "code": …, "error_subcode": …, "fbtrace_id": …}}``): ``retryable`` for 429,
        5xx and the ``retry_codes``, ``undeliverable`` for the
        ``undeliverable_codes``."""
        error = super().refused(payload, response)
        found = _answer(response).get("error")
        details = found if isinstance(found, dict) else {}
        code, subcode = _integer(details.get("code")), _integer(details.get("error_subcode"))
        if code is None:
            return error
        if (code, None) in self.undeliverable_codes or (code, subcode) in self.undeliverable_codes:
            error.undeliverable, error.retryable = True, False
        elif code in self.retry_codes:
            error.retryable = True
        return error

    def _post(self, path: str, document: dict[str, Any]) -> OutboundPayload:
        if self._access_token is None:
            raise ValidationError(f"{self.name}: no access_token is configured for sending")
        return OutboundPayload(
            method="POST",
            url=f"{self.graph_url}/{self.api_version}/{path}",
            headers={
                "Authorization": f"Bearer {self._access_token}",
                "Content-Type": "application/json",
            },
            body=json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(),
        )


class WhatsAppAdapter(_MetaAdapter):
    """WhatsApp Business messages through Meta's Cloud API (channel ``whatsapp``).

    Settings: ``app_secret`` (the Meta app's secret, for signatures), ``verify_token``
    (chosen when subscribing the webhook), ``access_token`` and ``phone_number_id``
    (the business number messages are sent from), ``api_version``, ``graph_url``.
    Senders are recognised by phone number (``wa_id``) and, where Meta sends one, by
    their business-scoped user id as external id ``whatsapp``.
    """

    name = "whatsapp"
    channel = "whatsapp"
    object_type = "whatsapp_business_account"
    # https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
    retry_codes = frozenset({2, 4, 80007, 130429, 131048, 131056})
    """Service temporarily unavailable (2), too many calls (4, 80007), throughput
    reached (130429), spam rate limit (131048), too many messages to one recipient
    (131056)."""
    undeliverable_codes = frozenset({(131026, None)})
    """Message undeliverable: the number is not on WhatsApp, or its user cannot
    receive business messages (old app, terms not accepted)."""
    capabilities = Capabilities(
        text_limit=4096,
        media=True,
        templates=True,
        session_window=timedelta(hours=24),
        read_receipts=True,
    )

    def __init__(
        self,
        *,
        app_secret: str,
        verify_token: str,
        access_token: str | None = None,
        phone_number_id: str | None = None,
        api_version: str = "v21.0",
        graph_url: str = "https://graph.facebook.com",
        name: str | None = None,
    ) -> None:
        super().__init__(
            app_secret=app_secret,
            verify_token=verify_token,
            access_token=access_token,
            api_version=api_version,
            graph_url=graph_url,
            name=name,
        )
        if phone_number_id is not None and (
            not isinstance(phone_number_id, str) or not _NUMERIC_ID.fullmatch(phone_number_id)
        ):
            raise ValidationError(
                f"{self.name}: phone_number_id {phone_number_id!r} must be the numeric id "
                "of the business phone number (not the number itself)"
            )
        self.phone_number_id = phone_number_id

    # inbound ---------------------------------------------------------------------------------

    def _entry(self, entry: dict[str, Any], where: str) -> list[InboundEvent]:
        events: list[InboundEvent] = []
        for at, change in enumerate(_list(entry, "changes", where, required=True)):
            here = f"{where}.changes[{at}]"
            change = _obj(change, here)
            field = change.get("field")
            if field != "messages":
                events.append(self._ignored(f"field {str(field)[:40]!r} is not recorded"))
                continue
            events.extend(self._value(_obj(change.get("value"), f"{here}.value"), f"{here}.value"))
        return events

    def _value(self, value: dict[str, Any], where: str) -> list[InboundEvent]:
        contacts = [c for c in _list(value, "contacts", where) if isinstance(c, dict)]
        messages = _list(value, "messages", where)
        statuses = _list(value, "statuses", where)
        if not messages and not statuses:
            return [self._ignored("a messages notification without messages or statuses")]
        error = _error(value.get("errors"))
        events = [
            self._message(_obj(m, f"{where}.messages[{at}]"), contacts, error, where, at)
            for at, m in enumerate(messages)
        ]
        events += [
            self._status(_obj(s, f"{where}.statuses[{at}]"), f"{where}.statuses[{at}]")
            for at, s in enumerate(statuses)
        ]
        return events

    def _message(
        self,
        message: dict[str, Any],
        contacts: list[dict[str, Any]],
        value_error: dict[str, JsonValue] | None,
        where: str,
        at: int,
    ) -> InboundEvent:
        here = f"{where}.messages[{at}]"
        identifier = _id(message, "id", here)
        kind = _text(message.get("type")) or "unknown"
        metadata: dict[str, JsonValue] = {}
        text: str | None = None
        attachments: tuple[Attachment, ...] = ()
        content = message.get(kind)
        content = content if isinstance(content, dict) else {}
        if kind == "text":
            text = _text(content.get("body"))
        elif kind in _WHATSAPP_MEDIA:
            text = _text(content.get("caption"))
            media_id = _text(content.get("id"))
            if media_id is not None:
                metadata["media_id"] = media_id
                mime = _text(content.get("mime_type")) or "application/octet-stream"
                filename = _text(content.get("filename")) or media_id
                attachments = (Attachment(name=filename, content_type=mime),)
        elif kind == "location":
            metadata["location"] = {
                key: content[key]
                for key in ("latitude", "longitude", "name", "address", "url")
                if isinstance(content.get(key), str | int | float)
                and not isinstance(content.get(key), bool)
            }
        elif kind == "contacts":
            shared = message.get("contacts")
            metadata["contacts"] = shared if isinstance(shared, list) else []
        elif kind == "interactive":
            reply = content.get(_text(content.get("type")) or "")
            if isinstance(reply, dict):
                text = _text(reply.get("title"))
                if _text(reply.get("id")) is not None:
                    metadata["reply_id"] = reply["id"]
        elif kind == "button":
            text = _text(content.get("text"))
            if _text(content.get("payload")) is not None:
                metadata["payload"] = content["payload"]
        elif kind == "reaction":
            text = _text(content.get("emoji"))
            if not text:
                return self._ignored("a reaction was removed")
            if _text(content.get("message_id")) is not None:
                metadata["in_reply_to"] = content["message_id"]
        elif kind == "order":
            text = _text(content.get("text")) or None
            metadata["order"] = content
        elif kind != "unsupported":
            return self._ignored(f"message type {kind[:40]!r} is not recorded")
        if kind != "text":
            metadata["type"] = kind
        context = message.get("context")
        if isinstance(context, dict):
            if _text(context.get("id")) is not None:
                metadata["in_reply_to"] = context["id"]
            if context.get("forwarded") is True or context.get("frequently_forwarded") is True:
                metadata["forwarded"] = True
        error = _error(message.get("errors")) or value_error
        if error is not None:
            metadata["error"] = error
        if _text(message.get("group_id")) is not None:
            metadata["group_id"] = message["group_id"]
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=identifier,
            occurred_at=_time(message.get("timestamp"), f"{here}.timestamp", millis=False),
            sender=_whatsapp_sender(message, contacts, here),
            text=text,
            attachments=attachments,
            metadata=metadata,
        )

    def _status(self, status: dict[str, Any], where: str) -> InboundEvent:
        identifier = _id(status, "id", where)
        reported = status.get("status")
        if not isinstance(reported, str) or reported not in _WHATSAPP_STATUSES:
            return self._ignored(f"status {str(reported)[:40]!r} is not tracked")
        metadata: dict[str, JsonValue] = {}
        error = _error(status.get("errors"))
        if error is not None:
            metadata["error"] = error
        return InboundEvent(
            type=EventType.STATUS,
            channel=self.channel,
            external_id=identifier,
            occurred_at=_time(status.get("timestamp"), f"{where}.timestamp", millis=False),
            status=_WHATSAPP_STATUSES[reported],
            metadata=metadata,
        )

    # outbound --------------------------------------------------------------------------------

    @property
    def sends(self) -> tuple[str, ...]:
        """``whatsapp`` when an ``access_token`` and a ``phone_number_id`` are
        configured to send with."""
        return super().sends if self.phone_number_id is not None else ()

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """Cloud API ``/messages`` requests: a template, or the text (split at 4,096
        characters) followed by one request per media URL. ``reply_to`` quotes the
        message answered in the first request.

        Raises ``ValidationError`` without ``access_token`` or ``phone_number_id``, for
        a ``to`` that is not an international phone number, a template without a
        language, a template with media, or a message with nothing to send.
        """
        if self.phone_number_id is None:
            raise ValidationError(f"{self.name}: no phone_number_id is configured for sending")
        to = _wa_number(message.to, self.name)
        documents: list[dict[str, Any]] = []
        if message.template is not None:
            if not message.language:
                raise ValidationError(
                    f"{self.name}: template {message.template!r} needs a language code "
                    "such as 'nl' or 'en_US'"
                )
            if message.media:
                raise ValidationError(f"{self.name}: media cannot be sent with a template")
            template: dict[str, Any] = {
                "name": message.template,
                "language": {"code": message.language},
            }
            if message.template_params:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": p} for p in message.template_params
                        ],
                    }
                ]
            documents.append({"type": "template", "template": template})
        else:
            for part in split_text(message.text or "", self.capabilities.text_limit):
                if part:
                    documents.append({"type": "text", "text": {"preview_url": False, "body": part}})
            for url in message.media:
                kind = _media_kind(url)
                kind = "document" if kind == "file" else kind
                documents.append({"type": kind, kind: {"link": url}})
        if not documents:
            raise ValidationError(f"{self.name}: the message has no text, media or template")
        payloads = []
        for at, content in enumerate(documents):
            document: dict[str, Any] = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
            }
            if at == 0 and message.reply_to:
                document["context"] = {"message_id": message.reply_to}
            payloads.append(self._post(f"{self.phone_number_id}/messages", document | content))
        return payloads

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The ``wamid`` of ``messages[0].id`` in the Cloud API's answer."""
        answer = _answer(response)
        messages = answer.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        identifier = first.get("id") if isinstance(first, dict) else None
        return SendResult(
            external_id=identifier if isinstance(identifier, str) else None,
            http_status=response.status_code,
        )


class _MessagingAdapter(_MetaAdapter):
    """Messenger and Instagram: ``entry[].messaging[]`` in, the Send API out."""

    # https://developers.facebook.com/docs/messenger-platform/error-codes
    retry_codes = frozenset({2, 4, 613, 1200})
    """An unexpected error, retry later (2); rate limits (4, 613); a temporary send
    failure (1200)."""
    undeliverable_codes = frozenset({(551, None), (100, 2018001)})
    """This person isn't available right now (551); no matching user found
    (100, 2018001)."""

    def _entry(self, entry: dict[str, Any], where: str) -> list[InboundEvent]:
        events: list[InboundEvent] = []
        # ``standby`` carries the conversation while another app of the page owns it
        # (handover protocol): the customer's messages are contacts all the same.
        for key in ("messaging", "standby"):
            for at, item in enumerate(_list(entry, key, where)):
                events.extend(
                    self._item(_obj(item, f"{where}.{key}[{at}]"), f"{where}.{key}[{at}]")
                )
        for at, change in enumerate(_list(entry, "changes", where)):
            field = _obj(change, f"{where}.changes[{at}]").get("field")
            events.append(self._ignored(f"field {str(field)[:40]!r} is not recorded"))
        return events

    def _item(self, item: dict[str, Any], where: str) -> list[InboundEvent]:
        at = _time(item.get("timestamp"), f"{where}.timestamp", millis=True)
        if "message" in item:
            return [self._message(item, _obj(item["message"], f"{where}.message"), at, where)]
        if "postback" in item:
            return [self._postback(item, _obj(item["postback"], f"{where}.postback"), at, where)]
        if "delivery" in item:
            delivery = _obj(item["delivery"], f"{where}.delivery")
            mids = _list(delivery, "mids", f"{where}.delivery")
            if not mids:
                return [self._ignored("a delivery receipt without message ids (watermark only)")]
            when = at or _time(
                delivery.get("watermark"), f"{where}.delivery.watermark", millis=True
            )
            return [
                self._status(
                    _str_id(mid, f"{where}.delivery.mids[{n}]"), DeliveryStatus.DELIVERED, when
                )
                for n, mid in enumerate(mids)
            ]
        if "read" in item:
            read = _obj(item["read"], f"{where}.read")
            if read.get("mid") is None:
                return [self._ignored("a read receipt without a message id (watermark only)")]
            return [self._status(_id(read, "mid", f"{where}.read"), DeliveryStatus.READ, at)]
        kind = next((k for k in item if k not in ("sender", "recipient", "timestamp")), "empty")
        return [self._ignored(f"{str(kind)[:40]!r} event is not recorded")]

    def _sender(self, item: dict[str, Any], where: str) -> Sender:
        sender = _obj(item.get("sender"), f"{where}.sender")
        return Sender(handles={self.channel: _id(sender, "id", f"{where}.sender")})

    def _message(
        self, item: dict[str, Any], message: dict[str, Any], at: datetime | None, where: str
    ) -> InboundEvent:
        if message.get("is_echo") is True:
            return self._ignored("an echo of a message the business sent")
        if message.get("is_deleted") is True:
            return self._ignored("the customer deleted a message")
        here = f"{where}.message"
        identifier = _id(message, "mid", here)
        metadata: dict[str, JsonValue] = {}
        raw = _list(message, "attachments", here)
        attachments = tuple(_attachment(a, f"{here}.attachments[{n}]") for n, a in enumerate(raw))
        text = _text(message.get("text"))
        if message.get("is_unsupported") is True:
            metadata["type"] = "unsupported"
        elif text is None and raw and _text(raw[0].get("type")):
            metadata["type"] = raw[0]["type"]
        reply_to = message.get("reply_to")
        if isinstance(reply_to, dict):
            if _text(reply_to.get("mid")) is not None:
                metadata["in_reply_to"] = reply_to["mid"]
            story = reply_to.get("story")
            if isinstance(story, dict) and _text(story.get("id")) is not None:
                metadata["story_id"] = story["id"]
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict) and _text(quick_reply.get("payload")) is not None:
            metadata["payload"] = quick_reply["payload"]
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=identifier,
            occurred_at=at,
            sender=self._sender(item, where),
            text=text,
            attachments=attachments,
            metadata=metadata,
        )

    def _postback(
        self, item: dict[str, Any], postback: dict[str, Any], at: datetime | None, where: str
    ) -> InboundEvent:
        sender = self._sender(item, where)
        identifier = _text(postback.get("mid"))
        if not identifier:
            # Older postbacks have no mid: sender and time identify the tap, so that
            # Meta's retry of the same notification is recorded once.
            if at is None:
                raise PayloadError(f"{where}: a postback needs a 'mid' or a 'timestamp'")
            identifier = f"postback:{sender.handles[self.channel]}:{item['timestamp']}"
        metadata: dict[str, JsonValue] = {"type": "postback"}
        if _text(postback.get("payload")) is not None:
            metadata["payload"] = postback["payload"]
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=identifier,
            occurred_at=at,
            sender=sender,
            text=_text(postback.get("title")),
            metadata=metadata,
        )

    def _status(self, identifier: str, status: DeliveryStatus, at: datetime | None) -> InboundEvent:
        return InboundEvent(
            type=EventType.STATUS,
            channel=self.channel,
            external_id=identifier,
            occurred_at=at,
            status=status,
        )

    # outbound --------------------------------------------------------------------------------

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """Send API ``/me/messages`` requests (``messaging_type`` ``RESPONSE``): the text,
        split at the channel's limit, then one request per media URL.

        Raises ``ValidationError`` without ``access_token``, for an empty or spaced
        recipient id, a template (not supported here) or nothing to send.
        """
        to = message.to.strip()
        if not to or any(char.isspace() for char in to):
            raise ValidationError(f"{self.name}: recipient {message.to!r} is not a user id")
        if message.template is not None:
            raise ValidationError(f"{self.name}: templates are not supported on {self.channel}")
        contents: list[dict[str, Any]] = [
            {"text": part}
            for part in split_text(message.text or "", self.capabilities.text_limit)
            if part
        ]
        contents += [
            {
                "attachment": {
                    "type": _media_kind(url),
                    "payload": {"url": url, "is_reusable": True},
                }
            }
            for url in message.media
        ]
        if not contents:
            raise ValidationError(f"{self.name}: the message has no text or media")
        return [
            self._post(
                "me/messages",
                {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": content},
            )
            for content in contents
        ]

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The ``message_id`` of the Send API's answer."""
        identifier = _answer(response).get("message_id")
        return SendResult(
            external_id=identifier if isinstance(identifier, str) else None,
            http_status=response.status_code,
        )


class MessengerAdapter(_MessagingAdapter):
    """Facebook Messenger conversations with a Page (channel ``messenger``).

    Settings: ``app_secret``, ``verify_token``, ``access_token`` (the Page access
    token), ``api_version``, ``graph_url``. Senders are recognised by their page-scoped
    id (PSID) as handle ``messenger``.
    """

    name = "messenger"
    channel = "messenger"
    object_type = "page"
    capabilities = Capabilities(
        text_limit=2000,
        media=True,
        session_window=timedelta(hours=24),
        read_receipts=True,
    )


class InstagramAdapter(_MessagingAdapter):
    """Instagram direct messages with a professional account (channel ``instagram``).

    Settings as for Messenger; ``access_token`` is the token of the Page linked to
    the account. Senders are recognised by their Instagram-scoped id (IGSID) as handle
    ``instagram``.
    """

    name = "instagram"
    channel = "instagram"
    object_type = "instagram"
    capabilities = Capabilities(
        text_limit=1000,
        media=True,
        session_window=timedelta(hours=24),
        read_receipts=True,
    )


# reading Meta's JSON -----------------------------------------------------------------------


def _setting(value: object, what: str, adapter: str, *, minimum: int = 1) -> str:
    if not isinstance(value, str) or len(value) < minimum or value != value.strip():
        raise ValidationError(
            f"{adapter}: {what} must be a string of at least {minimum} characters "
            "without surrounding spaces"
        )
    return value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object, not {type(value).__name__}")
    return value


def _list(container: dict[str, Any], key: str, where: str, *, required: bool = False) -> list[Any]:
    value = container.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{where}.{key} must be a list, not {type(value).__name__}")
    return value


def _text(value: Any) -> str | None:
    """A string field of the content, or None when absent or of another type."""
    return value if isinstance(value, str) else None


def _str_id(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 512:
        raise PayloadError(f"{where} must be a non-empty id, not {str(value)[:40]!r}")
    return value


def _id(container: dict[str, Any], key: str, where: str) -> str:
    return _str_id(container.get(key), f"{where}.{key}")


def _time(value: Any, where: str, *, millis: bool) -> datetime | None:
    """Unix seconds (WhatsApp, a string) or milliseconds (Messenger, a number)."""
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PayloadError(f"{where} {str(value)[:40]!r} is not a Unix time")
    try:
        return datetime.fromtimestamp(value / 1000 if millis else value, UTC)
    except (ValueError, OverflowError, OSError):
        raise PayloadError(f"{where} {str(value)[:40]!r} is not a Unix time") from None


def _error(errors: Any) -> dict[str, JsonValue] | None:
    """The first of Meta's ``errors``: code, title, message, details."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None
    first = errors[0]
    error: dict[str, JsonValue] = {}
    for key in ("code", "title", "message"):
        value = first.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            error[key] = value
    data = first.get("error_data")
    if isinstance(data, dict) and isinstance(data.get("details"), str):
        error["details"] = data["details"]
    return error or None


def _whatsapp_sender(message: dict[str, Any], contacts: list[dict[str, Any]], where: str) -> Sender:
    """The sender's phone number, profile name and business-scoped user id.

    ``from`` is the sender's number (``wa_id``); a user with a WhatsApp username may
    come with only a business-scoped user id (``user_id``), which is then the
    identifier: it is recorded as external id ``whatsapp`` next to the number.
    """
    number = _digits(message.get("from"))
    user_id = _text(message.get("from_user_id"))
    if number is None and _text(message.get("from")):  # a user id where the number would be
        user_id = user_id or message["from"]
    contact: dict[str, Any] = {}
    for candidate in contacts:
        if (number and candidate.get("wa_id") == number) or (
            user_id and candidate.get("user_id") == user_id
        ):
            contact = candidate
            break
    else:
        if len(contacts) == 1:
            contact = contacts[0]
    number = number or _digits(contact.get("wa_id"))
    user_id = user_id or _text(contact.get("user_id"))
    if not number and not user_id:
        raise PayloadError(f"{where}: the message has no sender ('from')")
    profile = contact.get("profile")
    name = _text(profile.get("name")) if isinstance(profile, dict) else None
    return Sender(
        phone=f"+{number}" if number else None,
        external_ids={"whatsapp": user_id} if user_id else {},
        name=name or None,
    )


def _digits(value: Any) -> str | None:
    """A WhatsApp number (``wa_id``): ASCII digits only."""
    return value if isinstance(value, str) and value.isascii() and value.isdigit() else None


def _attachment(value: Any, where: str) -> Attachment:
    attachment = _obj(value, where)
    kind = _text(attachment.get("type")) or "file"
    payload = attachment.get("payload")
    url = _text(payload.get("url")) if isinstance(payload, dict) else None
    name = kind
    if url:
        last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if "." in last and last.isprintable() and len(last) <= 200:
            name = last
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Attachment(name=name, content_type=content_type, url=url)


def _integer(value: Any) -> int | None:
    """An error code: an integer (not a boolean), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except (ValueError, RecursionError):
        return {}
    return answer if isinstance(answer, dict) else {}


def _media_kind(url: str) -> str:
    """``image``, ``video``, ``audio`` or ``file``, from the URL's file extension."""
    path = urlsplit(url).path.lower()
    for kind, extensions in _EXTENSIONS.items():
        if path.endswith(extensions):
            return kind
    return "image"


def _wa_number(to: str, adapter: str) -> str:
    """An international number as the Cloud API wants it: digits only, no ``+``."""
    if not _PHONE.fullmatch(to.strip()):
        raise ValidationError(
            f"{adapter}: recipient {to!r} is not an international phone number such as "
            "'+31612345678'"
        )
    digits = re.sub(r"[^0-9]", "", to)
    if not to.strip().startswith("+") and digits.startswith("0"):
        raise ValidationError(
            f"{adapter}: recipient {to!r} has no country code; write it as '+31612345678'"
        )
    if not 7 <= len(digits) <= 15:
        raise ValidationError(f"{adapter}: recipient {to!r} must have 7 to 15 digits")
    return digits
