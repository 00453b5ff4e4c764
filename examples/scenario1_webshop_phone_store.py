"""Scenario 1: web shop → phone → e-mail → store.

A customer orders in the web shop; the next day calls the service line. Caller ID,
written the way the phone system gives it (national format), recognises him, and the
agent sees the order. The agent opens a case and confirms by e-mail; a colleague takes
the case over, moves the delivery to a store and e-mails again; the customer picks the
parcel up in the store.

Run it: python examples/scenario1_webshop_phone_store.py
"""

from datetime import UTC, datetime, timedelta

from omnikit import CaseStatus, Omnikit

monday = datetime(2026, 3, 2, 10, 12, tzinfo=UTC)
kit = Omnikit("sqlite:///scenario1.db", default_region="NL")

# Monday, web shop: the shop knows Jan's e-mail, phone and customer number.
jan = kit.customers.identify(
    email="Jan.Jansen@Example.nl",
    phone="+31 20 123 4567",
    external_ids={"webshop": "C-1001"},
    name="Jan Jansen",
)
kit.record(
    customer=jan,
    channel="webshop",
    direction="inbound",
    kind="order",
    text="Order 1001: cordless drill",
    external_id="order-1001",
    occurred_at=monday,
)

# Tuesday, phone: the switchboard passes caller ID "020 123 4567".
caller = kit.customers.identify(phone="020 123 4567")
card = kit.customer_card(caller)
print(
    f"Caller recognised: {card.customer.name}; last contact: "
    f"{card.recent[0].channel} {card.recent[0].text!r}"
)

tuesday = monday + timedelta(days=1)
call = kit.record(
    customer=caller,
    channel="phone",
    direction="inbound",
    kind="call",
    text="Not home on Thursday; please move the delivery",
    external_id="call-0905",
    occurred_at=tuesday,
    agent="ann",
)
case = kit.cases.open(
    customer=caller, subject="Move delivery of order 1001", interaction=call, actor="ann"
)
kit.cases.assign(case.id, "ann")
kit.cases.transition(case.id, CaseStatus.OPEN, actor="ann")
kit.record(
    customer=caller,
    channel="email",
    direction="outbound",
    kind="message",
    subject="We are moving your delivery",
    external_id="mail-1",
    occurred_at=tuesday + timedelta(minutes=5),
    case=case,
    agent="ann",
)

# Tuesday afternoon: a colleague picks the case up and moves the delivery.
kit.cases.assign(case.id, "piet", actor="piet")
kit.record(
    customer=caller,
    channel="email",
    direction="outbound",
    kind="message",
    subject="Your order waits in our Amsterdam store",
    external_id="mail-2",
    occurred_at=tuesday + timedelta(hours=5),
    case=case,
    agent="piet",
)

# Thursday, the store: Jan picks the parcel up.
kit.record(
    customer=caller,
    channel="store",
    direction="inbound",
    kind="pickup",
    text="Order 1001 picked up",
    external_id="pickup-1001",
    occurred_at=monday + timedelta(days=3),
    case=case,
)
kit.cases.transition(case.id, CaseStatus.RESOLVED, actor="store-amsterdam")

journey = kit.journey(caller)
print("Journey:", " → ".join(journey.channels))
print(
    "Case:",
    kit.cases.get(case.id).status.value,
    f"with {len(kit.cases.interactions(case.id))} interactions",
)
assert journey.channels == ["webshop", "phone", "email", "store"]
kit.close()
