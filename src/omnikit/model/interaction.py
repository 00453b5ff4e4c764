"""Interactions: every contact between the business and a customer, on any channel."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, JsonValue

from omnikit.model._base import Model, UtcDatetime

__all__ = ["Attachment", "DeliveryStatus", "Direction", "Interaction"]


class Direction(StrEnum):
    """Who started the contact."""

    INBOUND = "inbound"
    """From the customer to the business."""
    OUTBOUND = "outbound"
    """From the business to the customer."""
    INTERNAL = "internal"
    """Within the business: a note, a hand-over."""


class DeliveryStatus(StrEnum):
    """How far an outbound message got, in the order it can only move forward."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Attachment(Model):
    """A file that came with or went out with an interaction."""

    name: str
    content_type: str = "application/octet-stream"
    url: str | None = None
    size: int | None = None


class Interaction(Model):
    """One contact: a call, a message, an order, a visit, a returned letter, a note."""

    id: str
    customer_id: str
    channel: str
    direction: Direction
    kind: str
    """What happened: ``message``, ``call``, ``order``, ``visit``, ``returned_mail``,
    ``note`` or any other lower-case word."""
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    text: str | None = None
    subject: str | None = None
    attachments: tuple[Attachment, ...] = ()
    external_id: str | None = None
    """The provider's id; with ``channel`` the idempotency key."""
    case_id: str | None = None
    agent: str | None = None
    purpose: tuple[str, ...] = ()
    """Why the contact happened (``order_status``, ``complaint``): analytics tags."""
    status: DeliveryStatus | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
