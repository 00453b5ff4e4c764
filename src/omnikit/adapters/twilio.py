"""Twilio: SMS, MMS and WhatsApp (Programmable Messaging) and phone calls (Voice).

Twilio posts webhooks as ``application/x-www-form-urlencoded`` forms and signs each
with ``X-Twilio-Signature``: base64(HMAC-SHA1(auth token, URL + the form's parameters
sorted by name, each name followed by its value)). A JSON body is signed through the
URL instead: Twilio adds ``bodySHA256=<hex SHA-256 of the body>`` to the URL's query
and signs the URL alone. The URL is the one Twilio requested, so behind a proxy the
request must carry the public URL. Verification follows twilio-python's
``RequestValidator``: it accepts the URL with and without its port, because Twilio
signs one or the other. Twilio signs no timestamp, so a captured request can be
replayed; recording is idempotent by the message or call SID.

``TwilioAdapter`` turns messages into ``MESSAGE`` events on ``sms`` or ``whatsapp``
and status callbacks into ``STATUS`` events; ``TwilioVoiceAdapter`` turns an incoming
call into a ``MESSAGE`` of kind ``call`` on ``phone`` and answers it with TwiML, and
its status callback into a ``STATUS`` carrying the call's duration and outcome. See
``docs/providers/twilio.md``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import mimetypes
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

import httpx

from omnikit.adapters.base import (
    MAX_BODY,
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

__all__ = [
    "DEFAULT_ANSWER",
    "EMPTY_TWIML",
    "SIGNATURE_HEADER",
    "TwilioAdapter",
    "TwilioVoiceAdapter",
    "signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
"""The TwiML answer that tells Twilio to do nothing more (no auto-reply)."""

_FORM = "application/x-www-form-urlencoded"
_API_VERSION = "2010-04-01"
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# An SMS sender: an E.164 number, a short code, or an alphanumeric sender ID.
_SMS_SENDER = re.compile(r"\+[1-9][0-9]{1,14}|[0-9]{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_MAX_MEDIA = 10
"""Twilio takes at most ten media URLs per message (and sends at most ten)."""

_MESSAGE_STATUS = {
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
# Twilio's REST error codes (https://www.twilio.com/docs/api/errors) that say the
# address itself cannot receive: an invalid To number (21211; 21217 for calls), an
# opted-out recipient (21610), a To that is not a mobile number (21614).
_UNDELIVERABLE = frozenset({21211, 21217, 21610, 21614})
_TOO_MANY_REQUESTS = 20429

_CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer"}
    | {"failed", "canceled"}
)


def _keypad(word: str) -> str:
    """``word`` typed on a phone keypad: how Twilio turns ANONYMOUS into +266696687."""
    keys = {"abc": "2", "def": "3", "ghi": "4", "jkl": "5"} | {"mno": "6", "pqrs": "7"}
    keys |= {"tuv": "8", "wxyz": "9"}
    return "+" + "".join(next(d for k, d in keys.items() if c in k) for c in word)


_WITHHELD_WORDS = ("anonymous", "restricted", "unknown", "unavailable", "blocked", "private")
_WITHHELD = frozenset(_WITHHELD_WORDS) | {_keypad(w) for w in _WITHHELD_WORDS}
"""Caller IDs that name no one: the words carriers send for a withheld number, and
the numbers Twilio makes of them (ANONYMOUS → +266696687, UNAVAILABLE → +86282452253,
RESTRICTED → +7378742833, BLOCKED → +2562533)."""


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]] = ()) -> str:
    """Twilio's ``X-Twilio-Signature`` of a request to ``url`` with form ``params``.

    The URL, then each parameter name in sorted order followed by its values (sorted,
    each once), HMAC-SHA1 under ``auth_token``, base64: exactly as twilio-python's
    ``RequestValidator.compute_signature``. A JSON request has no ``params`` (its body
    is covered by ``bodySHA256`` in ``url``).
    """
    return hmac_digest(auth_token, (url + _params_text(params)).encode("utf-8"), "sha1", "base64")


def _params_text(params: Sequence[tuple[str, str]]) -> str:
    """The parameters as the signature covers them: names sorted, each followed by its
    values, sorted and each once."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    return "".join(name + v for name in sorted(values) for v in sorted(values[name]))


