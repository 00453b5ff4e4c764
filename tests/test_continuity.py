"""Continuity: an inbound contact joins the customer's case whatever its channel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from omnikit import CaseStatus, Omnikit, ValidationError


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

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
        yield kit


def inbound(kit: Omnikit, customer: str, channel: str, **extra: object):  # type: ignore[no-untyped-def]
    return kit.record(
        customer=customer, channel=channel, direction="inbound", kind="message", **extra
    )


def test_phone_then_whatsapp_then_store_is_one_case(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(phone="020 123 4567", email="jan@example.nl")
    call = kit.record(customer=jan.id, channel="phone", direction="inbound", kind="call")
    case = kit.cases.open(customer=jan.id, subject="Broken drill", interaction=call.id)
    assert case.channel == "phone"
    kit.cases.transition(case.id, "pending", note="asked for a photo")
    clock.advance(hours=20)
    photo = inbound(kit, jan.id, "whatsapp", text="Here is the photo")
    assert photo.case_id == case.id
    assert kit.cases.get(case.id).status is CaseStatus.OPEN  # the customer answered
    clock.advance(days=2)
    visit = kit.record(customer=jan.id, channel="store", direction="inbound", kind="visit")
    assert visit.case_id == case.id
    kit.cases.transition(case.id, "resolved")
    channels = [i.channel for i in kit.cases.interactions(case.id)]
    assert channels == ["phone", "whatsapp", "store"]
    history = kit.cases.history(case.id)
    reopened = [e for e in history if e.type == "transitioned" and e.after == {"status": "open"}]
    assert reopened[0].note == "the customer answered"


def test_outbound_and_internal_contacts_do_not_attach(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund")
    note = kit.record(customer=jan.id, channel="email", direction="outbound", kind="message")
    memo = kit.record(customer=jan.id, channel="phone", direction="internal", kind="note")
    assert (note.case_id, memo.case_id) == (None, None)
    assert kit.cases.interactions(case.id) == []


def test_a_case_quiet_longer_than_the_window_is_left_alone(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    kit.cases.open(customer=jan.id, subject="Refund")
    clock.advance(days=8)
    assert inbound(kit, jan.id, "email").case_id is None


def test_several_open_cases_without_a_thread_are_never_guessed(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    kit.cases.open(customer=jan.id, subject="Refund")
    kit.cases.open(customer=jan.id, subject="Delivery")
    assert inbound(kit, jan.id, "whatsapp").case_id is None


def test_an_email_reply_follows_its_thread_among_several_cases(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    refund = kit.cases.open(customer=jan.id, subject="Refund")
    delivery = kit.cases.open(customer=jan.id, subject="Delivery")
    kit.record(
        customer=jan.id,
        channel="email",
        direction="outbound",
        kind="message",
        external_id="<m1@shop.example>",
        case=refund.id,
    )
    reply = inbound(
        kit,
        jan.id,
        "email",
        external_id="<r1@mail.example>",
        metadata={"in_reply_to": "<m1@shop.example>", "references": "<m0@x> <m1@shop.example>"},
    )
    assert reply.case_id == refund.id
    assert delivery.id not in {reply.case_id}


def test_a_provider_conversation_id_follows_its_case(kit: Omnikit) -> None:
    jan = kit.customers.identify(phone="06 12345678")
    first = kit.cases.open(customer=jan.id, subject="Refund")
    kit.cases.open(customer=jan.id, subject="Delivery")
    kit.record(
        customer=jan.id,
        channel="whatsapp",
        direction="inbound",
        kind="message",
        case=first.id,
        metadata={"conversation_id": "conv-7"},
    )
    later = inbound(kit, jan.id, "whatsapp", metadata={"conversation_id": "conv-7"})
    assert later.case_id == first.id
    other = inbound(kit, jan.id, "whatsapp", metadata={"conversation_id": "conv-8"})
    assert other.case_id is None


def test_a_resolved_case_reopens_within_the_reopen_window(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund")
    kit.cases.transition(case.id, "resolved")
    clock.advance(hours=71)
    again = inbound(kit, jan.id, "twitter")
    assert again.case_id == case.id
    reopened = kit.cases.get(case.id)
    assert (reopened.status, reopened.resolved_at) == (CaseStatus.OPEN, None)
    assert kit.cases.history(case.id)[-2].note == "the customer wrote again"


def test_after_the_reopen_window_a_follow_up_case_links_the_old(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund", priority="high")
    kit.cases.transition(case.id, "resolved")
    clock.advance(hours=73)
    again = inbound(kit, jan.id, "webchat", purpose="complaint")
    assert again.case_id not in (None, case.id)
    follow_up = kit.cases.get(again.case_id)  # type: ignore[arg-type]
    assert (follow_up.follows, follow_up.subject, follow_up.priority.value) == (
        case.id,
        "Refund",
        "high",
    )
    assert (follow_up.channel, follow_up.purpose) == ("webchat", ("complaint",))
    assert kit.cases.get(case.id).status is CaseStatus.RESOLVED
    assert kit.cases.history(follow_up.id)[0].after == {"status": "new", "follows": case.id}


def test_a_closed_case_is_followed_up_not_reopened(kit: Omnikit, clock: Clock) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund")
    kit.cases.transition(case.id, "closed")
    clock.advance(hours=1)
    again = inbound(kit, jan.id, "email")
    assert again.case_id not in (None, case.id)
    assert kit.cases.get(case.id).status is CaseStatus.CLOSED


def test_recording_the_same_contact_twice_attaches_once(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Refund")
    first = inbound(kit, jan.id, "email", external_id="m-1")
    again = inbound(kit, jan.id, "email", external_id="m-1")
    assert first == again and first.case_id == case.id
    attached = [e for e in kit.cases.history(case.id) if e.type == "interaction_attached"]
    assert len(attached) == 1


def test_record_many_does_not_attach_by_itself(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    kit.cases.open(customer=jan.id, subject="Refund")
    (imported,) = kit.record_many(
        [{"customer": jan.id, "channel": "email", "direction": "inbound", "kind": "message"}]
    )
    assert imported.case_id is None


def test_continuity_can_be_turned_off(store_url: str) -> None:
    with Omnikit(store_url, continuity_window=None) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        kit.cases.open(customer=jan.id, subject="Refund")
        assert inbound(kit, jan.id, "email").case_id is None


def test_reopening_can_be_turned_off(store_url: str, clock: Clock) -> None:
    with Omnikit(store_url, clock=clock, reopen_window=None) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        case = kit.cases.open(customer=jan.id, subject="Refund")
        kit.cases.transition(case.id, "resolved")
        clock.advance(minutes=5)
        again = inbound(kit, jan.id, "email")
        assert kit.cases.get(again.case_id).follows == case.id  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("continuity_window", timedelta(0)),
        ("continuity_window", 7),
        ("reopen_window", timedelta(hours=-1)),
        ("reopen_window", "72h"),
    ],
)
def test_bad_windows_are_rejected(store_url: str, name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Omnikit(store_url, **{name: value})  # type: ignore[arg-type]
