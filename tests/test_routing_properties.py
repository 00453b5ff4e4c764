"""Routing under random input: the pure decision against its documented rules, and a
real kit against the capacity promise.

- ``decide`` on random agents, loads, queues and contacts: an assigned agent is
  available, takes the channel and has room on it; the queue is the first whose rules
  match; the least loaded agent has the lowest (share in use, routing sequence, id) of
  those who qualify; a contact waits only when nobody qualifies or the queue is
  closed; the reason starts with the rule, and the rule is a documented one.
- A kit (SQLite in memory: the capacity check under a lock is the store's part, which
  the conformance suite covers on every backend) fed random sequences of route,
  release, resolve, reopen, assign and presence changes: after every step no agent
  holds more than their capacity on any channel, every contact is held at most once,
  by its assignee, and only open cases are held or waiting.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from omnikit import (
    Agent,
    BusinessHours,
    ConflictError,
    Omnikit,
    Presence,
    Priority,
    Queue,
    RoutingDecision,
)
from omnikit.routing import Contact, decide

RULES = {
    "owner",
    "previous_agent",
    "least_loaded",
    "queue_closed",
    "no_agent_free",
    "no_queue_matched",
}
CHANNELS = ["webchat", "phone", "email"]
NAMES = ["ann", "bob", "cas", "dan", "eve"]
SKILLS = ["returns", "billing"]
PURPOSES = ["returns", "billing", "complaint"]
HOURS = [  # mostly always open, so that the agents get a say
    None,
    None,
    None,
    BusinessHours(timezone="Europe/Amsterdam", weekly={"mon": ["09:00-17:00"]}),
    BusinessHours(timezone="UTC", weekly={}),  # never open
]
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday

words = st.lists(st.sampled_from(SKILLS), max_size=2, unique=True)
languages = st.lists(st.sampled_from(["nl", "en", "de", "nl-BE"]), max_size=2, unique=True)
capacities = st.fixed_dictionaries({channel: st.integers(0, 3) for channel in CHANNELS})
agents = st.lists(
    st.tuples(
        st.builds(
            Agent,
            id=st.sampled_from(NAMES),
            skills=words,
            languages=languages,
            capacity=capacities,
            presence=st.just(Presence.AVAILABLE) | st.sampled_from(Presence),
        ),
        st.integers(0, 6),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda pair: pair[0].id,
)
queues = st.lists(
    st.builds(
        Queue,
        id=st.sampled_from(["q1", "q2", "q3", "q4"]),
        order=st.integers(0, 2),
        channels=st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True),
        languages=st.lists(st.sampled_from(["nl", "en"]), max_size=1),
        purposes=st.lists(st.sampled_from(PURPOSES), max_size=2, unique=True),
        attributes=st.sampled_from([{}, {"vip": True}]),
        skills=words,
        hours=st.sampled_from(HOURS),
    ),
    max_size=3,
    unique_by=lambda queue: queue.id,
).map(lambda made: sorted(made, key=lambda q: (q.order, q.id)))  # as the store gives them
someone = st.none() | st.sampled_from([*NAMES, "zed"])  # zed is no routing agent


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[Contact, list[tuple[Agent, int]], dict[str, int], list[Queue], datetime]:
    pairs = draw(agents)
    lines = draw(queues)
    contact = Contact(
        channel=draw(st.sampled_from(CHANNELS)),
        language=draw(st.none() | st.sampled_from(["nl", "nl-BE", "en", "fr"])),
        purposes=tuple(draw(st.lists(st.sampled_from(PURPOSES), max_size=2, unique=True))),
        attributes=draw(st.sampled_from([None, {"vip": True}, {"vip": False}])),
        priority=draw(st.sampled_from(Priority)),
        owner=draw(someone),
        previous=draw(someone),
        queue=draw(st.none() | st.sampled_from([q.id for q in lines])) if lines else None,
    )
    loads = draw(st.dictionaries(st.sampled_from(NAMES), st.integers(0, 4), max_size=3))
    now = START + draw(st.integers(0, 7 * 24 * 60)) * timedelta(minutes=1)
    return contact, pairs, loads, lines, now


def speaks(spoken: tuple[str, ...] | frozenset[str], language: str) -> bool:
    return language in spoken or language.split("-", 1)[0] in spoken


def matches(queue: Queue, contact: Contact) -> bool:
    """The queue rules as ``Queue`` documents them: every rule given must match."""
    attributes = contact.attributes or {}
    return (
        (not queue.channels or contact.channel in queue.channels)
        and (
            not queue.languages
            or (contact.language is not None and speaks(queue.languages, contact.language))
        )
        and (not queue.purposes or bool(set(queue.purposes) & set(contact.purposes)))
        and all(attributes.get(key) == value for key, value in queue.attributes.items())
    )


def room(agent: Agent, contact: Contact, loads: dict[str, int]) -> bool:
    capacity = agent.capacity.get(contact.channel, 0)
    return (
        agent.presence is Presence.AVAILABLE and capacity > 0 and loads.get(agent.id, 0) < capacity
    )


def qualifies(agent: Agent, queue: Queue | None, contact: Contact, loads: dict[str, int]) -> bool:
    skills = set(queue.skills) if queue is not None else set()
    return (
        room(agent, contact, loads)
        and skills <= agent.skills
        and (
            contact.language is None
            or not agent.languages
            or speaks(agent.languages, contact.language)
        )
    )


@settings(max_examples=300, deadline=None)
@given(situations())
@example(  # equal counts, unequal shares: the share decides, not the count or the rotation
    (
        Contact(channel="webchat"),
        [
            (Agent(id="ann", capacity={"webchat": 3}), 5),
            (Agent(id="bob", capacity={"webchat": 2}), 0),
        ],
        {"ann": 1, "bob": 1},
        [],
        START,
    )
)
def test_decide_keeps_its_documented_promises(
    situation: tuple[Contact, list[tuple[Agent, int]], dict[str, int], list[Queue], datetime],
) -> None:
    contact, pairs, loads, lines, now = situation
    loads_before = dict(loads)
    decision = decide(contact, pairs, loads, lines, now)
    event(decision.rule)
    assert decide(contact, pairs, loads, lines, now) == decision  # pure: same in, same out
    assert loads == loads_before

    assert isinstance(decision, RoutingDecision)
    assert decision.rule in RULES
    assert decision.reason.startswith(decision.rule + ": ")
    assert (decision.channel, decision.at) == (contact.channel, now)
    assert all(isinstance(line, str) and line for line in decision.passed_over)
    by_id = {agent.id: (agent, seq) for agent, seq in pairs}
    owner = by_id.get(contact.owner or "", (None, 0))[0]
    previous = by_id.get(contact.previous or "", (None, 0))[0]
    sticky = [a for a in (owner, previous) if a is not None and room(a, contact, loads)]

    if contact.queue is not None:
        queue = next(q for q in lines if q.id == contact.queue)
    else:
        queue = next((q for q in lines if matches(q, contact)), None)
    if sticky:  # the owner first, then the previous agent, whatever the queues say
        assert (decision.outcome, decision.agent) == ("assigned", sticky[0].id)
        assert decision.rule == ("owner" if sticky[0] is owner else "previous_agent")
        assert decision.queue == (None if queue is None else queue.id)  # for its SLA
        return
    for name, rule in ((contact.owner, "owner"), (contact.previous, "previous_agent")):
        if name is not None and not (rule == "previous_agent" and name == contact.owner):
            assert any(line.startswith(f"{name} ({rule}) ") for line in decision.passed_over)

    if queue is None and lines:
        assert (decision.outcome, decision.rule) == ("unrouted", "no_queue_matched")
        assert decision.agent is None and decision.queue is None
        assert len(decision.passed_over) >= len(lines)
        return
    assert decision.queue == (None if queue is None else queue.id)
    if queue is not None and queue.hours is not None and not queue.hours.is_open(now):
        assert (decision.outcome, decision.rule, decision.agent) == ("queued", "queue_closed", None)
        return

    candidates = [(a, seq) for a, seq in pairs if qualifies(a, queue, contact, loads)]
    if not candidates:
        assert decision.rule == "no_agent_free"
        assert decision.outcome == ("unrouted" if queue is None else "queued")
        assert decision.agent is None
        return
    assert (decision.outcome, decision.rule) == ("assigned", "least_loaded")
    agent, _ = by_id[decision.agent or ""]
    capacity = agent.capacity[contact.channel]
    assert agent.presence is Presence.AVAILABLE
    assert loads.get(agent.id, 0) < capacity
    best = min(
        candidates,
        key=lambda pair: (
            loads.get(pair[0].id, 0) / pair[0].capacity[contact.channel],
            pair[1],
            pair[0].id,
        ),
    )
    assert decision.agent == best[0].id
    assert f"({loads.get(agent.id, 0)} of {capacity} in use)" in decision.reason


# a real kit --------------------------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(st.just("route"), st.integers(0, 5), st.none() | st.sampled_from(CHANNELS)),
        st.tuples(st.just("release"), st.integers(0, 5), st.none()),
        st.tuples(st.just("finish"), st.integers(0, 5), st.none()),
        st.tuples(st.just("assign"), st.integers(0, 5), st.none() | st.sampled_from(NAMES[:3])),
        st.tuples(st.just("presence"), st.integers(0, 2), st.sampled_from(Presence)),
    ),
    min_size=1,
    max_size=30,
)
setups = st.tuples(
    st.lists(capacities, min_size=3, max_size=3),
    st.lists(st.sampled_from(CHANNELS), min_size=6, max_size=6),
    st.lists(st.sampled_from(Priority), min_size=6, max_size=6),
)


@settings(max_examples=20, deadline=None)
@given(setups, steps)
def test_no_agent_ever_holds_more_than_their_capacity(
    setup: tuple[list[dict[str, int]], list[str], list[Priority]],
    plan: list[tuple[str, int, object]],
) -> None:
    capacity, channels, priorities = setup
    with Omnikit("sqlite:///:memory:") as kit:
        names = NAMES[:3]
        for name, allowed in zip(names, capacity, strict=True):
            kit.routing.set_agent(Agent(id=name, skills=["returns"], capacity=allowed))
        kit.routing.set_queue(Queue(id="returns", purposes=["returns"], skills=["returns"]))
        kit.routing.set_queue(Queue(id="rest", order=1))
        people = [kit.customers.identify(email=f"c{n}@example.nl") for n in range(3)]
        cases = [
            kit.cases.open(
                customer=people[n % 3],
                subject=f"case {n}",
                channel=channel,
                priority=priority,
                purpose=["returns"] if n % 2 else [],
            )
            for n, (channel, priority) in enumerate(zip(channels, priorities, strict=True))
        ]
        for action, index, value in plan:
            case = kit.cases.get(cases[index].id)
            if action == "route":
                try:
                    kit.route(case, channel=value)  # type: ignore[arg-type]
                except ConflictError:
                    assert not case.status.is_open
            elif action == "release":
                kit.routing.release(case)
            elif action == "finish":
                kit.cases.transition(case.id, "resolved" if case.status.is_open else "open")
            elif action == "assign":
                kit.cases.assign(case.id, value)  # type: ignore[arg-type]
            else:
                kit.routing.set_presence(names[index], value)  # type: ignore[arg-type]
            check_invariants(kit, names)


def check_invariants(kit: Omnikit, names: list[str]) -> None:
    held: list[str | None] = []
    for name in names:
        agent = kit.routing.agent(name)
        work = kit.routing.work(name)
        for channel, count in Counter(w.channel for w in work).items():
            assert count <= agent.capacity.get(channel, 0), (name, channel, work)
        for w in work:
            assert w.case_id is not None  # every contact here is a case
            case = kit.cases.get(w.case_id)
            assert case.status.is_open and case.assignee == name
        held += [w.case_id for w in work]
    assert len(held) == len(set(held))  # a contact is held once
    waiting = [e.case_id for q in kit.routing.queues() for e in kit.routing.waiting(q.id)]
    assert len(waiting) == len(set(waiting))
    assert not set(waiting) & set(held)  # waiting or held, never both
    assert all(kit.cases.get(case_id).status.is_open for case_id in waiting if case_id)
