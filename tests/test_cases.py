"""kit.cases: the lifecycle, assignment, attachments and the audit trail."""

from __future__ import annotations

import itertools

import pytest

from omnikit import (
    TRANSITIONS,
    CaseStatus,
    ConflictError,
    InvalidTransitionError,
    Omnikit,
    Priority,
    Queue,
)


@pytest.fixture
def jan_id(kit: Omnikit) -> str:
    return kit.customers.identify(email="jan@example.nl").id


def test_open_starts_new_with_an_opening_event(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="  Move delivery ", priority="high")
    assert (case.status, case.priority, case.version) == (CaseStatus.NEW, Priority.HIGH, 1)
    assert case.subject == "Move delivery"
    assert kit.cases.get(case.id) == case
    (opened,) = kit.cases.history(case.id)
    assert opened.type == "opened" and opened.after == {"status": "new"}


def test_open_from_an_interaction_attaches_it(kit: Omnikit, jan_id: str) -> None:
    call = kit.record(customer=jan_id, channel="phone", direction="inbound", kind="call")
    case = kit.cases.open(customer=jan_id, subject="Call back", interaction=call.id, actor="ann")
    assert [i.id for i in kit.cases.interactions(case.id)] == [call.id]
    assert kit.journey(jan_id).steps[0].case_id == case.id
    assert [e.type for e in kit.cases.history(case.id)] == ["opened", "interaction_attached"]


def test_record_with_case_attaches_from_any_channel(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="Broken drill")
    for channel in ("phone", "whatsapp", "email", "store"):
        kit.record(customer=jan_id, channel=channel, direction="inbound", kind="message", case=case)
    attached = kit.cases.interactions(case.id)
    assert [i.channel for i in attached] == ["phone", "whatsapp", "email", "store"]
    events = [e.type for e in kit.cases.history(case.id)]
    assert events.count("interaction_attached") == 4


def test_assign_and_transition_bump_version_and_are_audited(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="Move delivery")
    case = kit.cases.assign(case.id, agent="ann", actor="lead")
    assert (case.assignee, case.version) == ("ann", 2)
    case = kit.cases.transition(case.id, CaseStatus.OPEN, actor="ann")
    case = kit.cases.transition(case.id, "pending", note="asked for address", actor="ann")
    assert (case.status, case.version) == (CaseStatus.PENDING, 4)
    history = kit.cases.history(case.id)
    assert [(e.type, e.before, e.after) for e in history[1:]] == [
        ("assigned", {"assignee": None}, {"assignee": "ann"}),
        ("transitioned", {"status": "new"}, {"status": "open"}),
        ("transitioned", {"status": "open"}, {"status": "pending"}),
    ]
    assert history[-1].note == "asked for address"
    assert history[1].actor == "lead"


def test_reopen_after_resolve_and_close(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="Refund")
    for status in ("resolved", "open", "closed", "open"):
        case = kit.cases.transition(case.id, status)
        assert case.status == status


ALL_PAIRS = list(itertools.product(CaseStatus, CaseStatus))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]


def test_transition_table_is_the_documented_one() -> None:
    expected = {
        "new": {"open", "pending", "resolved", "closed"},
        "open": {"pending", "resolved", "closed"},
        "pending": {"open", "resolved", "closed"},
        "resolved": {"open", "closed"},
        "closed": {"open"},
    }
    assert {a.value: {b.value for b in targets} for a, targets in TRANSITIONS.items()} == expected


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=str)
def test_every_allowed_transition_works(
    kit: Omnikit, jan_id: str, source: CaseStatus, target: CaseStatus
) -> None:
    case = kit.cases.open(customer=jan_id, subject="s")
    if source is not CaseStatus.NEW:
        case = kit.cases.transition(case.id, source)
    assert kit.cases.transition(case.id, target).status is target


def test_list_filters_by_customer_and_status(kit: Omnikit, jan_id: str) -> None:
    piet = kit.customers.identify(email="piet@example.nl")
    a = kit.cases.open(customer=jan_id, subject="a")
    b = kit.cases.open(customer=jan_id, subject="b")
    c = kit.cases.open(customer=piet, subject="c")
    kit.cases.transition(b.id, "resolved")
    assert [x.id for x in kit.cases.list(customer=jan_id)] == [b.id, a.id]
    assert [x.id for x in kit.cases.list(status="new")] == [c.id, a.id]
    assert [x.id for x in kit.cases.list(customer=jan_id, status=["new", "resolved"])] == [
        b.id,
        a.id,
    ]
    assert [x.id for x in kit.cases.list(limit=1)] == [c.id]


def test_invalid_transition_names_both_states(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="s")
    kit.cases.transition(case.id, "closed")
    with pytest.raises(InvalidTransitionError) as caught:
        kit.cases.transition(case.id, "resolved")
    assert "'closed'" in str(caught.value) and "'resolved'" in str(caught.value)
    assert kit.cases.get(case.id).status is CaseStatus.CLOSED


def test_expected_version_lets_exactly_one_of_two_agents_win(kit: Omnikit, jan_id: str) -> None:
    case = kit.cases.open(customer=jan_id, subject="Refund")
    first = kit.cases.assign(case.id, "ann", expected_version=case.version)
    with pytest.raises(ConflictError, match="at version 2, not 1"):
        kit.cases.assign(case.id, "piet", expected_version=case.version)
    with pytest.raises(ConflictError):
        kit.cases.transition(case.id, "resolved", expected_version=case.version)
    assert kit.cases.get(case.id) == first
    moved = kit.cases.transition(case.id, "open", expected_version=first.version)
    assert (moved.status, moved.version) == (CaseStatus.OPEN, 3)


def test_priority_and_queue_changes_are_audited(kit: Omnikit, jan_id: str) -> None:
    kit.routing.set_queue(Queue(id="returns"))
    case = kit.cases.open(customer=jan_id, subject="Refund")
    case = kit.cases.set_priority(case.id, "urgent", actor="lead")
    case = kit.cases.set_queue(case.id, "returns", expected_version=case.version)
    assert (case.priority, case.queue, case.version) == (Priority.URGENT, "returns", 3)
    history = kit.cases.history(case.id)
    assert [(e.type, e.before, e.after, e.actor) for e in history[1:]] == [
        ("priority_changed", {"priority": "normal"}, {"priority": "urgent"}, "lead"),
        ("queue_changed", {"queue": None}, {"queue": "returns"}, None),
    ]


def test_a_customer_message_attached_to_a_pending_case_reopens_it(
    kit: Omnikit, jan_id: str
) -> None:
    case = kit.cases.open(customer=jan_id, subject="Refund")
    kit.cases.transition(case.id, "pending")
    reply = kit.record(
        customer=jan_id, channel="sms", direction="inbound", kind="message", case=case.id
    )
    assert reply.case_id == case.id
    assert kit.cases.get(case.id).status is CaseStatus.OPEN
    ours = kit.record(customer=jan_id, channel="sms", direction="outbound", kind="message")
    kit.cases.transition(case.id, "pending")
    kit.cases.attach(case.id, ours)  # our own message: still waiting on the customer
    assert kit.cases.get(case.id).status is CaseStatus.PENDING
