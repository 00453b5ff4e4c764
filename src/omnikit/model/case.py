"""Cases: one question or problem of a customer, followed across channels."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field, JsonValue

from omnikit.model._base import Model, UtcDatetime

__all__ = ["TRANSITIONS", "Case", "CaseEvent", "CaseSla", "CaseStatus", "Priority", "SlaTarget"]


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


class SlaTarget(StrEnum):
    """The service-level promises a case can carry."""

    FIRST_RESPONSE = "first_response"
    """The business answers the customer for the first time."""
    NEXT_RESPONSE = "next_response"
    """The business answers again after the customer wrote."""
    RESOLUTION = "resolution"
    """The case is resolved."""


class CaseSla(Model):
    """The due times of a case's service levels, from its queue's policy.

    Due times count business hours of the queue. While the clock is paused (the
    case is pending on the customer and the policy says so) ``paused_at`` is set,
    the due times are ``None`` and ``remaining`` holds the business seconds each
    target had left.
    """

    queue: str
    """The queue whose policy and business hours set the due times."""
    first_response_due: UtcDatetime | None = None
    next_response_due: UtcDatetime | None = None
    resolution_due: UtcDatetime | None = None
    first_response_at: UtcDatetime | None = None
    """When the business first answered."""
    first_response_business: float | None = None
    """Business seconds from the case's opening to the first answer, pauses left out
    (what analytics reports as first-response time)."""
    resolution_business: float | None = None
    """Business seconds from the case's opening to its resolution, pauses left out."""
    waiting_since: UtcDatetime | None = None
    """When the customer wrote after an answer and is still waiting for the next."""
    paused_at: UtcDatetime | None = None
    remaining: dict[SlaTarget, float] = Field(default_factory=dict)
    """Business seconds left per target while paused."""
    breached: tuple[SlaTarget, ...] = ()
    """Targets already recorded as breached (each is recorded once)."""

    def due(self) -> dict[SlaTarget, datetime]:
        """The targets still running and when each is due (empty while paused)."""
        pairs = (
            (SlaTarget.FIRST_RESPONSE, self.first_response_due),
            (SlaTarget.NEXT_RESPONSE, self.next_response_due),
            (SlaTarget.RESOLUTION, self.resolution_due),
        )
        return {target: at for target, at in pairs if at is not None}

    @property
    def next_due(self) -> datetime | None:
        """The earliest due time still running; ``None`` when none is."""
        return min(self.due().values(), default=None)


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
    channel: str | None = None
    """The channel the case started on; routing uses it when no other is given."""
    purpose: tuple[str, ...] = ()
    """Why the customer got in touch (``returns``, ``complaint``): routing tags."""
    follows: str | None = None
    """The earlier case this one follows up (the customer came back too late to reopen it)."""
    resolved_at: UtcDatetime | None = None
    """When the case was last resolved; ``None`` while it is open."""
    sla: CaseSla | None = None
    """Service-level due times, once the case is in a queue with a policy."""


class CaseEvent(Model):
    """One entry of a case's audit trail."""

    id: str
    case_id: str
    at: UtcDatetime
    type: str
    """``opened``, ``assigned``, ``transitioned``, ``interaction_attached``,
    ``priority_changed``, ``queue_changed``, ``routed``, ``sla_breached`` or
    ``sla_changed``."""
    actor: str | None = None
    before: JsonValue = None
    after: JsonValue = None
    note: str | None = None
