"""One message, rendered for every channel.

A ``Message`` is written once: a subject, a body, an e-mail HTML body, a provider
template with its parameters, overrides for single channels and translations, and
the data its jinja2 templates read. ``render`` turns it into what one channel carries
in one language: the text (checked against the channel's limit), the subject and
HTML for e-mail, the SMS encoding and segment count. Everything here is pure: no
store, no network.

Layers, each field taken from the last one that sets it::

    message → message.channels[channel] → translation → translation.channels[channel]

See ``docs/messages.md``.
"""

from __future__ import annotations

import html as html_
import re
from collections.abc import Mapping
from typing import Any

import pydantic
from pydantic import Field, JsonValue, TypeAdapter, ValidationInfo, field_validator

from omnikit import _validate
from omnikit._templates import render_template, template_variables
from omnikit.errors import MessageTooLongError, TemplateError, ValidationError
from omnikit.model import Channel
from omnikit.model._base import Model, describe

__all__ = ["Message", "Rendered", "SmsInfo", "Variant", "render", "sms_segments"]

_CHANNEL_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Variant(Model):
    """The parts of a message: a whole message, one channel's override, or one
    translation.

    ``subject``, ``body``, ``html`` and each of ``template_params`` are jinja2
    templates; ``template`` is a provider's template name (an approved WhatsApp
    template, a Twilio ContentSid) and is used as written. ``channels`` overrides
    fields for single channels, keyed by channel id; an override has no
    ``channels`` of its own.
    """

    subject: str | None = None
    """The subject line; e-mail carries it, other channels use it only when there is
    no body."""
    body: str | None = None
    """The plain-text body."""
    html: str | None = None
    """The e-mail HTML body; every printed value is HTML-escaped."""
    template: str | None = None
    """A provider template name, not rendered."""
    template_params: tuple[str, ...] = ()
    """The provider template's parameters, each rendered."""
    channels: dict[str, Variant] = Field(default_factory=dict)
    """Overrides for single channels, by channel id (``"sms"``)."""

    @field_validator("channels")
    @classmethod
    def _one_level(cls, value: dict[str, Variant]) -> dict[str, Variant]:
        for channel_id, variant in value.items():
            if not _CHANNEL_ID.fullmatch(channel_id):
                raise ValueError(f"{channel_id!r} is not a channel id")
            if isinstance(variant, Message):
                raise ValueError(f"channels[{channel_id!r}] must be a Variant, not a Message")
            if variant.channels:
                raise ValueError(
                    f"channels[{channel_id!r}] has channels of its own; overrides are one level"
                )
        return value


class Message(Variant):
    """A message in one language with its translations, ready to render for any
    channel.

    ``Message(subject="Order {{ order }}", body="Hi {{ name }}, ...",
    translations={"nl": Variant(body="Hoi {{ name }}, ...")}, data={"order": 1001})``
    """

    language: str = "en"
    """The BCP 47 tag of the top-level fields' language."""
    translations: dict[str, Variant] = Field(default_factory=dict)
    """The other languages, by BCP 47 tag (``"nl"``, ``"en-GB"``)."""
    data: dict[str, JsonValue] = Field(default_factory=dict)
    """The templates' variables; ``render(data=...)`` adds to them and wins."""

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        return _validate.language(value) or value

    @field_validator("translations")
    @classmethod
    def _translations(cls, value: dict[str, Variant], info: ValidationInfo) -> dict[str, Variant]:
        own = info.data.get("language")
        tags: dict[str, Variant] = {}
        seen: dict[str, str] = {}
        for tag, variant in value.items():
            normal = _validate.language(tag) or tag
            if isinstance(own, str) and normal.lower() == own.lower():
                raise ValueError(
                    f"{tag!r} is the message's own language; put that text in the top-level fields"
                )
            if normal.lower() in seen:
                raise ValueError(f"{tag!r} and {seen[normal.lower()]!r} are the same language")
            if isinstance(variant, Message):
                raise ValueError(f"translations[{tag!r}] must be a Variant, not a Message")
            seen[normal.lower()] = tag
            tags[normal] = variant
        return tags


class Rendered(Model):
    """A message as one channel carries it, in one language."""

    channel: str
    """The channel id."""
    language: str
    """The language used: a translation's tag, or the message's own language."""
    subject: str | None
    """The subject line (channels with ``subject``, e-mail), else ``None``."""
    text: str | None
    """The plain-text body, or ``None`` when the message sends only a template."""
    html: str | None
    """The HTML body (channels with ``subject``), else ``None``."""
    template: str | None
    """The provider template name."""
    template_params: tuple[str, ...]
    """The provider template's rendered parameters."""
    length: int
    """Characters in ``text``; 0 without text."""
    encoding: str | None
    """SMS only: ``"GSM-7"`` or ``"UCS-2"``."""
    segments: int | None
    """SMS only: how many SMS segments the text takes."""
    parts: int
    """How many messages the channel carries it in: the segments on SMS, else 1."""


