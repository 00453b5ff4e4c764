"""Telegram Bot API: updates in through a webhook, replies out through ``sendMessage``.

Telegram posts one JSON ``Update`` per request to the URL given to ``setWebhook``.
It signs neither the body nor the time: the only proof of origin is the
``secret_token`` passed to ``setWebhook``, which Telegram sends back verbatim in the
``X-Telegram-Bot-Api-Secret-Token`` header of every request. Message ids are unique
per chat only, so a message's external id is ``"<chat id>:<message id>"``.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import JsonValue

from omnikit.adapters.base import (
    MAX_RETRY_AFTER,
    BaseAdapter,
    Capabilities,
    EventType,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    OutboundPayload,
    Sender,
    SendResult,
    json_of,
    signatures_match,
    split_text,
)
from omnikit.errors import (
    InvalidIdentityError,
    PayloadError,
    SendError,
    SignatureError,
    ValidationError,
)
from omnikit.identity import normalize_phone
from omnikit.model import Attachment

__all__ = ["SECRET_HEADER", "TelegramAdapter"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
# What the Bot API answers when the chat itself cannot receive from the bot: the user
# blocked the bot or deleted the account, the bot was removed from the group, the
# user never started the bot, or the chat does not exist.
_UNDELIVERABLE = (
    "bot was blocked by the user",
    "user is deactivated",
    "bot was kicked from",
    "bot can't initiate conversation with a user",
    "chat not found",
)
_CAPTION_LIMIT = 1024
"""The most characters a photo's caption carries (``sendPhoto``)."""

# What each kind of file becomes when Telegram does not name its MIME type.
_FILES: dict[str, str] = {
    "document": "application/octet-stream",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "sticker": "image/webp",
}

# Update fields that are not new messages from a customer, with the reason given.
_IGNORED: dict[str, str] = {
    "edited_message": "an edit of a message already received",
    "channel_post": "a post in a channel",
    "edited_channel_post": "an edit of a post in a channel",
    "business_connection": "a business account connection change",
    "business_message": "a message of a connected business account",
    "edited_business_message": "an edit of a business account message",
    "deleted_business_messages": "business account messages deleted",
    "message_reaction": "a reaction to a message",
    "message_reaction_count": "anonymous reaction counts",
    "inline_query": "an inline query",
    "chosen_inline_result": "an inline result chosen",
    "callback_query": "a button press (callback query)",
    "shipping_query": "a shipping query",
    "pre_checkout_query": "a pre-checkout query",
    "purchased_paid_media": "paid media purchased",
    "poll": "a poll's state",
    "poll_answer": "a poll answer",
    "my_chat_member": "the bot's membership in a chat changed",
    "chat_member": "a member's status in a chat changed",
    "chat_join_request": "a request to join a chat",
    "chat_boost": "a chat boost",
    "removed_chat_boost": "a chat boost removed",
}


