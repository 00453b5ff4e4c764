"""Service levels: due times in business hours, breaches, pausing while pending."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from omnikit import (
    Agent,
    BusinessHours,
    Event,
    Omnikit,
    Queue,
    SlaPolicy,
    SlaTarget,
    ValidationError,
)

MONDAY_9 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam (CET)
OFFICE = BusinessHours(
    timezone="Europe/Amsterdam",
    weekly={day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=[datetime(2026, 3, 4).date()],
)


class Clock:
    def __init__(self) -> None:
        self.at = MONDAY_9

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kit(store_url: str, clock: Clock) -> Iterator[Omnikit]:
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        kit.routing.set_agent(Agent(id="ann", capacity={"email": 5}))
        kit.routing.set_queue(
            Queue(
                id="support",
                hours=OFFICE,
                sla={
                    "normal": SlaPolicy(
                        first_response=timedelta(hours=4),
                        next_response=timedelta(hours=8),
                        resolution=timedelta(hours=16),
                    ),
                    "high": SlaPolicy(
                        first_response=timedelta(hours=1),
                        resolution=timedelta(hours=8),
                        pause_when_pending=True,
                    ),
                },
            )
        )
        yield kit


def amsterdam(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2026 wall time in Amsterdam (UTC+1) as UTC."""
    return datetime(2026, 3, day, hour - 1, minute, tzinfo=UTC)


def test_due_times_count_business_hours_and_skip_the_holiday(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund", queue="support")
    assert case.sla is not None
    assert case.sla.first_response_due == amsterdam(2, 13)
    # 16 business hours from Monday 09:00: Monday and Tuesday; Wednesday is a holiday
    assert case.sla.resolution_due == amsterdam(3, 17)
    assert case.sla.next_response_due is None
    assert kit.cases.get(case.id).sla == case.sla


def test_a_case_without_a_policy_for_its_priority_has_no_sla(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    assert kit.cases.open(customer=jan.id, subject="x", queue="support", priority="low").sla is None
    assert kit.cases.open(customer=jan.id, subject="y").sla is None


def test_first_answer_meets_first_response_and_replies_start_next_response(
    kit: Omnikit, clock: Clock
) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund", queue="support")
    clock.advance(hours=1)
    kit.record(customer=jan.id, channel="email", direction="outbound", kind="message", case=case)
    sla = kit.cases.get(case.id).sla
    assert sla is not None
    assert (sla.first_response_at, sla.first_response_due) == (amsterdam(2, 10), None)
    clock.advance(hours=6)  # Monday 16:00
    kit.record(customer=jan.id, channel="whatsapp", direction="inbound", kind="message", case=case)
    sla = kit.cases.get(case.id).sla
    assert sla is not None
    assert sla.waiting_since == amsterdam(2, 16)
    assert sla.next_response_due == amsterdam(3, 16)  # 1 hour Monday, 7 Tuesday
    clock.advance(hours=1)
    kit.record(customer=jan.id, channel="email", direction="outbound", kind="message", case=case)
    sla = kit.cases.get(case.id).sla
    assert sla is not None and (sla.waiting_since, sla.next_response_due) == (None, None)


def test_breaching_lists_cases_past_or_near_due(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    urgent = kit.cases.open(customer=jan.id, subject="a", queue="support", priority="high")
    normal = kit.cases.open(customer=jan.id, subject="b", queue="support")
    assert kit.cases.breaching(at=amsterdam(2, 9, 30)) == []
    near = kit.cases.breaching(at=amsterdam(2, 9, 30), within=timedelta(minutes=30))
    assert [c.id for c in near] == [urgent.id]
    later = kit.cases.breaching(at=amsterdam(2, 13))
    assert [c.id for c in later] == [urgent.id, normal.id]
    kit.cases.transition(urgent.id, "resolved")
    assert [c.id for c in kit.cases.breaching(at=amsterdam(2, 13))] == [normal.id]


def test_check_sla_records_each_breach_once_with_an_event(kit: Omnikit) -> None:
    seen: list[Event] = []
    kit.on("sla.breached", seen.append)
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="a", queue="support", priority="high")
    assert kit.cases.check_sla(at=amsterdam(2, 9, 59)) == []
    (event,) = kit.cases.check_sla(at=amsterdam(2, 10, 30))
    assert (event.type, event.after["target"]) == ("sla_breached", "first_response")  # type: ignore[index]
    assert kit.cases.check_sla(at=amsterdam(2, 11)) == []
    assert [e.detail["target"] for e in seen] == ["first_response"]
    assert seen[0].case is not None and seen[0].case.id == case.id
    stored = kit.cases.get(case.id).sla
    assert stored is not None and stored.breached == (SlaTarget.FIRST_RESPONSE,)
    assert [e.type for e in kit.cases.history(case.id)][-1] == "sla_breached"


def test_pending_pauses_the_clock_when_the_policy_says_so(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="a", queue="support", priority="high")
    clock.advance(minutes=30)
    kit.record(customer=jan.id, channel="email", direction="outbound", kind="message", case=case)
    kit.cases.transition(case.id, "pending")
    paused = kit.cases.get(case.id).sla
    assert paused is not None and paused.paused_at == amsterdam(2, 9, 30)
    assert paused.resolution_due is None
    assert paused.remaining == {SlaTarget.RESOLUTION: 7.5 * 3600}
    assert kit.cases.breaching(at=amsterdam(9, 9)) == []
    clock.at = amsterdam(5, 9)  # Thursday: the customer answers
    kit.record(customer=jan.id, channel="email", direction="inbound", kind="message", case=case)
    resumed = kit.cases.get(case.id)
    assert resumed.status.value == "open" and resumed.sla is not None
    assert resumed.sla.resolution_due == amsterdam(5, 16, 30)


def test_normal_policy_keeps_running_while_pending(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="a", queue="support")
    pending = kit.cases.transition(case.id, "pending")
    assert pending.sla is not None and pending.sla.paused_at is None
    assert pending.sla.resolution_due == amsterdam(3, 17)


def test_priority_and_queue_changes_recompute_due_times(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="a", queue="support")
    high = kit.cases.set_priority(case.id, "high")
    assert high.sla is not None and high.sla.first_response_due == amsterdam(2, 10)
    assert [e.type for e in kit.cases.history(case.id)][-1] == "priority_changed"
    moved = kit.cases.set_queue(case.id, None)
    assert moved.sla is None and moved.queue is None


def test_resolving_stops_the_clocks_and_reopening_restarts_them(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="a", queue="support")
    resolved = kit.cases.transition(case.id, "resolved")
    assert resolved.sla is not None and resolved.sla.due() == {}
    reopened = kit.cases.transition(case.id, "open")
    assert reopened.sla is not None and reopened.sla.resolution_due == amsterdam(3, 17)


def test_bad_policies_and_queries_are_clear_errors(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match="first_response"):
        SlaPolicy(first_response=timedelta(0))
    with pytest.raises(ValidationError, match="within"):
        kit.cases.breaching(within=timedelta(minutes=-1))
    with pytest.raises(ValidationError, match=r"naive|timezone"):
        kit.cases.breaching(at=datetime(2026, 3, 2, 9))
    with pytest.raises(ValidationError, match="limit"):
        kit.cases.check_sla(limit=0)