class SmsInfo(Model):
    """How an SMS text is encoded and how many segments it takes."""

    encoding: str
    """``"GSM-7"`` when every character is in the GSM 03.38 alphabet, else ``"UCS-2"``."""
    units: int
    """Septets (GSM-7; an extension character takes two) or UTF-16 code units (UCS-2)."""
    segments: int
    """SMS segments: one up to 160 septets or 70 units, else 153 or 67 per segment."""


# GSM 03.38 default alphabet (3GPP TS 23.038): the basic table without the escape
# code 0x1B, and the characters of the extension table, which take two septets.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")
_GSM = _GSM_BASIC | _GSM_EXTENDED


def sms_segments(text: str) -> SmsInfo:
    """The SMS encoding, size and segment count of ``text``.

    GSM-7 when every character is in the GSM 03.38 default alphabet or its extension
    table (``^{}\\[~]|€`` and form feed take two septets each): one segment holds 160
    septets; a longer text is split into segments of 153, never between an escape
    and its character. Otherwise UCS-2, counted in UTF-16 code units (an emoji takes
    two): one segment holds 70; a longer text is split into segments of 67, never
    inside a surrogate pair. An empty text is GSM-7, 0 units, 1 segment: sending it
    still takes one message. A non-string raises ``ValidationError``.
    """
    if not isinstance(text, str):
        raise ValidationError(f"sms_segments() takes a str, not {type(text).__name__}")
    chars = set(text)
    if chars <= _GSM:
        encoding, single, multi = "GSM-7", 160, 153
        units = len(text) + sum(text.count(char) for char in chars & _GSM_EXTENDED)
        double = _GSM_EXTENDED
    else:
        encoding, single, multi = "UCS-2", 70, 67
        units = len(text.encode("utf-16-le", "surrogatepass")) // 2
        double = frozenset(char for char in chars if ord(char) > 0xFFFF)
    if units <= single:
        segments = 1
    elif units == len(text):  # every character one unit
        segments = -(-units // multi)
    else:
        segments, filled = 1, 0
        for char in text:
            cost = 2 if char in double else 1
            if filled + cost > multi:
                segments, filled = segments + 1, 0
            filled += cost
    return SmsInfo.trusted(encoding=encoding, units=units, segments=segments)


_DATA: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])
_LINE_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")


def render(
    message: Message,
    channel: Channel,
    *,
    language: str | None = None,
    data: Mapping[str, JsonValue] | None = None,
) -> Rendered:
    """``message`` as ``channel`` carries it, in the language closest to ``language``.

    The language is the translation tagged exactly ``language`` (ignoring case), else
    the one tagged with its primary subtag (``"nl"`` for ``"nl-BE"``), else the first
    with the same primary subtag (``"nl-NL"``); the message's own language counts as
    a candidate at each step and comes first. With none of them, or with
    ``language=None``, the top-level fields are used.

    Only the fields the channel carries are rendered (``template_params`` only with a
    ``template``), with ``message.data`` overlaid by ``data``. On a channel with
    ``subject`` (e-mail) the result has the subject, the text and the HTML body (made
    from the text when the message has no ``html``); elsewhere it has the text, which
    is the subject when there is no body. The rendered subject and body are stripped
    of surrounding whitespace.

    Raises ``TemplateError`` for a template that cannot be rendered (the message
    names the field, as ``translations['nl'].channels['sms'].body``),
    ``MessageTooLongError`` for a text over the channel's ``text_limit``, and
    ``ValidationError`` for a subject with a line break, a message with nothing to
    send on the channel, or arguments of the wrong type.
    """
    if not isinstance(message, Message):
        raise ValidationError(f"render() takes a Message, not {type(message).__name__}")
    if not isinstance(channel, Channel):
        raise ValidationError(f"render() takes a Channel, not {type(channel).__name__}")
    if language is not None and not isinstance(language, str):
        raise ValidationError(f"language must be a str, not {type(language).__name__}")
    variables = template_variables(message.data, _data(data) if data else {})
    tag, fields, params = _layers(message, channel.id, language)

    subject_channel = channel.subject
    text = _body(fields.get("body"), variables)
    subject = None
    if subject_channel or text is None:
        subject = _subject(fields.get("subject"), variables)
    html = None
    if subject_channel:
        html = _field(fields.get("html"), variables, html=True)
        if html is None and text is not None:
            html = _html_from_text(text)
    else:
        text, subject = text if text is not None else subject, None
    template = fields["template"][1] if "template" in fields else None
    where, sources = params if template is not None else ("", ())
    rendered_params = tuple(
        _field((f"{where}[{index}]", source), variables) or ""
        for index, source in enumerate(sources)
    )

    if text is None and html is None and template is None:
        missing = (
            "no body, HTML body or provider template (a subject alone is not enough)"
            if subject_channel
            else "no body, subject or provider template"
        )
        raise ValidationError(
            f"the message has nothing to send on channel {channel.id!r}: {missing}"
        )
    length = len(text) if text is not None else 0
    limit = channel.text_limit
    if limit is not None and length > limit:
        raise MessageTooLongError(
            f"the text for channel {channel.id!r} is {length:,} characters long; "
            f"its limit is {limit:,}"
        )
    encoding = segments = None
    parts = 1
    if channel.id == "sms" and text is not None:
        info = sms_segments(text)
        encoding, segments = info.encoding, info.segments
        parts = segments
    return Rendered.trusted(
        channel=channel.id,
        language=tag,
        subject=subject,
        text=text,
        html=html,
        template=template,
        template_params=rendered_params,
        length=length,
        encoding=encoding,
        segments=segments,
        parts=parts,
    )


