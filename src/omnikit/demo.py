"""The demo story: DESIGN.md scenario 1, played on any kit.

Jan orders a drill in the web shop. The next day he calls the service line from his
landline; caller ID (written nationally, ``020 123 4567``) finds him, and the agent
sees yesterday's order. The agent opens a case to move the delivery and e-mails a
confirmation; a colleague picks the case up, moves the delivery to a store and
e-mails again; two days later Jan picks the parcel up in the store. The journey reads
web shop → phone → e-mail → store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from omnikit.kit import Omnikit
from omnikit.model import Case, CaseStatus, Customer, CustomerCard

__all__ = ["DEMO_START", "DemoResult", "SteppedClock", "play_scenario"]

DEMO_START = datetime(2026, 3, 2, 10, 12, tzinfo=UTC)
"""When the story starts: Monday morning, the web shop order."""


class SteppedClock:
    """A clock the story moves forward, so cases carry the story's times."""

    def __init__(self, start: datetime = DEMO_START) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class DemoResult:
    """What the scenario made: the customer, the case, and the card the phone agent saw."""

    customer: Customer
    case: Case
    card_at_call: CustomerCard


def play_scenario(
    kit: Omnikit, *, start: datetime = DEMO_START, clock: SteppedClock | None = None
) -> DemoResult:
    """Play scenario 1 on ``kit`` (whose ``default_region`` should be ``"NL"``).

    Pass the kit's ``clock`` when it is a ``SteppedClock``: the story then sets it to
    each step's time, so that cases are opened and changed at the story's times.
    """
    day = timedelta(days=1)

    def at(moment: datetime) -> datetime:
        if clock is not None:
            clock.at = moment
        return moment

    # Day 1, web shop: an account with e-mail, phone and shop customer number.
    jan = kit.customers.identify(
        email="jan.jansen@example.nl",
        phone="+31 20 123 4567",
        external_ids={"webshop": "C-1001"},
        name="Jan Jansen",
        language="nl",
    )
    kit.record(
        customer=jan.id,
        channel="webshop",
        direction="inbound",
        kind="order",
        text="Order 1001: cordless drill, home delivery on Thursday",
        external_id="order-1001",
        occurred_at=at(start),
        purpose="order",
    )

    # Day 2, phone: caller ID in national format recognises Jan.
    call_at = at(start + day - timedelta(minutes=67))
    caller = kit.customers.identify(phone="020 123 4567")
    card_at_call = kit.customer_card(caller.id)
    call = kit.record(
        customer=caller.id,
        channel="phone",
        direction="inbound",
        kind="call",
        text="Not home on Thursday; wants the delivery moved",
        external_id="call-20260303-0905",
        occurred_at=call_at,
        agent="ann",
        purpose="delivery_change",
    )
    case = kit.cases.open(
        customer=caller.id, subject="Move delivery of order 1001", interaction=call, actor="ann"
    )
    case = kit.cases.assign(case.id, "ann", actor="ann")
    case = kit.cases.transition(case.id, CaseStatus.OPEN, actor="ann")
    kit.record(
        customer=caller.id,
        channel="email",
        direction="outbound",
        kind="message",
        subject="We are moving your delivery",
        text="Dear Jan, we have received your request and will move your delivery.",
        external_id="mail-1001-1",
        occurred_at=at(start + day - timedelta(minutes=60)),
        case=case,
        agent="ann",
        purpose="delivery_change",
    )

    # Day 2, afternoon: a colleague takes over and moves the delivery to a store.
    case = kit.cases.assign(case.id, "piet", actor="piet")
    at(start + day + timedelta(hours=5))
    kit.record(
        customer=caller.id,
        channel="email",
        direction="outbound",
        kind="message",
        subject="Your order 1001 waits for you in our Amsterdam store",
        text="Dear Jan, your drill will be ready for pickup in our Amsterdam store on Friday.",
        external_id="mail-1001-2",
        occurred_at=at(start + day + timedelta(hours=5)),
        case=case,
        agent="piet",
        purpose="delivery_change",
    )
    case = kit.cases.transition(
        case.id, CaseStatus.PENDING, note="Waiting for pickup", actor="piet"
    )

    # Day 4, the store: Jan picks the parcel up; the case is resolved.
    kit.record(
        customer=caller.id,
        channel="store",
        direction="inbound",
        kind="pickup",
        text="Order 1001 picked up in the Amsterdam store",
        external_id="pickup-1001",
        occurred_at=at(start + 3 * day),
        case=case,
        agent="store-amsterdam",
        purpose="order",
    )
    case = kit.cases.transition(case.id, CaseStatus.RESOLVED, actor="store-amsterdam")
    return DemoResult(customer=kit.customers.get(caller.id), case=case, card_at_call=card_at_call)