class TelegramAdapter(BaseAdapter):
    """A Telegram bot's webhook and Bot API.

    ``secret_token`` is the value given to ``setWebhook`` (1 to 256 characters of
    ``A-Z a-z 0-9 _ -``); requests without it are rejected. ``bot_token`` (from
    @BotFather) sends replies; without it the adapter only receives. ``api_base``
    points at another Bot API server (a local ``telegram-bot-api``).
    """

    name = "telegram"
    channel = "telegram"
    capabilities = Capabilities(text_limit=4096, media=True)

    def __init__(
        self,
        *,
        secret_token: str,
        bot_token: str | None = None,
        api_base: str = "https://api.telegram.org",
    ) -> None:
        if not isinstance(secret_token, str) or not _SECRET.fullmatch(secret_token):
            raise ValidationError(
                "telegram secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        if bot_token is not None and (
            not isinstance(bot_token, str) or not re.fullmatch(r"[0-9]+:[A-Za-z0-9_-]+", bot_token)
        ):
            raise ValidationError("telegram bot_token must look like '<bot id>:<secret>'")
        if not isinstance(api_base, str) or not api_base.startswith(("https://", "http://")):
            raise ValidationError(f"telegram api_base {api_base!r} must be an http(s) URL")
        self._secret = secret_token
        self._token = bot_token
        self.api_base = api_base.rstrip("/")

    # inbound ---------------------------------------------------------------------------

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless the request carries the secret token."""
        given = request.header(SECRET_HEADER)
        if given is None:
            raise SignatureError(f"telegram: the {SECRET_HEADER} header is missing")
        if not signatures_match(self._secret, given):
            raise SignatureError(f"telegram: {SECRET_HEADER} does not match the secret_token")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """The one event an ``Update`` carries: a ``MESSAGE`` for a new message from a
        person, ``IGNORED`` (with the reason) for everything else."""
        update = json_of(request, adapter=self.name)
        if not isinstance(update, dict):
            raise PayloadError("telegram: the body must be a JSON object (an Update)")
        update_id = _integer(update, "update_id", "update")
        message = update.get("message")
        if message is None:
            return [self._ignored(_ignored_reason(update))]
        if not isinstance(message, dict):
            raise PayloadError("telegram: update.message must be an object")
        return [self._message(update_id, message)]

    def _ignored(self, reason: str) -> InboundEvent:
        return InboundEvent(type=EventType.IGNORED, channel=self.channel, reason=reason)

    def _message(self, update_id: int, message: dict[str, Any]) -> InboundEvent:
        message_id = _integer(message, "message_id", "message")
        chat = _object(message, "chat", "message")
        chat_id = _integer(chat, "id", "message.chat")
        date = _integer(message, "date", "message")
        person = message.get("from")
        if person is None:
            return self._ignored("a message without a sender (posted on behalf of a chat)")
        if not isinstance(person, dict):
            raise PayloadError("telegram: message.from must be an object")
        user_id = _integer(person, "id", "message.from")
        if person.get("is_bot") is True:
            return self._ignored("a message from a bot")
        text = _optional_text(message, "text") or _optional_text(message, "caption")
        attachments = _attachments(message)
        metadata: dict[str, JsonValue] = {"update_id": update_id, "chat_id": chat_id}
        chat_type = _optional_text(chat, "type")
        if chat_type is not None:
            metadata["chat_type"] = chat_type
        reply = message.get("reply_to_message")
        if reply is not None:
            if not isinstance(reply, dict):
                raise PayloadError("telegram: message.reply_to_message must be an object")
            replied = _integer(reply, "message_id", "message.reply_to_message")
            metadata["in_reply_to"] = f"{chat_id}:{replied}"
        location = message.get("location")
        if isinstance(location, dict):
            metadata["location"] = {
                key: location[key]
                for key in ("latitude", "longitude")
                if isinstance(location.get(key), int | float)
                and not isinstance(location[key], bool)
                and math.isfinite(location[key])
            }
        contact = message.get("contact")
        phone: str | None = None
        if isinstance(contact, dict):
            shared = _optional_text(contact, "phone_number")
            card: dict[str, JsonValue] = {
                key: value
                for key in ("phone_number", "first_name", "last_name")
                if (value := _optional_text(contact, key)) is not None
            }
            owner = contact.get("user_id")
            if isinstance(owner, int) and not isinstance(owner, bool):
                card["user_id"] = owner
            metadata["contact"] = card
            # Only the sender's own contact (the "share my phone number" button) says
            # something about the sender; another person's card does not.
            # Telegram writes the number in international form, often without the "+";
            # a number that still does not read is left out rather than losing the sender.
            if shared and card.get("user_id") == user_id:
                with contextlib.suppress(InvalidIdentityError):
                    phone = normalize_phone("+" + shared.lstrip("+"))
        if text is None and not attachments and "location" not in metadata and contact is None:
            return self._ignored("a service message or content omnikit does not record")
        username = _optional_text(person, "username")
        names = [_optional_text(person, key) for key in ("first_name", "last_name")]
        sender = Sender(
            external_ids={"telegram": str(user_id)},
            handles={"telegram": username} if username else {},
            name=" ".join(n for n in names if n) or None,
            language=_optional_text(person, "language_code"),
            phone=phone,
        )
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=f"{chat_id}:{message_id}",
            occurred_at=_time(date),
            sender=sender,
            text=text,
            attachments=attachments,
            metadata=metadata,
        )

    # outbound --------------------------------------------------------------------------

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """``sendPhoto`` for each media URL, then ``sendMessage`` for the text in parts of
        at most 4,096 characters. The first photo carries the text as its caption when
        it fits in 1,024 characters. The first request quotes ``reply_to``."""
        if self._token is None:
            raise ValidationError("telegram: no bot_token is configured for sending")
        chat = _chat_id(message.to)
        text = message.text or ""
        calls: list[tuple[str, dict[str, Any]]] = []
        for index, url in enumerate(message.media):
            fields: dict[str, Any] = {"chat_id": chat, "photo": url}
            if index == 0 and text and len(text) <= _CAPTION_LIMIT:
                fields["caption"] = text
                text = ""
            calls.append(("sendPhoto", fields))
        if text:
            for part in split_text(text, self.capabilities.text_limit):
                calls.append(("sendMessage", {"chat_id": chat, "text": part}))
        if not calls:
            raise ValidationError("telegram: a message needs text or media")
        if message.reply_to is not None:
            calls[0][1]["reply_parameters"] = _reply_parameters(message.reply_to, chat)
        return [
            OutboundPayload(
                method="POST",
                url=f"{self.api_base}/bot{self._token}/{method}",
                headers={"content-type": "application/json"},
                body=json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode(),
            )
            for method, fields in calls
        ]

    @property
    def sends(self) -> tuple[str, ...]:
        """``telegram`` when a ``bot_token`` is configured to send with."""
        return (self.channel,) if self._token is not None else ()

    def recipient(self, channel: str, value: str) -> str:
        """``value`` when it is a chat id (a user's numeric id, the customer's
        ``telegram`` external id) or an ``@channelusername``.

        Raises ``ValidationError`` for anything else: a bot cannot start a chat with a
        user by username. Also for a channel not in ``sends``.
        """
        self._sends_on(channel)
        try:
            return str(_chat_id(value))
        except ValidationError:
            raise ValidationError(
                f"telegram: {value[:40]!r} is not a chat id; a bot writes to a user by the "
                "user's numeric id (the customer's 'telegram' external id), not by username"
            ) from None

    def send(self, payload: OutboundPayload, client: httpx.Client) -> SendResult:
        """Send one payload; ``SendError`` (without the bot token in its message) when
        Telegram refuses it."""
        try:
            return super().send(payload, client)
        except SendError as error:
            raise self._redacted(error) from None

    async def asend(self, payload: OutboundPayload, client: httpx.AsyncClient) -> SendResult:
        """``send`` for asyncio."""
        try:
            return await super().asend(payload, client)
        except SendError as error:
            raise self._redacted(error) from None

    def _redacted(self, error: SendError) -> SendError:
        # The Bot API takes the token in the URL path; keep it out of error messages.
        text = str(error).replace(f"bot{self._token}", "bot<token>") if self._token else str(error)
        return SendError(
            text,
            retryable=error.retryable,
            status=error.status,
            retry_after=error.retry_after,
            undeliverable=error.undeliverable,
        )

    def refused(self, payload: OutboundPayload, response: httpx.Response) -> SendError:
        """The ``SendError`` for ``{"ok": false, "error_code": …, "description": …,
        "parameters": {"retry_after": …}}``: ``retry_after`` from the parameters
        (flood control), ``undeliverable`` when the bot was blocked or kicked, the user
        deleted the account or never started the bot, or the chat does not exist."""
        error = super().refused(payload, response)
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            answer = None
        description = answer.get("description") if isinstance(answer, dict) else None
        if isinstance(description, str):
            error = SendError(
                f"telegram: {payload.method} {payload.url} answered {response.status_code}: "
                f"{description[:200]!r}",
                retryable=error.retryable,
                status=error.status,
                retry_after=error.retry_after,
            )
        return _classified(error, response)

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The ``"<chat id>:<message id>"`` of the message sent; ``SendError`` when
        Telegram answers ``{"ok": false}``."""
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description") if isinstance(answer, dict) else None
            refusal = SendError(
                f"telegram: {payload.url.rsplit('/', 1)[-1]} was refused: "
                f"{str(description or response.text)[:200]!r}",
                retryable=False,
                status=response.status_code,
            )
            raise _classified(refusal, response)
        result = answer.get("result")
        external_id = None
        if isinstance(result, dict):
            chat = result.get("chat")
            message_id = result.get("message_id")
            chat_id = chat.get("id") if isinstance(chat, dict) else None
            if isinstance(message_id, int) and isinstance(chat_id, int):
                external_id = f"{chat_id}:{message_id}"
        return SendResult(external_id=external_id, http_status=response.status_code)