_Field = tuple[str, str]  # (where it comes from, the template)


def _layers(
    message: Message, channel_id: str, language: str | None
) -> tuple[str, dict[str, _Field], tuple[str, tuple[str, ...]]]:
    """The language used, and each field from the last layer that sets it."""
    tag = message.language
    translation = None
    if language is not None:
        tag, translation = _choose(message, language)
    layers: list[tuple[str, Variant]] = [("", message)]
    override = message.channels.get(channel_id)
    if override is not None:
        layers.append((f"channels[{channel_id!r}].", override))
    if translation is not None:
        prefix = f"translations[{tag!r}]."
        layers.append((prefix, translation))
        override = translation.channels.get(channel_id)
        if override is not None:
            layers.append((f"{prefix}channels[{channel_id!r}].", override))
    fields: dict[str, _Field] = {}
    params: tuple[str, tuple[str, ...]] = ("template_params", ())
    for prefix, variant in layers:
        for name in ("subject", "body", "html", "template"):
            value = getattr(variant, name)
            if value:
                fields[name] = (prefix + name, value)
        if variant.template_params:
            params = (prefix + "template_params", variant.template_params)
    return tag, fields, params


def _choose(message: Message, language: str) -> tuple[str, Variant | None]:
    wanted = language.replace("_", "-").lower()
    primary = wanted.partition("-")[0]
    candidates: list[tuple[str, Variant | None]] = [(message.language, None)]
    candidates.extend(message.translations.items())
    for tag, variant in candidates:
        if tag.lower() == wanted:
            return tag, variant
    for tag, variant in candidates:
        if tag.lower() == primary:
            return tag, variant
    for tag, variant in candidates:
        if tag.lower().partition("-")[0] == primary:
            return tag, variant
    return message.language, None


def _data(data: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    if not isinstance(data, Mapping):
        raise ValidationError(f"data must be a mapping, not {type(data).__name__}")
    try:
        return _DATA.validate_python(data)
    except pydantic.ValidationError as error:
        raise ValidationError(describe("data", error)) from None


def _field(field: _Field | None, variables: dict[str, Any], *, html: bool = False) -> str | None:
    if field is None:
        return None
    path, source = field
    try:
        return render_template(source, variables, html=html)
    except TemplateError as error:
        raise TemplateError(f"{path} {_shown(source)}: {error}") from None


def _body(field: _Field | None, variables: dict[str, Any]) -> str | None:
    text = _field(field, variables)
    return text.strip() or None if text is not None else None


def _subject(field: _Field | None, variables: dict[str, Any]) -> str | None:
    subject = _field(field, variables)
    if subject is None:
        return None
    subject = subject.strip()
    if field is not None and _LINE_BREAK.search(subject):
        raise ValidationError(
            f"{field[0]} {_shown(field[1])}: a subject is one line, "
            f"but it renders with a line break: {_shown(subject)}"
        )
    return subject or None


def _html_from_text(text: str) -> str:
    """A minimal HTML body: paragraphs at blank lines, ``<br>`` at single newlines."""
    paragraphs = _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    body = "".join(
        "<p>" + html_.escape(paragraph).replace("\n", "<br>\n") + "</p>\n"
        for paragraph in paragraphs
        if paragraph.strip()
    )
    return f"<html><body>\n{body}</body></html>\n"


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."