def _url_variants(url: str) -> tuple[str, ...]:
    """``url`` without its port and with it (the scheme's default port when it has
    none): Twilio signs either form, as twilio-python's validator allows."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return (url,)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostport = netloc.rpartition("@")
    head, colon, port = hostport.rpartition(":")
    if colon and port.isdigit() and "]" not in port:
        host = head
    else:
        host, port = hostport, ""
    default = "443" if scheme.lower() == "https" else "80"
    prefix = f"{scheme}://{userinfo}{at}"
    return (f"{prefix}{host}{tail}", f"{prefix}{host}:{port or default}{tail}")


def _content_type(request: InboundRequest) -> str:
    return (request.header("content-type") or "").split(";")[0].strip().lower()


@functools.lru_cache(maxsize=64)
def _pairs(text: str, adapter: str) -> tuple[tuple[str, str], ...]:
    """The name/value pairs of a form body; ``PayloadError`` when malformed.

    Cached: ``verify`` and ``parse`` read the same body one after the other.
    """
    # The reasons leave out parse_qsl's messages: they quote the field, message text and all.
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except UnicodeDecodeError:
        reason = "a percent-escape that is not UTF-8"
    except ValueError:
        reason = "a field without '='"
    else:
        return tuple(pairs)
    raise PayloadError(f"{adapter}: body is not a valid form ({reason})")


def _text(fields: dict[str, str], key: str, adapter: str) -> str:
    value = fields.get(key, "").strip()
    if not value:
        raise PayloadError(f"{adapter}: required field {key!r} is missing or empty")
    return value


def _check(value: Any, pattern: re.Pattern[str], what: str, rule: str) -> str:
    """``value`` if it is a string matching ``pattern``; ``ValidationError`` naming
    ``what`` (``"twilio setting account_sid"``) and the ``rule`` otherwise."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shown = "***" if what.endswith("auth_token") else repr(value)[:60]
        raise ValidationError(f"{what} {shown} must be {rule}")
    return value


def _url(value: Any, what: str) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError(f"{what} {value!r} must be an http(s) URL")
    return str(value).rstrip("/")


