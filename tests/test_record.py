"""kit.record and kit.record_many: idempotent, read-after-write, across channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from omnikit import Attachment, ConflictError, Direction, Omnikit


@pytest.fixture
def jan_id(kit: Omnikit) -> str:
    return kit.customers.identify(email="jan@example.nl", phone="020 123 4567").id


def test_record_returns_what_was_stored(kit: Omnikit, jan_id: str) -> None:
    when = datetime(2026, 3, 2, 11, 12, tzinfo=timezone(timedelta(hours=1)))
    interaction = kit.record(
        customer=jan_id,
        channel="whatsapp",
        direction="inbound",
        kind="message",
        text="Hoi! Waar blijft mijn bestelling? 📦",
        occurred_at=when,
        external_id="wamid.1",
        agent="ann",
        purpose=["order_status", "delivery"],
        metadata={"conversation": "c-9", "nested": {"a": [1, 2.5, None, True]}},
        attachments=[Attachment(name="photo.jpg", content_type="image/jpeg", size=1200)],
    )
    assert interaction.direction is Direction.INBOUND
    assert interaction.occurred_at == when and interaction.occurred_at.tzinfo is UTC
    (stored,) = kit.journey(jan_id).steps
    assert stored == interaction  # read-after-write, every field round-trips


def test_same_external_id_returns_first_interaction(kit: Omnikit, jan_id: str) -> None:
    first = kit.record(
        customer=jan_id,
        channel="sms",
        direction="inbound",
        kind="message",
        text="first",
        external_id="SM1",
    )
    again = kit.record(
        customer=jan_id,
        channel="sms",
        direction="inbound",
        kind="message",
        text="second",
        external_id="SM1",
    )
    assert again == first
    assert len(kit.journey(jan_id).steps) == 1
    # the same provider id on another channel is another interaction
    other = kit.record(
        customer=jan_id,
        channel="whatsapp",
        direction="inbound",
        kind="message",
        external_id="SM1",
    )
    assert other.id != first.id


def test_same_external_id_for_another_customer_conflicts(kit: Omnikit, jan_id: str) -> None:
    piet = kit.customers.identify(email="piet@example.nl")
    kit.record(customer=jan_id, channel="sms", direction="inbound", kind="message", external_id="X")
    with pytest.raises(ConflictError, match="already recorded for customer"):
        kit.record(
            customer=piet.id, channel="sms", direction="inbound", kind="message", external_id="X"
        )


def test_occurred_at_defaults_to_the_kits_clock(store_url: str) -> None:
    fixed = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    with Omnikit(store_url, clock=lambda: fixed) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        interaction = kit.record(
            customer=jan.id, channel="email", direction="inbound", kind="message"
        )
        assert interaction.occurred_at == interaction.recorded_at == fixed


def test_record_many_is_idempotent_and_keeps_order(kit: Omnikit, jan_id: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        {
            "customer": jan_id,
            "channel": "webshop" if n % 2 else "email",
            "direction": "inbound",
            "kind": "order" if n % 2 else "message",
            "external_id": f"ext-{n}",
            "occurred_at": start + timedelta(hours=n),
        }
        for n in range(50)
    ]
    first = kit.record_many(records)
    assert [i.external_id for i in first] == [f"ext-{n}" for n in range(50)]
    second = kit.record_many(records)
    assert [i.id for i in second] == [i.id for i in first]
    assert len(kit.journey(jan_id).steps) == 50


def test_record_many_mixes_new_known_and_repeated_keys(kit: Omnikit, jan_id: str) -> None:
    known = kit.record(
        customer=jan_id, channel="sms", direction="inbound", kind="message", external_id="k"
    )
    base = {"customer": jan_id, "channel": "sms", "direction": "inbound", "kind": "message"}
    result = kit.record_many(
        [
            {**base, "external_id": "new"},
            {**base, "external_id": "k"},
            {**base, "external_id": "new"},
            {**base},  # no external id: always new
        ]
    )
    assert result[1] == known
    assert result[2] == result[0]
    assert len({i.id for i in result}) == 3
    assert len(kit.journey(jan_id).steps) == 3


def test_record_many_of_nothing(kit: Omnikit) -> None:
    assert kit.record_many([]) == []


def test_record_accepts_a_customer_object(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    interaction = kit.record(customer=jan, channel="post", direction="outbound", kind="letter")
    assert interaction.customer_id == jan.id
