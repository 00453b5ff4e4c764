"""Cases: one question or problem of a customer, followed across channels."""

from __future__ import annotations

from enum import StrEnum

from pydantic import JsonValue

from omnikit.model._base import Model, UtcDatetime

__all__ = ["TRANSITIONS", "Case", "CaseEvent", "CaseStatus", "Priority"]


class CaseStatus(StrEnum):
    """Where a case is in its life: new → open → pending → resolved → closed."""

    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    """Waiting on the customer."""
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """True for new, open and pending: the case still needs someone."""
        return self in (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.PENDING)


TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.NEW: frozenset(
        {CaseStatus.OPEN, CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED}
    ),
    CaseStatus.OPEN: frozenset({CaseStatus.PENDING, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.PENDING: frozenset({CaseStatus.OPEN, CaseStatus.RESOLVED, CaseStatus.CLOSED}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN, CaseStatus.CLOSED}),
    CaseStatus.CLOSED: frozenset({CaseStatus.OPEN}),
}
"""The allowed status changes; resolved → open and closed → open are reopens."""


class Priority(StrEnum):
    """How urgent a case is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Case(Model):
    """A customer's question or problem, with its interactions from any channel."""

    id: str
    customer_id: str
    subject: str
    status: CaseStatus
    priority: Priority
    assignee: str | None = None
    queue: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int
    """Counts the changes to the case, starting at 1."""


class CaseEvent(Model):
    """One entry of a case's audit trail."""

    id: str
    case_id: str
    at: UtcDatetime
    type: str
    """``opened``, ``assigned``, ``transitioned`` or ``interaction_attached``."""
    actor: str | None = None
    before: JsonValue = None
    after: JsonValue = None
    note: str | None = None