class _Twilio(BaseAdapter):
    """What the messaging and the voice adapter share: settings, verification,
    reading the parameters, and the REST API's authentication."""

    resource: ClassVar[str]
    """The REST resource ``render`` posts to: ``Messages`` or ``Calls``."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None,
        status_callback: str | None,
        api_base: str,
    ) -> None:
        self.account_sid = _check(
            account_sid, _ACCOUNT_SID, f"{self.name} setting account_sid", "AC + 32 hex digits"
        )
        self._auth_token = _check(
            auth_token, _AUTH_TOKEN, f"{self.name} setting auth_token", "32 hex digits"
        )
        self.from_number = from_number
        self.status_callback = (
            None
            if status_callback is None
            else _url(status_callback, f"{self.name} setting status_callback")
        )
        self.api_base = _url(api_base, f"{self.name} setting api_base")

    # inbound -----------------------------------------------------------------------------

    def verify(self, request: InboundRequest) -> None:
        """Raise ``SignatureError`` unless Twilio signed ``request`` for this account.

        A form is signed with its parameters; a JSON body must be covered by a
        ``bodySHA256`` in the URL that matches it. A validly signed request whose
        ``AccountSid`` is missing or another account's is refused too: it is not ours.
        """
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise SignatureError(f"{self.name}: the {SIGNATURE_HEADER} header is required")
        text = _params_text(self._signed_params(request))
        urls = (request.url, *_url_variants(request.url))
        if not any(
            signatures_match(
                hmac_digest(self._auth_token, (url + text).encode("utf-8"), "sha1", "base64"),
                given,
            )
            for url in dict.fromkeys(urls)
        ):
            raise SignatureError(
                f"{self.name}: {SIGNATURE_HEADER} does not match the URL and parameters "
                "(is the request's URL the public URL Twilio called?)"
            )
        account = self._fields(request).get("AccountSid")
        if account != self.account_sid:
            raise SignatureError(
                f"{self.name}: the request is for account {account!r}, "
                f"not this adapter's {self.account_sid!r}"
            )

    def _signed_params(self, request: InboundRequest) -> Sequence[tuple[str, str]]:
        """The parameters the signature covers (after the body hash of a JSON body)."""
        kind = self._kind(request)
        if kind == "form":
            text = self._body(request)
            try:
                return _pairs(text, self.name)
            except PayloadError as error:
                # what the signature covers cannot be read: it cannot match
                raise SignatureError(f"{error}; it cannot match {SIGNATURE_HEADER}") from None
        if kind == "json":
            query = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
            given = next((value for key, value in query if key == "bodySHA256"), None)
            if given is None:
                raise SignatureError(
                    f"{self.name}: a JSON body is signed through bodySHA256 in the URL, "
                    "and the URL has none"
                )
            if not signatures_match(hashlib.sha256(request.body).hexdigest(), given):
                raise SignatureError(f"{self.name}: the body does not match its bodySHA256")
        return []

    def _kind(self, request: InboundRequest) -> str:
        """``query`` (a GET), ``form`` or ``json``; ``PayloadError`` for anything else."""
        if request.method == "GET":
            return "query"
        if request.method != "POST":
            raise PayloadError(f"{self.name}: method {request.method[:20]!r} is not GET or POST")
        kind = _content_type(request)
        if kind == _FORM:
            return "form"
        if kind == "application/json":
            return "json"
        raise PayloadError(
            f"{self.name}: content type {kind or 'none'!r} is neither {_FORM} nor application/json"
        )

    def _body(self, request: InboundRequest) -> str:
        if len(request.body) > MAX_BODY:
            raise PayloadError(f"{self.name}: body of {len(request.body)} bytes is over 1 MiB")
        try:
            return request.body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise PayloadError(f"{self.name}: body is not UTF-8 ({error})") from None

    def _fields(self, request: InboundRequest) -> dict[str, str]:
        """Twilio's parameters by name (the first value of each): from the form body,
        the JSON object, or for a GET the URL's query."""
        kind = self._kind(request)
        pairs: Sequence[tuple[str, str]]
        if kind == "query":
            pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        elif kind == "form":
            pairs = _pairs(self._body(request), self.name)
        else:
            pairs = self._json_pairs(request)
        fields: dict[str, str] = {}
        for key, value in pairs:
            fields.setdefault(key, value)
        return fields

    def _json_pairs(self, request: InboundRequest) -> list[tuple[str, str]]:
        document = json_of(request, adapter=self.name)
        if not isinstance(document, dict):
            raise PayloadError(f"{self.name}: a JSON body must be an object of Twilio's fields")
        pairs = []
        for key, value in document.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise PayloadError(
                    f"{self.name}: JSON field {key[:40]!r} must be a string or a number"
                )
            pairs.append((key, str(value)))
        return pairs

    # outbound ----------------------------------------------------------------------------

    def _payload(self, fields: list[tuple[str, str]]) -> OutboundPayload:
        """A POST of ``fields`` to the account's ``resource``, with basic auth."""
        if self.status_callback is not None:
            fields = [*fields, ("StatusCallback", self.status_callback)]
        credentials = f"{self.account_sid}:{self._auth_token}".encode()
        return OutboundPayload(
            method="POST",
            url=f"{self.api_base}/{_API_VERSION}/Accounts/{self.account_sid}/{self.resource}.json",
            headers={
                "authorization": "Basic " + base64.b64encode(credentials).decode(),
                "content-type": _FORM,
            },
            body=urlencode(fields).encode(),
        )

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            answer = response.json()
        except (ValueError, RecursionError):
            return {}
        return answer if isinstance(answer, dict) else {}

    def refused(self, payload: OutboundPayload, response: httpx.Response) -> SendError:
        """The ``SendError`` for Twilio's error answer (``{"code": 21211, "message":
        …, "more_info": …, "status": 400}``): ``undeliverable`` for an invalid, opted-out
        or non-mobile To number, ``retryable`` for 429, 5xx and code 20429."""
        error = super().refused(payload, response)
        code = self._answer(response).get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            return error
        if code == _TOO_MANY_REQUESTS:
            error.retryable = True
        elif code in _UNDELIVERABLE:
            error.undeliverable, error.retryable = True, False
        return error