def _classified(error: SendError, response: httpx.Response) -> SendError:
    """``error`` with what Telegram's JSON answer adds: the seconds to wait from
    ``parameters.retry_after``, and whether the chat cannot receive."""
    try:
        answer = response.json()
    except (ValueError, RecursionError):
        return error
    if not isinstance(answer, dict):
        return error
    parameters = answer.get("parameters")
    wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if isinstance(wait, int | float) and not isinstance(wait, bool) and math.isfinite(wait):
        error.retry_after = min(max(float(wait), 0.0), MAX_RETRY_AFTER)
        error.retryable = True
    description = answer.get("description")
    if isinstance(description, str) and any(
        reason in description.lower() for reason in _UNDELIVERABLE
    ):
        error.undeliverable, error.retryable = True, False
    return error


def _ignored_reason(update: dict[str, Any]) -> str:
    for key, reason in _IGNORED.items():
        if key in update:
            return f"{key}: {reason}"
    other = sorted(str(key)[:40] for key in update if key != "update_id")
    return f"unknown update type {other[0]!r}" if other else "an update without content"


def _integer(item: dict[str, Any], key: str, where: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"telegram: {where}.{key} must be an integer, not {value!r}"[:200])
    return value


def _object(item: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = item.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"telegram: {where}.{key} must be an object, not {value!r}"[:200])
    return value


