"""Checks on what callers pass to the facade, each raising a clear ``ValidationError``.

They run before anything touches the store, so a rejected call writes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import JsonValue

from omnikit.errors import ValidationError

__all__ = [
    "MAX_TEXT_BYTES",
    "channel_id",
    "choice",
    "json_object",
    "language",
    "name_id",
    "object_id",
    "optional_text",
    "tags",
    "tags_like",
]

MAX_TEXT_BYTES = 1024 * 1024
"""The most a text, subject or metadata value may take, encoded as UTF-8: 1 MiB."""

_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")

E = TypeVar("E", bound=StrEnum)


def object_id(value: object, what: str) -> str:
    """An id as callers pass it: a non-empty string of at most 64 characters."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 64
        or not value.isascii()
        or not value.isprintable()
    ):
        raise ValidationError(f"{value!r} is not a valid {what} id: expected an id string")
    return value


def optional_text(value: object, what: str, *, max_chars: int | None = None) -> str | None:
    """A text that must be storable: a string, valid Unicode, no NUL, at most 1 MiB."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            f"{what} {value[:40]!r} is not valid Unicode (it holds a lone surrogate)"
        ) from None
    if size > MAX_TEXT_BYTES:
        raise ValidationError(f"{what} is {size:,} bytes; at most {MAX_TEXT_BYTES:,} are allowed")
    if max_chars is not None and len(value) > max_chars:
        raise ValidationError(
            f"{what} {value[:40]!r}… is {len(value)} characters; at most {max_chars} are allowed"
        )
    if "\x00" in value:
        raise ValidationError(f"{what} {value[:40]!r} contains a NUL character")
    return value


def name_id(value: object, what: str) -> str:
    """A lower-case word such as a kind or a purpose tag (``returned_mail``)."""
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a valid {what}: use a lower-case word of letters, digits "
            "and underscores, such as 'returned_mail'"
        )
    return value


def tags(value: object, what: str) -> tuple[str, ...]:
    """One tag or an iterable of tags, each a lower-case word; duplicates dropped."""
    if value is None:
        return ()
    items: Iterable[object] = (value,) if isinstance(value, str) else _iterable(value, what)
    return tuple(dict.fromkeys(name_id(item, what) for item in items))


def _iterable(value: object, what: str) -> Iterable[object]:
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"{what} must be a word or a list of words, not {value!r}")
    return value


def tags_like(value: object, what: str) -> list[object]:
    """The items of a list, tuple or set given where words are expected."""
    return list(_iterable(value, what))


def channel_id(value: object) -> str:
    """A channel id as the registry spells them (``whatsapp``); not checked against it."""
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise ValidationError(
            f"{value!r} is not a channel id: use lower-case letters, digits, '-' and '_'"
        )
    return value


def choice(enum: type[E], value: object, what: str) -> E:
    """A member of ``enum`` from the member or its value."""
    try:
        return enum(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        allowed = ", ".join(member.value for member in enum)
        raise ValidationError(f"{value!r} is not a valid {what}; use one of: {allowed}") from None


def language(value: object) -> str | None:
    """A BCP 47 language tag, primary subtag lower-cased (``NL`` → ``nl``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise ValidationError(f"{value!r} is not a language tag; use for example 'nl' or 'en-GB'")
    primary, _, rest = value.partition("-")
    return primary.lower() + ("-" + rest if rest else "")


def json_object(value: object, what: str) -> dict[str, JsonValue]:
    """A JSON object: string keys, JSON values, at most 1 MiB encoded; a fresh copy."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{what} must be a mapping, not {type(value).__name__}")
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False)
        size = len(encoded.encode("utf-8"))
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{what} is not JSON-serialisable: {error}") from None
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply to store") from None
    if size > MAX_TEXT_BYTES:
        raise ValidationError(f"{what} is {size:,} bytes; at most {MAX_TEXT_BYTES:,} are allowed")
    if "\\u0000" in encoded or "\x00" in encoded:
        raise ValidationError(f"{what} contains a NUL character")
    copy: Any = json.loads(encoded)
    if not all(isinstance(key, str) for key in value):
        raise ValidationError(f"{what} keys must be strings")
    return dict(copy)