class TwilioAdapter(_Twilio):
    """SMS, MMS and WhatsApp through Twilio Programmable Messaging.

    ``account_sid`` and ``auth_token`` are the account's credentials (the token signs
    webhooks and authenticates sends). Outbound messages go from ``from_number`` (SMS:
    an E.164 number, a short code or an alphanumeric sender ID) or ``whatsapp_from``
    (WhatsApp: an E.164 number), or, when ``messaging_service_sid`` is set, from the
    Messaging Service's sender pool. ``status_callback`` is the URL Twilio posts
    delivery statuses to.
    """

    name = "twilio"
    channel = "sms"
    resource = "Messages"
    capabilities = Capabilities(text_limit=1600, media=True, templates=True, read_receipts=True)

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        whatsapp_from: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        api_base: str = "https://api.twilio.com",
    ) -> None:
        super().__init__(
            account_sid=account_sid,
            auth_token=auth_token,
            from_number=None
            if from_number is None
            else _check(
                from_number,
                _SMS_SENDER,
                f"{self.name} setting from_number",
                "an E.164 number, a short code or an alphanumeric sender ID",
            ),
            status_callback=status_callback,
            api_base=api_base,
        )
        if isinstance(whatsapp_from, str):
            whatsapp_from = whatsapp_from.removeprefix("whatsapp:")
        self.whatsapp_from = (
            None
            if whatsapp_from is None
            else _check(
                whatsapp_from, _E164, f"{self.name} setting whatsapp_from", "an E.164 number"
            )
        )
        self.messaging_service_sid = (
            None
            if messaging_service_sid is None
            else _check(
                messaging_service_sid,
                _SERVICE_SID,
                f"{self.name} setting messaging_service_sid",
                "MG + 32 hex digits",
            )
        )

    @property
    def sends(self) -> tuple[str, ...]:
        """``sms`` with a ``from_number``, ``whatsapp`` with a ``whatsapp_from``; both
        with a ``messaging_service_sid``."""
        service = self.messaging_service_sid is not None
        channels = [("sms", service or self.from_number is not None)]
        channels.append(("whatsapp", service or self.whatsapp_from is not None))
        return tuple(channel for channel, ready in channels if ready)

    def recipient(self, channel: str, value: str) -> str:
        """``whatsapp:+31612345678`` for a number on ``whatsapp``; the number itself on
        ``sms``. Raises ``ValidationError`` for a channel not in ``sends``."""
        self._sends_on(channel)
        number = value.removeprefix("whatsapp:")
        return f"whatsapp:{number}" if channel == "whatsapp" else number

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """An incoming message (``MESSAGE``) or a status callback (``STATUS``)."""
        fields = self._fields(request)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
        if not sid:
            raise PayloadError(f"{self.name}: required field 'MessageSid' is missing or empty")
        status = fields.get("MessageStatus")
        channel = self._channel(fields, both=status is not None)
        if channel is None:
            address = fields.get("From", "")
            return [
                InboundEvent(
                    type=EventType.IGNORED,
                    channel=self.channel,
                    external_id=sid,
                    reason=f"Twilio channel {address.partition(':')[0][:20]!r} is not supported",
                )
            ]
        if status is not None:
            return [self._status(fields, sid, status, channel)]
        return [self._message(fields, sid, channel)]

    def _channel(self, fields: dict[str, str], *, both: bool) -> str | None:
        """``whatsapp`` for ``whatsapp:`` addresses, ``sms`` for plain ones, None for
        another Twilio channel (``rcs:``, ``messenger:``). A status callback names our
        sender in ``From``, so both addresses count there."""
        addresses = [fields.get("From", "")] + ([fields.get("To", "")] if both else [])
        prefixes = {a.partition(":")[0].lower() for a in addresses if ":" in a}
        if fields.get("ChannelPrefix"):
            prefixes.add(fields["ChannelPrefix"].lower())
        if not prefixes:
            return "sms"
        return "whatsapp" if prefixes == {"whatsapp"} else None

    def _message(self, fields: dict[str, str], sid: str, channel: str) -> InboundEvent:
        phone = _text(fields, "From", self.name).removeprefix("whatsapp:")
        metadata: dict[str, Any] = {}
        if fields.get("To"):
            metadata["to"] = fields["To"].removeprefix("whatsapp:")
        if fields.get("OriginalRepliedMessageSid"):
            metadata["in_reply_to"] = fields["OriginalRepliedMessageSid"]
        if fields.get("Latitude") and fields.get("Longitude"):
            metadata["location"] = self._location(fields)
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=channel,
            external_id=sid,
            sender=Sender(phone=phone, name=fields.get("ProfileName") or None),
            text=fields.get("Body") or None,
            attachments=self._media(fields),
            metadata=metadata,
        )

    def _media(self, fields: dict[str, str]) -> tuple[Attachment, ...]:
        count = fields.get("NumMedia", "0") or "0"
        if not count.isascii() or not count.isdigit() or int(count) > _MAX_MEDIA:
            raise PayloadError(
                f"{self.name}: NumMedia {count[:20]!r} is not a number from 0 to {_MAX_MEDIA}"
            )
        attachments = []
        for index in range(int(count)):
            url = _text(fields, f"MediaUrl{index}", self.name)
            kind = fields.get(f"MediaContentType{index}") or "application/octet-stream"
            stem = urlsplit(url).path.rstrip("/").rpartition("/")[2] or f"media-{index}"
            extension = mimetypes.guess_extension(kind.split(";")[0].strip()) or ""
            attachments.append(Attachment(name=stem + extension, content_type=kind, url=url))
        return tuple(attachments)

    def _location(self, fields: dict[str, str]) -> dict[str, Any]:
        try:
            latitude, longitude = float(fields["Latitude"]), float(fields["Longitude"])
        except ValueError:
            latitude = longitude = math.nan
        if not (math.isfinite(latitude) and math.isfinite(longitude)):
            raise PayloadError(
                f"{self.name}: location {fields['Latitude'][:20]!r}, "
                f"{fields['Longitude'][:20]!r} is not a pair of numbers"
            )
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        for key in ("Address", "Label"):
            if fields.get(key):
                location[key.lower()] = fields[key]
        return location

    def _status(self, fields: dict[str, str], sid: str, status: str, channel: str) -> InboundEvent:
        reported = _MESSAGE_STATUS.get(status)
        if reported is None:
            return InboundEvent(
                type=EventType.IGNORED,
                channel=channel,
                external_id=sid,
                reason=f"message status {status[:30]!r} is not one omnikit tracks",
            )
        metadata: dict[str, Any] = {}
        code = fields.get("ErrorCode", "")
        if code:
            metadata["error_code"] = int(code) if code.isascii() and code.isdigit() else code
        if fields.get("ErrorMessage"):
            metadata["error"] = fields["ErrorMessage"]
        return InboundEvent(
            type=EventType.STATUS,
            channel=channel,
            external_id=sid,
            status=reported,
            metadata=metadata,
        )

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        """An empty TwiML ``<Response>``: no automatic reply."""
        return Response(headers={"content-type": "text/xml"}, body=EMPTY_TWIML)

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """POSTs to the Messages resource: one per 1,600 characters of text.

        WhatsApp when ``message.to`` starts with ``whatsapp:``. A ``template`` is a
        Content API ``ContentSid`` (``HX…``), filled with ``template_params`` as
        ``ContentVariables`` ``{"1": …, "2": …}``; the template is the whole content.
        MMS carries up to ten media URLs on the first message; WhatsApp one per message.

        Raises ``ValidationError`` when no sender is configured for the channel, for a
        template that is not a ContentSid, or for a message with nothing to send.
        """
        whatsapp = message.to.startswith("whatsapp:")
        head = [("To", message.to), self._sender(whatsapp)]
        if message.template is not None:
            sid = _check(
                message.template,
                _CONTENT_SID,
                f"{self.name}: template",
                "a Content API ContentSid (HX + 32 hex digits)",
            )
            fields = [*head, ("ContentSid", sid)]
            if message.template_params:
                variables = {str(i): p for i, p in enumerate(message.template_params, 1)}
                fields.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
            return [self._payload(fields)]
        parts = split_text(message.text, self.capabilities.text_limit) if message.text else []
        media = list(message.media)
        if not parts and not media:
            raise ValidationError(f"{self.name}: message to {message.to!r} has no text or media")
        if not whatsapp and len(media) > _MAX_MEDIA:
            raise ValidationError(
                f"{self.name}: {len(media)} media URLs; an MMS carries at most {_MAX_MEDIA}"
            )
        first_media = media[:1] if whatsapp else media
        messages = [[("Body", part)] for part in parts] or [[]]
        messages[0] += [("MediaUrl", url) for url in first_media]
        if whatsapp:
            messages += [[("MediaUrl", url)] for url in media[1:]]
        return [self._payload(head + fields) for fields in messages]

    def _sender(self, whatsapp: bool) -> tuple[str, str]:
        if self.messaging_service_sid is not None:
            return ("MessagingServiceSid", self.messaging_service_sid)
        if whatsapp and self.whatsapp_from is not None:
            return ("From", f"whatsapp:{self.whatsapp_from}")
        if not whatsapp and self.from_number is not None:
            return ("From", self.from_number)
        setting = "whatsapp_from" if whatsapp else "from_number"
        raise ValidationError(
            f"{self.name}: set {setting} or messaging_service_sid to send "
            f"{'WhatsApp' if whatsapp else 'SMS'} messages"
        )

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The Message's ``sid`` and ``status`` from Twilio's JSON answer."""
        answer = self._answer(response)
        sid = answer.get("sid")
        status = _MESSAGE_STATUS.get(str(answer.get("status")), DeliveryStatus.QUEUED)
        return SendResult(
            external_id=sid if isinstance(sid, str) and sid else None,
            status=status,
            http_status=response.status_code,
        )


DEFAULT_ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    "<Say>Thank you for calling. Please hold the line.</Say>"
    '<Pause length="10"/></Response>'
)
"""What ``TwilioVoiceAdapter`` answers an incoming call unless ``answer`` is set."""


class TwilioVoiceAdapter(_Twilio):
    """Phone calls through Twilio Programmable Voice.

    ``account_sid`` and ``auth_token`` as for ``TwilioAdapter``; ``from_number`` is the
    caller ID of outbound calls. ``answer`` is the TwiML every incoming call gets (the
    default greets and holds; set it to ``<Dial>`` or ``<Enqueue>`` the caller).
    ``voice`` and ``language`` are the ``<Say>`` attributes of outbound calls.
    """

    name = "twilio_voice"
    channel = "phone"
    resource = "Calls"
    capabilities = Capabilities(text_limit=3000, media=False)
    """3,000 characters of speech: Polly voices' limit for one ``<Say>``, and with the
    TwiML around it within the 4,000 characters a call's ``Twiml`` may have."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        answer: str = DEFAULT_ANSWER,
        voice: str | None = None,
        language: str | None = None,
        status_callback: str | None = None,
        api_base: str = "https://api.twilio.com",
    ) -> None:
        super().__init__(
            account_sid=account_sid,
            auth_token=auth_token,
            from_number=None
            if from_number is None
            else _check(from_number, _E164, f"{self.name} setting from_number", "an E.164 number"),
            status_callback=status_callback,
            api_base=api_base,
        )
        if not isinstance(answer, str):
            raise ValidationError(f"twilio_voice setting answer must be TwiML text, not {answer!r}")
        try:
            root = ElementTree.fromstring(answer)
        except ElementTree.ParseError as error:
            raise ValidationError(f"twilio_voice setting answer is not XML ({error})") from None
        if root.tag != "Response":
            raise ValidationError(
                f"twilio_voice setting answer must have a <Response> root, not <{root.tag}>"
            )
        self.answer = answer
        for setting, value in (("voice", voice), ("language", language)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValidationError(f"twilio_voice setting {setting} {value!r} must be text")
        self.voice = voice
        self.language = language

    @property
    def sends(self) -> tuple[str, ...]:
        """``phone`` when a ``from_number`` is configured to call from."""
        return ("phone",) if self.from_number is not None else ()

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """An incoming call (``MESSAGE`` of kind ``call``) or a call's status callback
        (``STATUS`` with ``duration`` and ``outcome``)."""
        fields = self._fields(request)
        sid = _text(fields, "CallSid", self.name)
        status = _text(fields, "CallStatus", self.name)
        if status not in _CALL_STATUSES:
            return [
                InboundEvent(
                    type=EventType.IGNORED,
                    channel=self.channel,
                    external_id=sid,
                    reason=f"call status {status[:30]!r} is not one omnikit tracks",
                )
            ]
        incoming = (
            status in ("ringing", "in-progress")
            and not fields.get("CallDuration")
            and not fields.get("CallbackSource")
            and not fields.get("Direction", "inbound").startswith("outbound")
        )
        if incoming:
            return [self._call(fields, sid)]
        metadata: dict[str, Any] = {"outcome": status}
        duration = fields.get("CallDuration", "")
        if duration:
            if not duration.isascii() or not duration.isdigit():
                raise PayloadError(f"{self.name}: CallDuration {duration[:20]!r} is not seconds")
            metadata["duration"] = int(duration)
        return [
            InboundEvent(
                type=EventType.STATUS, channel=self.channel, external_id=sid, metadata=metadata
            )
        ]

    def _call(self, fields: dict[str, str], sid: str) -> InboundEvent:
        caller = fields.get("From", "").strip()
        metadata: dict[str, Any] = {}
        if fields.get("To"):
            metadata["to"] = fields["To"]
        name = fields.get("CallerName") or None
        if caller.lower() in _WITHHELD or not caller:
            metadata["caller"] = "withheld"
            sender = Sender(name=name)
        else:
            sender = Sender(phone=caller, name=name)
        return InboundEvent(
            type=EventType.MESSAGE,
            channel=self.channel,
            external_id=sid,
            sender=sender,
            kind="call",
            metadata=metadata,
        )

    def ack(self, events: Sequence[InboundEvent]) -> Response:
        """``answer`` for an incoming call; an empty TwiML ``<Response>`` otherwise."""
        call = any(event.type is EventType.MESSAGE for event in events)
        body = self.answer.encode() if call else EMPTY_TWIML
        return Response(headers={"content-type": "text/xml"}, body=body)

    def render(self, message: OutboundMessage) -> list[OutboundPayload]:
        """POSTs to the Calls resource that call ``message.to`` and say the text.

        Text over 3,000 characters becomes several calls. Raises ``ValidationError``
        without ``from_number``, without text, or for a ``whatsapp:`` address.
        """
        if self.from_number is None:
            raise ValidationError(f"{self.name}: set from_number to place calls")
        if not message.text:
            raise ValidationError(f"{self.name}: a call to {message.to!r} needs text to say")
        if ":" in message.to:
            raise ValidationError(f"{self.name}: {message.to!r} is not a phone number to call")
        head = [("To", message.to), ("From", self.from_number)]
        return [
            self._payload([*head, ("Twiml", self._twiml(part))])
            for part in self._parts(message.text, self.capabilities.text_limit or 3000)
        ]

    def _twiml(self, text: str) -> str:
        attributes = "".join(
            f" {key}={quoteattr(value)}"
            for key, value in (("voice", self.voice), ("language", self.language))
            if value is not None
        )
        return f"<Response><Say{attributes}>{escape(text)}</Say></Response>"

    def _parts(self, text: str, limit: int) -> list[str]:
        """``text`` split so each part's TwiML stays within Twilio's 4,000 characters
        (escaping ``&`` and ``<`` can make a part longer)."""
        parts = []
        for part in split_text(text, limit):
            if len(self._twiml(part)) <= 4000:
                parts.append(part)
            else:
                parts.extend(self._parts(part, max(1, len(part) // 2)))
        return parts

    def sent(self, payload: OutboundPayload, response: httpx.Response) -> SendResult:
        """The Call's ``sid`` from Twilio's JSON answer."""
        sid = self._answer(response).get("sid")
        return SendResult(
            external_id=sid if isinstance(sid, str) and sid else None,
            http_status=response.status_code,
        )