def _optional_text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"telegram: {key} must be a string, not {value!r}"[:200])
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"telegram: {key} is not valid Unicode") from None
    return value or None


def _time(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise PayloadError(f"telegram: message.date {seconds!r} is not a time") from None


def _attachments(message: dict[str, Any]) -> tuple[Attachment, ...]:
    """Each file the message carries, by its ``file_id`` (nothing is downloaded)."""
    found: list[Attachment] = []
    photos = message.get("photo")
    if photos is not None:
        if not isinstance(photos, list) or not photos or not isinstance(photos[-1], dict):
            raise PayloadError("telegram: message.photo must be a list of PhotoSize objects")
        # Telegram lists the sizes of one photo, smallest first: keep the largest.
        found.append(_file(photos[-1], "photo", "image/jpeg"))
    for kind, default in _FILES.items():
        item = message.get(kind)
        if item is None:
            continue
        if not isinstance(item, dict):
            raise PayloadError(f"telegram: message.{kind} must be an object")
        if kind == "sticker" and item.get("is_video") is True:
            default = "video/webm"
        elif kind == "sticker" and item.get("is_animated") is True:
            default = "application/x-tgsticker"
        found.append(_file(item, kind, default))
    return tuple(found)


def _file(item: dict[str, Any], kind: str, default: str) -> Attachment:
    file_id = _optional_text(item, "file_id")
    if file_id is None:
        raise PayloadError(f"telegram: message.{kind}.file_id is missing")
    mime = _optional_text(item, "mime_type")
    size = item.get("file_size")
    return Attachment(
        name=file_id,
        content_type=mime or default,
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
    )


def _chat_id(to: str) -> int | str:
    """A chat id as the Bot API takes it: an integer, or ``@channelusername``."""
    text = to.strip()
    if re.fullmatch(r"-?[0-9]{1,20}", text):
        return int(text)
    if re.fullmatch(r"@[A-Za-z0-9_]{4,32}", text):
        return text
    raise ValidationError(f"telegram: {to[:40]!r} is not a chat id or @channelusername")


def _reply_parameters(reply_to: str, chat: int | str) -> dict[str, Any]:
    """``reply_parameters`` for ``"<chat id>:<message id>"`` (or a bare message id)."""
    chat_part, _, message_part = reply_to.rpartition(":")
    if not re.fullmatch(r"[0-9]{1,20}", message_part):
        raise ValidationError(
            f"telegram: reply_to {reply_to[:60]!r} must be '<chat id>:<message id>'"
        )
    parameters: dict[str, Any] = {"message_id": int(message_part)}
    if chat_part and _chat_id(chat_part) != chat:
        parameters["chat_id"] = _chat_id(chat_part)
    return parameters
