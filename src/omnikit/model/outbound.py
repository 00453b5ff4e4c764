"""Outbound messaging: what the customer wants, what the business allows, what happened.

``Preferences`` and ``ConsentRecord`` are the customer's side; ``Policy`` and ``Cap``
the business's; ``Delivery`` and ``NotifyResult`` say what ``kit.notify`` decided per
channel and why; ``OutboxItem`` is one promised delivery in the durable outbox and
``Subscription`` one system that wants omnikit's events as signed webhooks.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, JsonValue, field_validator, model_validator

from omnikit.model._base import Model, UtcDatetime

__all__ = [
    "Cap",
    "ConsentRecord",
    "Delivery",
    "DeliveryOutcome",
    "NotifyResult",
    "OutboxItem",
    "OutboxStatus",
    "Policy",
    "Preferences",
    "QuietHours",
    "Subscription",
]

_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
_CHANNEL = r"^[a-z][a-z0-9_-]{0,31}$"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ValueError`` naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"{name!r} is not an IANA time zone such as 'Europe/Amsterdam'") from None


class QuietHours(Model):
    """The hours a customer does not want to hear from the business, in their zone.

    ``QuietHours(start=time(22), end=time(8), timezone="Europe/Amsterdam")`` runs
    from 22:00 to 08:00 the next morning; ``start`` after ``end`` wraps midnight.
    """

    start: time
    end: time
    timezone: str

    @field_validator("start", "end")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(f"{value} must be a wall-clock time without a zone; set timezone")
        return value.replace(second=0, microsecond=0) if value.microsecond else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(f"quiet hours from {self.start} to {self.end} are empty")
        return self

    def until(self, at: datetime) -> datetime | None:
        """When the quiet hours around ``at`` end (UTC), or None when ``at`` is outside."""
        local = at.astimezone(zone(self.timezone))
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= clock < self.end
            end_day = local.date()
        else:  # wraps midnight
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + timedelta(days=1 if clock >= self.start else 0)
        if not inside:
            return None
        end = datetime.combine(end_day, self.end, tzinfo=local.tzinfo)
        # A wall time that does not exist (a DST gap) is read forward by zoneinfo.
        return end.astimezone(at.tzinfo)


class Preferences(Model):
    """How a customer wants to hear from the business.

    ``channels`` maps a purpose (``"order_updates"``) to the channels the customer
    wants for it, in order of preference; ``quiet_hours`` holds non-critical messages
    back; ``language`` (a BCP 47 tag) picks a message's translation and overrides the
    customer's own language.
    """

    customer_id: str
    channels: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    language: str | None = None
    updated_at: UtcDatetime | None = None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for purpose, chosen in value.items():
            if not re.match(_NAME, purpose):
                raise ValueError(f"purpose {purpose!r} is not a lower-case name")
            for channel in chosen:
                if not re.match(_CHANNEL, channel):
                    raise ValueError(f"channel {channel!r} for {purpose!r} is not a channel id")
            if len(set(chosen)) != len(chosen):
                raise ValueError(f"channels for {purpose!r} name one channel twice: {chosen}")
        return value


class ConsentRecord(Model):
    """One grant or withdrawal of consent, kept as proof: who, where, when.

    ``channel`` ``"*"`` covers every channel. ``source`` says where the customer gave
    or withdrew it (``"signup-form"``, ``"sms STOP"``), ``actor`` who recorded it.
    """

    id: str
    customer_id: str
    purpose: str
    channel: str
    granted: bool
    at: UtcDatetime
    source: str
    actor: str | None = None
    note: str | None = None


class Cap(Model):
    """At most ``limit`` messages per ``per`` to one customer, on ``channel`` or (None)
    over all channels together. ``Cap(limit=3, per=timedelta(days=7))``."""

    limit: int = Field(gt=0)
    per: timedelta
    channel: str | None = Field(default=None, pattern=_CHANNEL)

    @field_validator("per")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError(f"per {value} must be a positive duration")
        return value


class Policy(Model):
    """The business's rules for one purpose of messages.

    ``consent_required``: only channels the customer granted consent for (marketing).
    ``caps``: frequency caps. ``critical``: bypasses quiet hours and caps (a security
    alert), never a withdrawal of consent. ``channels``: the order to try when the
    customer set no preference for the purpose. ``reach``: ``"first"`` sends on the
    first channel that can be used and falls back to the next when it cannot or fails
    for good; ``"all"`` sends on every channel that can be used.
    """

    purpose: str = Field(pattern=_NAME)
    consent_required: bool = False
    caps: tuple[Cap, ...] = ()
    critical: bool = False
    channels: tuple[str, ...] = ("email", "sms", "app", "whatsapp", "post")
    reach: Literal["first", "all"] = "first"

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"channels {value} name one channel twice")
        return value


class DeliveryOutcome(StrEnum):
    """What ``notify`` decided for one channel."""

    QUEUED = "queued"
    """In the outbox, to be sent now."""
    DEFERRED = "deferred"
    """In the outbox, to be sent when the customer's quiet hours end."""
    SKIPPED = "skipped"
    """Not sent on this channel; ``reason`` says why."""
    FALLBACK = "fallback"
    """Not tried: an earlier channel was used (``reach="first"``); kept for fallback."""


class Delivery(Model):
    """The decision for one channel, and why."""

    channel: str
    outcome: DeliveryOutcome
    reason: str
    until: UtcDatetime | None = None
    """When a deferred delivery goes out."""
    outbox_id: str | None = None
    interaction_id: str | None = None
    to: str | None = None
    """The address the message goes to on the channel."""


class NotifyResult(Model):
    """What ``kit.notify`` did: one ``Delivery`` per channel considered, in order."""

    id: str
    """The notification's id: every outbox item and interaction it made carries it."""
    customer_id: str
    purpose: str
    critical: bool
    deliveries: tuple[Delivery, ...]

    @property
    def queued(self) -> tuple[Delivery, ...]:
        """The deliveries that went into the outbox (now or deferred)."""
        return tuple(
            d
            for d in self.deliveries
            if d.outcome in (DeliveryOutcome.QUEUED, DeliveryOutcome.DEFERRED)
        )

    @property
    def channels(self) -> list[str]:
        """The channels the message goes out on."""
        return [d.channel for d in self.queued]


class OutboxStatus(StrEnum):
    """Where an outbox item stands."""

    QUEUED = "queued"
    """Waiting to be sent (or to be retried at ``due_at``)."""
    SENT = "sent"
    """The provider accepted it."""
    DEAD = "dead"
    """Failed for good, or out of attempts: ``last_error`` says why."""
    CANCELLED = "cancelled"
    """Withdrawn before it was sent (the customer was erased)."""


class OutboxItem(Model):
    """One promised delivery: a message to a customer or an event to a subscriber."""

    id: str
    kind: Literal["message", "webhook"]
    status: OutboxStatus
    channel: str | None
    adapter: str | None
    customer_id: str | None
    interaction_id: str | None
    notification_id: str | None
    purpose: str | None
    payload: dict[str, JsonValue]
    fallback: tuple[str, ...] = ()
    """Channels still to try, in order, if this one fails for good."""
    attempts: int = 0
    parts_sent: int = 0
    due_at: UtcDatetime
    lease_until: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    sent_at: UtcDatetime | None = None
    external_id: str | None = None
    last_error: str | None = None


class Subscription(Model):
    """A system that receives omnikit's events as signed POSTs (``kit.webhooks``)."""

    id: str
    url: str
    events: tuple[str, ...]
    created_at: UtcDatetime
    secret: str = Field(repr=False)
