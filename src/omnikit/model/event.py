"""Events: what the kit tells the application after a change is committed."""

from __future__ import annotations

from pydantic import Field, JsonValue

from omnikit.model._base import Model, UtcDatetime
from omnikit.model.case import Case
from omnikit.model.customer import Customer
from omnikit.model.interaction import Interaction
from omnikit.model.recognition import Merge

__all__ = ["EVENT_TYPES", "Event"]

EVENT_TYPES: tuple[str, ...] = (
    "customer.created",
    "customer.merged",
    "interaction.recorded",
    "interaction.updated",
    "case.opened",
    "case.assigned",
    "case.transitioned",
    "sla.breached",
)
"""The event types ``kit.on`` accepts (``"*"`` listens to all of them)."""


class Event(Model):
    """One committed change: its ``type`` and the objects it is about."""

    type: str
    """One of ``EVENT_TYPES``."""
    at: UtcDatetime
    customer_id: str | None = None
    customer: Customer | None = None
    """``customer.created``: the new customer."""
    interaction: Interaction | None = None
    """``interaction.recorded``: the new interaction; ``interaction.updated``: the
    interaction after a delivery status or call outcome arrived."""
    case: Case | None = None
    """``case.*`` and ``sla.breached``: the case after the change."""
    merge: Merge | None = None
    """``customer.merged``: the merge."""
    detail: dict[str, JsonValue] = Field(default_factory=dict)
    """What changed: ``{"before": ..., "after": ...}``, the breached ``target``, …"""
