"""One case across three channels: it starts on the phone, continues on WhatsApp and
ends in the store.

The service desk has two agents and two queues with business hours and service
levels. Anna calls about a broken drill; routing gives the call to the agent with
room, the case waits on her photo (the SLA clock pauses), her WhatsApp message joins
the same case by itself and brings it back to the same agent, and she finally swaps
the drill in the store. Every step is in the case's history, and event handlers saw
each change after it was committed.

Run it: python examples/one_case_phone_whatsapp_store.py
"""

from datetime import UTC, datetime, timedelta

from omnikit import Agent, BusinessHours, Omnikit, Queue, SlaPolicy

now = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # Monday 10:00 in Amsterdam
kit = Omnikit("sqlite:///one_case.db", default_region="NL", clock=lambda: now)
kit.on("*", lambda event: print(f"  event: {event.type}"))

office = BusinessHours(
    timezone="Europe/Amsterdam",
    weekly={day: ["09:00-17:30"] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=[datetime(2026, 5, 14).date()],  # Ascension Day
)
kit.routing.set_agent(
    Agent(
        id="ann",
        skills=["tools"],
        languages=["nl", "en"],
        capacity={"phone": 1, "whatsapp": 3, "email": 10},
    )
)
kit.routing.set_agent(
    Agent(id="piet", skills=["tools"], languages=["nl"], capacity={"phone": 1, "whatsapp": 3})
)
kit.routing.set_queue(
    Queue(
        id="repairs",
        order=1,
        purposes=["repair"],
        skills=["tools"],
        hours=office,
        sla={
            "normal": SlaPolicy(
                first_response=timedelta(hours=2),
                resolution=timedelta(days=3),
                pause_when_pending=True,
            )
        },
    )
)
kit.routing.set_queue(Queue(id="general", order=9, hours=office))

print("Anna calls:")
anna = kit.customers.identify(phone="06 12345678", name="Anna", language="nl")
call = kit.record(
    customer=anna,
    channel="phone",
    direction="inbound",
    kind="call",
    text="My new drill does not start",
    purpose="repair",
)
case = kit.cases.open(customer=anna, subject="Drill does not start", interaction=call)
decision = kit.route(case)
print(f"  routed: {decision.reason}")
agent = decision.agent
kit.record(
    customer=anna,
    channel="phone",
    direction="outbound",
    kind="call",
    text="Please send a photo of the serial number",
    case=case,
    agent=agent,
)
kit.cases.transition(case.id, "pending", actor=agent, note="waiting for a photo")
kit.routing.release(case)  # the call has ended: the agent is free for the next one

now += timedelta(hours=20)
print("Next morning, a WhatsApp photo:")
photo = kit.record(
    customer=anna,
    channel="whatsapp",
    direction="inbound",
    kind="message",
    text="Here is the photo",
    external_id="wamid.HBgL001",
)
assert photo.case_id == case.id  # continuity: the open case, whatever the channel
decision = kit.route(case, channel="whatsapp")
print(f"  routed: {decision.reason}")

now += timedelta(days=1)
print("Anna swaps the drill in the store:")
kit.record(
    customer=anna,
    channel="store",
    direction="inbound",
    kind="visit",
    text="Drill swapped at the counter",
)
case = kit.cases.transition(case.id, "resolved", actor="store-desk")

print("One case:", " → ".join(i.channel for i in kit.cases.interactions(case.id)))
print("History:")
for event in kit.cases.history(case.id):
    print(f"  {event.at:%a %H:%M} UTC {event.type:<22} {event.actor or ''}")
assert [i.channel for i in kit.cases.interactions(case.id)] == [
    "phone",
    "phone",
    "whatsapp",
    "store",
]
assert decision.agent == agent and decision.rule == "owner"
kit.close()
