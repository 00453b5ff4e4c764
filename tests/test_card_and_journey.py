"""The customer card and the journey, and scenario 1 (web shop → phone → e-mail → store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from omnikit import CaseStatus, Omnikit
from omnikit.demo import SteppedClock, play_scenario


def test_card_shows_everything_across_channels(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567", name="Jan")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    channels = ["webshop", "email", "phone", "email", "whatsapp"]
    for n, channel in enumerate(channels):
        kit.record(
            customer=jan.id,
            channel=channel,
            direction="inbound",
            kind="message",
            occurred_at=start + timedelta(hours=n),
            text=f"contact {n}",
        )
    case = kit.cases.open(customer=jan.id, subject="Open question")
    done = kit.cases.open(customer=jan.id, subject="Done")
    kit.cases.transition(done.id, "closed")

    card = kit.customer_card(jan.id, limit=3)
    assert card.customer.name == "Jan"
    assert {i.value for i in card.identities} == {"jan@example.nl", "+31201234567"}
    assert [i.text for i in card.recent] == ["contact 4", "contact 3", "contact 2"]
    assert [c.id for c in card.open_cases] == [case.id]
    summary = {s.channel: (s.count, s.last_contact) for s in card.channels}
    assert summary["email"] == (2, start + timedelta(hours=3))
    assert card.channels[0].channel == "whatsapp"  # most recent first
    assert json.loads(json.dumps(card.to_dict()))["customer"]["name"] == "Jan"


def test_card_of_a_new_customer_is_empty_but_whole(kit: Omnikit) -> None:
    card = kit.customer_card(kit.customers.identify(email="new@example.nl").id)
    assert (card.recent, card.open_cases, card.channels) == ((), (), ())


def test_journey_collapses_repeats_and_lists_switches(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    start = datetime(2026, 3, 1, tzinfo=UTC)
    # recorded out of order: the journey sorts by when it happened
    for hours, channel in [(3, "email"), (0, "webshop"), (1, "phone"), (2, "phone"), (4, "store")]:
        kit.record(
            customer=jan.id,
            channel=channel,
            direction="inbound",
            kind="message",
            occurred_at=start + timedelta(hours=hours),
        )
    journey = kit.journey(jan.id)
    assert [s.channel for s in journey.steps] == ["webshop", "phone", "phone", "email", "store"]
    assert journey.channels == ["webshop", "phone", "email", "store"]
    assert journey.switches == [("webshop", "phone"), ("phone", "email"), ("email", "store")]


def test_scenario_one_webshop_phone_email_store(store_url: str) -> None:
    clock = SteppedClock()
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        result = play_scenario(kit, clock=clock)
        # the phone agent saw yesterday's web shop order when caller ID matched
        assert [i.channel for i in result.card_at_call.recent] == ["webshop"]
        assert result.card_at_call.recent[0].text.startswith("Order 1001")
        assert kit.journey(result.customer.id).channels == ["webshop", "phone", "email", "store"]
        case = kit.cases.get(result.case.id)
        assert (case.status, case.assignee) == (CaseStatus.RESOLVED, "piet")
        attached = kit.cases.interactions(case.id)
        assert [i.channel for i in attached] == ["phone", "email", "email", "store"]
        assert case.created_at == result.card_at_call.recent[0].occurred_at + timedelta(
            days=1, minutes=-67
        )
