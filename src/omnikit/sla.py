"""Service levels: the due times a queue's policy gives a case, kept up to date as the
case lives.

Pure functions from a case (and its queue) to its new ``CaseSla``; the case facade
calls them inside the transaction that changes the case. Due times count the queue's
business hours (all hours when it has none):

- first response: from the case's creation until the business first answers
  (an outbound interaction attached to the case);
- next response: from each customer message after that until the next answer;
- resolution: from creation until the case is resolved.

With the policy's ``pause_when_pending`` the clock stops while the case is pending on
the customer: each running target keeps the business time it had left and runs again,
from that remainder, when the case leaves pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from omnikit.model import (
    BusinessHours,
    Case,
    CaseSla,
    CaseStatus,
    Direction,
    Interaction,
    Queue,
    SlaPolicy,
    SlaTarget,
)

__all__ = [
    "after_interaction",
    "after_status",
    "breached_targets",
    "hours_of",
    "policy_of",
    "start",
]

_ALWAYS = BusinessHours.always()


def hours_of(queue: Queue | None) -> BusinessHours:
    """The business hours service levels count in: the queue's, or every hour."""
    return queue.hours if queue is not None and queue.hours is not None else _ALWAYS


def policy_of(case: Case, queue: Queue | None) -> SlaPolicy | None:
    """The queue's policy for the case's priority, if it has one."""
    return None if queue is None else queue.sla.get(case.priority)


def start(case: Case, queue: Queue | None, now: datetime) -> CaseSla | None:
    """The case's service levels under ``queue`` (on entering it, or after its priority
    changed): due times count from the case's creation; what was met stays met."""
    policy = policy_of(case, queue)
    if queue is None or policy is None:
        return None
    hours = hours_of(queue)
    old = case.sla if case.sla is not None and case.sla.queue == queue.id else None
    answered = None if old is None else old.first_response_at
    answered_in = None if old is None else old.first_response_business
    waiting = None if old is None else old.waiting_since
    sla = CaseSla(
        queue=queue.id,
        first_response_at=answered,
        first_response_business=answered_in,
        waiting_since=waiting,
        breached=() if old is None else old.breached,
        first_response_due=_due(hours, case.created_at, policy.first_response)
        if answered is None
        else None,
        next_response_due=_due(hours, waiting, policy.next_response) if answered else None,
        resolution_due=_due(hours, case.created_at, policy.resolution)
        if case.status.is_open
        else None,
    )
    if case.status is CaseStatus.PENDING and policy.pause_when_pending:
        return _pause(sla, hours, now)
    return sla


def after_interaction(case: Case, queue: Queue | None, interaction: Interaction) -> CaseSla | None:
    """The service levels once ``interaction`` joined the case: an answer from the
    business meets the first or next response; a customer message after the first
    answer starts the next-response clock."""
    sla = case.sla
    policy = policy_of(case, queue)
    if sla is None or policy is None:
        return sla
    at = interaction.occurred_at
    if interaction.direction is Direction.OUTBOUND:
        if sla.first_response_at is None:
            taken = _business_time(
                sla, hours_of(queue), SlaTarget.FIRST_RESPONSE, policy.first_response, case, at
            )
            return sla.model_copy(
                update={
                    "first_response_at": at,
                    "first_response_due": None,
                    "first_response_business": taken,
                }
            )
        return sla.model_copy(update={"waiting_since": None, "next_response_due": None})
    if interaction.direction is Direction.INBOUND and sla.first_response_at is not None:
        if sla.waiting_since is not None:
            return sla  # already waiting for an answer: the clock runs from the first message
        if sla.paused_at is not None:
            remaining = dict(sla.remaining)
            if policy.next_response is not None:
                remaining[SlaTarget.NEXT_RESPONSE] = policy.next_response.total_seconds()
            return sla.model_copy(update={"waiting_since": at, "remaining": remaining})
        due = _due(hours_of(queue), at, policy.next_response)
        return sla.model_copy(update={"waiting_since": at, "next_response_due": due})
    return sla


def after_status(case: Case, queue: Queue | None, old: CaseStatus, now: datetime) -> CaseSla | None:
    """The service levels once the case moved from ``old`` to ``case.status``."""
    sla = case.sla
    policy = policy_of(case, queue)
    if sla is None or policy is None:
        return sla
    new = case.status
    hours = hours_of(queue)
    if not new.is_open:  # resolved or closed: every clock stops
        taken = sla.resolution_business
        if old.is_open:
            taken = _business_time(sla, hours, SlaTarget.RESOLUTION, policy.resolution, case, now)
        return sla.model_copy(
            update={
                "resolution_business": taken,
                "first_response_due": None,
                "next_response_due": None,
                "resolution_due": None,
                "paused_at": None,
                "remaining": {},
            }
        )
    if not old.is_open:  # reopened: the clocks run again from the case's start
        return start(case, queue, now)
    if new is CaseStatus.PENDING and policy.pause_when_pending and sla.paused_at is None:
        return _pause(sla, hours, now)
    if new is not CaseStatus.PENDING and sla.paused_at is not None:
        return _resume(sla, hours, now)
    return sla


def breached_targets(sla: CaseSla, at: datetime) -> list[SlaTarget]:
    """The running targets that were due at or before ``at`` and not yet recorded."""
    return [target for target, due in sla.due().items() if due <= at and target not in sla.breached]


def _business_time(
    sla: CaseSla,
    hours: BusinessHours,
    target: SlaTarget,
    span: timedelta | None,
    case: Case,
    at: datetime,
) -> float:
    """Business seconds from the case's opening to ``at`` on ``target``'s clock: the
    policy's span less what is left of it (pauses do not count), or, for a target the
    policy does not track, the business time since the case was opened."""
    if span is not None:
        if sla.paused_at is not None and target in sla.remaining:
            return span.total_seconds() - sla.remaining[target]
        due = sla.due().get(target)
        if due is not None:
            if at <= due:
                return (span - hours.between(at, due)).total_seconds()
            return (span + hours.between(due, at)).total_seconds()
    return hours.between(case.created_at, at).total_seconds()


def _due(hours: BusinessHours, since: datetime | None, span: timedelta | None) -> datetime | None:
    if since is None or span is None:
        return None
    return hours.add(since, span)


def _pause(sla: CaseSla, hours: BusinessHours, now: datetime) -> CaseSla:
    remaining = {
        target: max(timedelta(0), hours.between(now, due)).total_seconds()
        for target, due in sla.due().items()
    }
    return sla.model_copy(
        update={
            "paused_at": now,
            "remaining": remaining,
            "first_response_due": None,
            "next_response_due": None,
            "resolution_due": None,
        }
    )


def _resume(sla: CaseSla, hours: BusinessHours, now: datetime) -> CaseSla:
    due = {
        target: hours.add(now, timedelta(seconds=seconds))
        for target, seconds in sla.remaining.items()
    }
    return sla.model_copy(
        update={
            "paused_at": None,
            "remaining": {},
            "first_response_due": due.get(SlaTarget.FIRST_RESPONSE),
            "next_response_due": due.get(SlaTarget.NEXT_RESPONSE),
            "resolution_due": due.get(SlaTarget.RESOLUTION),
        }
    )
