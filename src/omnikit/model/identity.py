"""Identities: the normalised ways to reach or recognise a person."""

from __future__ import annotations

from enum import StrEnum

from omnikit.model._base import Model, UtcDatetime

__all__ = ["Identity", "IdentityKind", "PostalAddress"]


class IdentityKind(StrEnum):
    """What an identity's value is."""

    PHONE = "phone"
    """A phone number in E.164 (``+31201234567``)."""
    EMAIL = "email"
    """An e-mail address, lower-cased."""
    HANDLE = "handle"
    """A user name on one platform; ``scope`` names the channel (``twitter``)."""
    EXTERNAL = "external"
    """An id in another system; ``scope`` names the system (``webshop``)."""
    POSTAL = "postal"
    """A postal address, as a normalised one-line key."""


class PostalAddress(Model):
    """A postal address in parts; ``identify(address=...)`` also takes one string.

    Two addresses that differ only in case, spacing, punctuation or the way a Dutch
    postcode is written (``1012ab``, ``1012 AB``) normalise to the same identity.
    """

    street: str
    """Street and house number, for example ``"Damrak 1"``."""
    postcode: str = ""
    city: str = ""
    country: str | None = None
    """ISO 3166-1 alpha-2 code (``"NL"``); ``None`` takes the kit's region."""

    def __str__(self) -> str:
        place = " ".join(part for part in (self.postcode, self.city) if part)
        return ", ".join(part for part in (self.street, place, self.country or "") if part)


class Identity(Model):
    """One normalised identifier of a customer, with where and when it was seen."""

    id: str
    customer_id: str
    kind: IdentityKind
    scope: str | None = None
    """The channel of a handle or the system of an external id; ``None`` otherwise."""
    value: str
    """The normalised value: what recognition compares."""
    raw: str
    """The value as it was first given."""
    source: str | None = None
    """Where it came from: a channel id, ``"manual"`` or ``"import"``."""
    verified: bool = False
    first_seen_at: UtcDatetime
    last_seen_at: UtcDatetime
    undeliverable_reason: str | None = None
    undeliverable_at: UtcDatetime | None = None
    shared: bool = False
    """True for a value several customers hold (a switchboard, a family landline)."""

    @property
    def undeliverable(self) -> bool:
        """True when messages to this identity are known not to arrive."""
        return self.undeliverable_reason is not None
