"""kit.on: handlers see committed changes only, and cannot undo them."""

from __future__ import annotations

import logging

import pytest

from omnikit import EVENT_TYPES, Agent, Event, NotFoundError, Omnikit, ValidationError


def test_every_documented_type_is_emitted(kit: Omnikit) -> None:
    seen: list[Event] = []
    kit.on("*", seen.append)
    jan = kit.customers.identify(email="jan@example.nl")
    other = kit.customers.identify(email="piet@example.nl")
    kit.customers.merge(jan.id, other.id, reason="same person")
    call = kit.record(customer=jan.id, channel="phone", direction="inbound", kind="call")
    case = kit.cases.open(customer=jan.id, subject="Call back", interaction=call.id)
    kit.cases.assign(case.id, "ann")
    kit.cases.transition(case.id, "resolved")
    types = [event.type for event in seen]
    assert types == [
        "customer.created",
        "customer.created",
        "customer.merged",
        "interaction.recorded",
        "case.opened",
        "case.assigned",
        "case.transitioned",
    ]
    # sla.breached: test_sla.py; interaction.updated: test_receive.py
    assert set(types) | {"sla.breached", "interaction.updated"} == set(EVENT_TYPES)
    created, _, merged, recorded, opened, assigned, moved = seen
    assert created.customer is not None and created.customer.id == jan.id
    assert merged.merge is not None and merged.merge.other_id == other.id
    assert recorded.interaction == call
    assert opened.case is not None and opened.case.id == case.id
    assert assigned.detail == {"before": {"assignee": None}, "after": {"assignee": "ann"}}
    assert moved.case is not None and moved.case.status.value == "resolved"


def test_handlers_run_after_commit_and_see_the_change(kit: Omnikit) -> None:
    found = []

    def handler(event: Event) -> None:
        assert event.customer is not None
        found.append(kit.customers.get(event.customer.id))  # readable: committed already

    kit.on("customer.created", handler)
    jan = kit.customers.identify(email="jan@example.nl")
    assert found == [jan]


def test_a_failed_call_emits_nothing(kit: Omnikit) -> None:
    seen: list[Event] = []
    kit.on("*", seen.append)
    jan = kit.customers.identify(email="jan@example.nl")
    piet = kit.customers.identify(email="piet@example.nl")
    call = kit.record(customer=piet.id, channel="phone", direction="inbound", kind="call")
    seen.clear()
    # The case is inserted (and case.opened queued) before the foreign interaction is
    # refused: the rollback must drop the event with the row.
    with pytest.raises(ValidationError, match="belongs to customer"):
        kit.cases.open(customer=jan.id, subject="x", interaction=call.id)
    with pytest.raises(NotFoundError):
        kit.cases.open(customer=jan.id, subject="x", queue="nowhere")
    assert seen == []
    assert kit.cases.list(customer=jan.id) == []


def test_a_raising_handler_is_logged_and_undoes_nothing(
    kit: Omnikit, caplog: pytest.LogCaptureFixture
) -> None:
    later: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    kit.on("case.opened", broken)
    kit.on("case.opened", lambda event: later.append(event.type))
    jan = kit.customers.identify(email="jan@example.nl")
    with caplog.at_level(logging.ERROR, logger="omnikit.events"):
        case = kit.cases.open(customer=jan.id, subject="x")
    assert kit.cases.get(case.id) == case
    assert later == ["case.opened"]
    assert "failed on case.opened" in caplog.text


def test_routing_an_agent_emits_case_assigned(kit: Omnikit) -> None:
    seen: list[Event] = []
    kit.on("case.assigned", seen.append)
    kit.routing.set_agent(Agent(id="ann", capacity={"webchat": 3}))
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="x", channel="webchat")
    kit.route(case)
    assert [e.case.assignee for e in seen if e.case] == ["ann"]


def test_decorator_form_and_off(kit: Omnikit) -> None:
    seen: list[str] = []

    @kit.events.on("interaction.recorded")
    def handler(event: Event) -> None:
        seen.append(event.type)

    jan = kit.customers.identify(email="jan@example.nl")
    kit.record(customer=jan.id, channel="email", direction="inbound", kind="message")
    kit.events.off("interaction.recorded", handler)
    kit.record(customer=jan.id, channel="email", direction="inbound", kind="message")
    assert seen == ["interaction.recorded"]


def test_unknown_event_types_and_bad_handlers_are_errors(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match=r"'case\.exploded' is not an event type"):
        kit.on("case.exploded", print)
    with pytest.raises(ValidationError, match="not callable"):
        kit.on("case.opened", "print")  # type: ignore[arg-type]


def test_no_listener_means_no_event_is_built(kit: Omnikit, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    original = Event.trusted.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Event], **values: object) -> Event:
        built.append(str(values["type"]))
        return original(cls, **values)  # type: ignore[no-any-return]

    monkeypatch.setattr(Event, "trusted", classmethod(counting))
    assert not kit.events.wanted("case.opened")
    jan = kit.customers.identify(email="jan@example.nl")
    kit.cases.open(customer=jan.id, subject="x")
    assert built == []
    kit.on("case.opened", print)
    assert kit.events.wanted("case.opened") and not kit.events.wanted("case.assigned")
    kit.cases.open(customer=jan.id, subject="y")
    assert built == ["case.opened"]
