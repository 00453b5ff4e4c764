"""Identity normalisation: every written form of an identifier becomes one value.

Recognition compares normalised values, never raw strings: ``020 123 4567`` (region
NL), ``+31 20 123 4567`` and ``0031-20-1234567`` are all ``+31201234567``. Each
normaliser is pure and cached, so the second time a raw value is seen costs a
dictionary look-up rather than a parse. Each raises ``InvalidIdentityError`` whose
message names the value and the rule it broke.

- phone: E.164 via ``phonenumbers``. A number written without a country code needs
  a region (the call's ``region=`` or the kit's ``default_region``); no country is
  assumed.
- e-mail: syntax-checked and normalised by ``email-validator`` (no DNS look-ups),
  then lower-cased whole: omnikit treats the local part as case-insensitive, as
  every large mail provider does.
- handle: per channel (``{"twitter": "@JanJ"}`` → ``janj``), ``@`` stripped.
- external id: per system (``{"webshop": "C-1001"}``), kept exactly as written.
- postal address: one upper-case line, punctuation and spacing folded, the country
  last; Dutch postcodes written ``1234 AB``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from omnikit.channels import ChannelRegistry
from omnikit.errors import InvalidIdentityError, ValidationError
from omnikit.model import IdentityKind, PostalAddress

__all__ = [
    "Identifier",
    "collect_identifiers",
    "normalize_address",
    "normalize_email",
    "normalize_external_id",
    "normalize_handle",
    "normalize_phone",
    "normalize_region",
    "phone_key",
]

_CACHE_SIZE = 65_536
_PHONE_CHARS = re.compile(r"\+?[0-9 ()./\-]+")
_SCOPE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_DUTCH_POSTCODE = re.compile(r"\b([1-9][0-9]{3}) ?([A-Z]{2})\b")
_ADDRESS_NOISE = re.compile(r"[^\w\s/-]")
_COUNTRY_NAMES = {
    "NEDERLAND": "NL",
    "NETHERLANDS": "NL",
    "THE NETHERLANDS": "NL",
    "HOLLAND": "NL",
    "POLSKA": "PL",
    "POLAND": "PL",
    "BELGIE": "BE",
    "BELGIUM": "BE",
    "BELGIQUE": "BE",
    "DEUTSCHLAND": "DE",
    "GERMANY": "DE",
    "FRANCE": "FR",
    "UNITED KINGDOM": "GB",
    "UK": "GB",
    "USA": "US",
    "UNITED STATES": "US",
}


class Identifier(NamedTuple):
    """A normalised identifier ready for look-up: ``(kind, scope, value)`` is the key."""

    kind: IdentityKind
    scope: str
    """The channel of a handle, the system of an external id, ``""`` otherwise."""
    value: str
    raw: str


def _require_str(value: object, what: str) -> str:
    """``value`` if it is a string that can be stored: valid Unicode without NUL."""
    if not isinstance(value, str):
        raise InvalidIdentityError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdentityError(
            f"{value[:64]!r} is not valid Unicode (it holds a lone surrogate)"
        ) from None
    if "\x00" in value:
        raise InvalidIdentityError(f"{value[:64]!r} contains a NUL character")
    return value


def normalize_region(region: object) -> str | None:
    """A region code (``"nl"`` → ``"NL"``); ``None`` stays ``None``.

    Raises ``ValidationError`` for a code ``phonenumbers`` does not know.
    """
    if region is None:
        return None
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"{region!r} is not a known region; use an ISO 3166-1 alpha-2 code such as 'NL'"
        )
    return region.upper()


def normalize_phone(raw: str, region: str | None = None) -> str:
    """The E.164 form of a phone number (``"020 123 4567"``, region NL → ``"+31201234567"``).

    Raises ``InvalidIdentityError`` for an empty, malformed or invalid number, and for a
    number without country code when no region is given.
    """
    return _phone(_require_str(raw, "a phone number"), normalize_region(region))


def phone_key(raw: str, region: str | None = None) -> str:
    """The E.164 form of a phone number for looking it up, without the validity check.

    ``normalize_phone`` less its last step, ``phonenumbers.is_valid_number``: the value
    is the same for every number ``normalize_phone`` accepts, and malformed input
    raises the same ``InvalidIdentityError``, but a number that only fails the validity
    check (``+31 12``) is returned rather than refused. Such a number is never stored,
    so a look-up by it finds nothing. Call ``normalize_phone`` on the raw value before
    storing it or reporting that it matched nothing. Cached like ``normalize_phone``,
    in a cache of its own.
    """
    return _phone_key(_require_str(raw, "a phone number"), normalize_region(region))


@lru_cache(maxsize=_CACHE_SIZE)
def _phone(raw: str, region: str | None) -> str:
    number, where = _parse_phone(raw, region)
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentityError(f"{raw!r} is not a valid phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=_CACHE_SIZE)
def _phone_key(raw: str, region: str | None) -> str:
    # Strings only, as in _phone: a cache of parsed numbers would keep objects alive
    # that the garbage collector then traverses again and again.
    number, _ = _parse_phone(raw, region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_phone(raw: str, region: str | None) -> tuple[phonenumbers.PhoneNumber, str]:
    """The parsed number and, for messages, the region it was read in (``" for region NL"``
    or ``""``); raises ``InvalidIdentityError`` for input that cannot be a number."""
    # NFKC leaves ASCII text as it is, and most numbers arrive in ASCII.
    text = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    if not text:
        raise InvalidIdentityError(f"{raw!r} is not a phone number: it is empty")
    if len(text) > 64:
        raise InvalidIdentityError(f"{raw[:64]!r}… is too long for a phone number")
    if not _PHONE_CHARS.fullmatch(text):
        raise InvalidIdentityError(
            f"{raw!r} is not a valid phone number: only digits, one leading '+', spaces "
            "and - . / ( ) may appear"
        )
    if not text.startswith("+") and region is None:
        raise InvalidIdentityError(
            f"{raw!r} has no country code; pass region= (for example region='NL') "
            "or set the kit's default_region"
        )
    where = f" for region {region}" if region and not text.startswith("+") else ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentityError(
            f"{raw!r} is not a valid phone number{where}: {_reason(error)}"
        ) from None
    return number, where


def _reason(error: phonenumbers.NumberParseException) -> str:
    # str() reads "(1) The string supplied did not seem to be a phone number."
    return re.sub(r"^\(\d+\)\s*", "", str(error)).rstrip(".").lower()


def normalize_email(raw: str) -> str:
    """The normalised, lower-cased form of an e-mail address.

    Raises ``InvalidIdentityError`` when the syntax is wrong. No DNS look-up is made.
    """
    return _email(_require_str(raw, "an e-mail address"))


@lru_cache(maxsize=_CACHE_SIZE)
def _email(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidIdentityError(f"{raw!r} is not an e-mail address: it is empty")
    if len(text) > 320:
        raise InvalidIdentityError(f"{raw[:64]!r}… is too long for an e-mail address")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidIdentityError(f"{raw!r} is not a valid e-mail address: {error}") from None
    return result.normalized.lower()


def normalize_handle(channel: str, raw: str) -> str:
    """A user name on one channel: trimmed, leading ``@`` removed, lower-cased."""
    text = unicodedata.normalize("NFKC", _require_str(raw, f"a {channel} handle")).strip()
    text = text.lstrip("@").lower()
    if not text:
        raise InvalidIdentityError(f"{raw!r} is not a {channel} handle: it is empty")
    if len(text) > 256 or any(char.isspace() or not char.isprintable() for char in text):
        raise InvalidIdentityError(
            f"{raw!r} is not a {channel} handle: it must be at most 256 printable "
            "characters without spaces"
        )
    return text


def normalize_external_id(system: str, raw: str) -> str:
    """An id in another system, trimmed; its case is kept (ids are exact)."""
    text = _require_str(raw, f"a {system} id").strip()
    if not text:
        raise InvalidIdentityError(f"{raw!r} is not a {system} id: it is empty")
    if len(text) > 256 or not text.isprintable():
        raise InvalidIdentityError(
            f"{raw[:64]!r} is not a {system} id: it must be at most 256 printable characters"
        )
    return text


def _scope(name: object, what: str) -> str:
    if not isinstance(name, str) or not _SCOPE.fullmatch(name.strip().lower()):
        raise InvalidIdentityError(
            f"{name!r} is not a valid {what}: use a lower-case word such as 'webshop'"
        )
    return name.strip().lower()


def normalize_address(raw: str | PostalAddress, region: str | None = None) -> str:
    """The one-line key of a postal address, equal for every way of writing it.

    ``"Damrak 1, 1012ab Amsterdam"`` with region NL and
    ``PostalAddress(street="Damrak 1", postcode="1012 AB", city="AMSTERDAM")`` both give
    ``"DAMRAK 1 1012 AB AMSTERDAM, NL"``.
    """
    region = normalize_region(region)
    if isinstance(raw, PostalAddress):
        country = normalize_region(raw.country) if raw.country else region
        place = f"{raw.postcode} {raw.city}".strip()
        line = ", ".join(part for part in (raw.street, place) if part)
        return _address(_require_str(line, "an address"), country)
    return _address(_require_str(raw, "an address"), region)


@lru_cache(maxsize=_CACHE_SIZE)
def _address(raw: str, region: str | None) -> str:
    text = unicodedata.normalize("NFKC", raw)
    if len(text) > 1000:
        raise InvalidIdentityError(f"{raw[:64]!r}… is too long for a postal address")
    parts = [part.strip() for part in re.split(r"[,;\n\r]+", text) if part.strip()]
    country = region
    if len(parts) > 1:
        last = _plain(parts[-1]).upper().replace(".", "").strip()
        code = _COUNTRY_NAMES.get(last) or (
            last if last in phonenumbers.SUPPORTED_REGIONS else None
        )
        if code:
            country = code
            parts.pop()
    line = " ".join(_ADDRESS_NOISE.sub(" ", " ".join(parts)).upper().split())
    if not any(char.isalnum() for char in line):
        raise InvalidIdentityError(f"{raw!r} is not a postal address: it has no street or place")
    if country in (None, "NL"):
        line = _DUTCH_POSTCODE.sub(r"\1 \2", line)
    return f"{line}, {country}" if country else line


def _plain(text: str) -> str:
    """Text without accents, for matching country names (``België`` → ``Belgie``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def collect_identifiers(
    *,
    phone: str | None = None,
    email: str | None = None,
    handles: Mapping[str, str] | None = None,
    external_ids: Mapping[str, str] | None = None,
    address: str | PostalAddress | None = None,
    region: str | None = None,
    channels: ChannelRegistry,
) -> list[Identifier]:
    """Normalise every identifier given, in a stable order, without duplicates.

    A handle's channel must be registered and addressed by handles. Raises
    ``InvalidIdentityError`` (or ``UnknownChannelError``) for the first bad value.
    """
    found: list[Identifier] = []
    if phone is not None:
        found.append(Identifier(IdentityKind.PHONE, "", normalize_phone(phone, region), phone))
    if email is not None:
        found.append(Identifier(IdentityKind.EMAIL, "", normalize_email(email), email))
    for platform, raw in _pairs(handles, "handles"):
        channel = channels.get(_scope(platform, "channel id"))
        if channel.identity_kind is not IdentityKind.HANDLE:
            raise InvalidIdentityError(
                f"channel {channel.id!r} is not addressed by handles; "
                "use external_ids= or the channel's own identifier"
            )
        value = normalize_handle(channel.id, raw)
        found.append(Identifier(IdentityKind.HANDLE, channel.id, value, raw))
    for system, raw in _pairs(external_ids, "external_ids"):
        scope = _scope(system, "system name")
        value = normalize_external_id(scope, raw)
        found.append(Identifier(IdentityKind.EXTERNAL, scope, value, raw))
    if address is not None:
        raw_address = str(address) if isinstance(address, PostalAddress) else address
        value = normalize_address(address, region)
        found.append(Identifier(IdentityKind.POSTAL, "", value, _require_str(raw_address, "")))
    unique: dict[tuple[IdentityKind, str, str], Identifier] = {}
    for identifier in found:
        unique.setdefault((identifier.kind, identifier.scope, identifier.value), identifier)
    return list(unique.values())


def _pairs(mapping: object, what: str) -> list[tuple[str, str]]:
    if mapping is None:
        return []
    if not isinstance(mapping, Mapping):
        raise InvalidIdentityError(
            f"{what} must be a mapping such as {{'twitter': '@jan'}}, not {type(mapping).__name__}"
        )
    return list(mapping.items())
