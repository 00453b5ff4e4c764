"""kit.routing and kit.route: agents, queues, and who gets a contact, on every backend.

The strategy under test is the one ``omnikit.routing`` documents: the case's owner,
then the customer's previous agent, then the first queue whose rules match, then the
least loaded qualifying agent (round robin on ties), else a place in the queue. Every
decision is checked for its outcome, its rule and the words it gives, and every refused
call for what it left behind: nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnikit import (
    Agent,
    BusinessHours,
    Case,
    ConflictError,
    Customer,
    NotFoundError,
    Omnikit,
    OmnikitError,
    Presence,
    Queue,
    RoutingDecision,
    UnknownChannelError,
    ValidationError,
)
from omnikit.routing import Contact, decide

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""10:00 in Amsterdam (CET), a Monday."""

OFFICE = BusinessHours(
    timezone="Europe/Amsterdam",
    weekly={day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
)


class Clock:
    """The kit's clock: one second later at every reading, so that every change has
    its own instant; ``set`` moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY)


@pytest.fixture
def kit(store_url: str, clock: Clock) -> Iterator[Omnikit]:
    """A kit on each backend in turn, on a clock the test controls."""
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        yield kit


@pytest.fixture
def jan(kit: Omnikit) -> Customer:
    return kit.customers.identify(email="jan@example.nl", language="nl")


def agent(name: str, **settings: Any) -> Agent:
    """An available agent taking three chats, unless told otherwise."""
    return Agent(id=name, **{"capacity": {"webchat": 3}, **settings})


def customer(kit: Omnikit, name: str, language: str | None = "nl") -> Customer:
    return kit.customers.identify(email=f"{name}@example.nl", language=language)


def chat(kit: Omnikit, who: Customer, **fields: Any) -> Case:
    """A new case that came in on the web chat."""
    return kit.cases.open(customer=who, subject="Chat", channel="webchat", **fields)


def held(kit: Omnikit, name: str) -> list[str | None]:
    """The cases (or interactions) the agent holds now, oldest first."""
    return [w.case_id or w.interaction_id for w in kit.routing.work(name)]


def state(kit: Omnikit, *cases: Case) -> tuple[object, ...]:
    """Everything routing reads or writes that a caller can see."""
    agents = kit.routing.agents()
    queues = kit.routing.queues()
    return (
        agents,
        queues,
        {a.id: kit.routing.work(a.id) for a in agents},
        {q.id: kit.routing.waiting(q.id) for q in queues},
        [(kit.cases.get(c.id), kit.cases.history(c.id)) for c in cases],
    )


# agents and queues -------------------------------------------------------------------


def test_agents_round_trip_replace_and_remove(kit: Omnikit) -> None:
    ann = Agent(
        id="ann",
        name="Ann",
        skills=["returns", "billing"],
        languages=["nl", "EN"],
        capacity={"phone": 1, "webchat": 3, "email": 0},
    )
    assert kit.routing.set_agent(ann) == ann
    assert kit.routing.set_agent(agent("bob")) == agent("bob")
    assert kit.routing.agent("ann") == ann
    assert (ann.skills, ann.languages, ann.channels) == (
        {"billing", "returns"},
        {"en", "nl"},
        {"phone", "webchat"},
    )
    assert kit.routing.agents() == [ann, agent("bob")]
    quieter = Agent(id="ann", capacity={"email": 10})
    kit.routing.set_agent(quieter)
    assert kit.routing.agents() == [quieter, agent("bob")]
    kit.routing.remove_agent("ann")
    assert kit.routing.agents() == [agent("bob")]
    for call in (kit.routing.agent, kit.routing.remove_agent, kit.routing.work):
        with pytest.raises(NotFoundError, match="no agent with id 'ann'"):
            call("ann")
    assert kit.routing.agents() == [agent("bob")]


def test_presence_changes_keep_the_settings(kit: Omnikit) -> None:
    ann = kit.routing.set_agent(agent("ann", skills=["returns"]))
    away = kit.routing.set_presence("ann", "away")
    assert away == ann.model_copy(update={"presence": Presence.AWAY})
    assert kit.routing.agent("ann") == away
    assert kit.routing.set_presence("ann", Presence.OFFLINE).presence is Presence.OFFLINE
    assert kit.routing.set_presence("ann", "available") == ann
    with pytest.raises(ValidationError, match="'asleep' is not a valid presence"):
        kit.routing.set_presence("ann", "asleep")
    with pytest.raises(NotFoundError, match="'nobody'"):
        kit.routing.set_presence("nobody", "away")
    assert kit.routing.agents() == [ann]


def test_queues_round_trip_in_routing_order(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", skills=["returns"]))
    returns = Queue(
        id="returns",
        order=1,
        channels=["webchat", "email"],
        languages=["nl"],
        purposes=["returns"],
        attributes={"vip": True},
        skills=["returns"],
        hours=OFFICE,
    )
    general = Queue(id="general", order=9)
    urgent = Queue(id="urgent", order=1)
    for queue in (general, returns, urgent):
        assert kit.routing.set_queue(queue) == queue
    assert kit.routing.queue("returns") == returns
    assert kit.routing.queues() == [returns, urgent, general]  # order, then id
    first = Queue(id="general", order=0)
    kit.routing.set_queue(first)
    assert kit.routing.queues() == [first, returns, urgent]
    assert kit.routing.waiting("returns") == []
    kit.routing.remove_queue("urgent")
    assert kit.routing.queues() == [first, returns]
    for call in (kit.routing.queue, kit.routing.remove_queue, kit.routing.waiting):
        with pytest.raises(NotFoundError, match="no queue with id 'urgent'"):
            call("urgent")


@pytest.mark.parametrize(
    ("build", "error", "named"),
    [
        (lambda: Agent(id="b", capacity={"webchat": -1}), ValidationError, "-1"),
        (lambda: Agent(id="b", skills=["Bad Skill"]), ValidationError, "'Bad Skill'"),
        (lambda: Agent(id="b", capacity={"Fax!": 1}), ValidationError, "'Fax!'"),
        (lambda: Agent(id=" b"), ValidationError, "' b'"),
        (lambda: Agent(id="b", presence="asleep"), ValidationError, "'asleep'"),
        (lambda: Queue(id="q", channels=["Web Chat"]), ValidationError, "'Web Chat'"),
        (lambda: Queue(id="q", languages=["dutch!"]), ValidationError, "'dutch!'"),
    ],
)
def test_bad_settings_are_refused_when_built(build: Any, error: type, named: str) -> None:
    with pytest.raises(error) as caught:
        build()
    assert isinstance(caught.value, OmnikitError)
    assert named in str(caught.value)


def test_bad_settings_are_refused_and_nothing_is_written(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", skills=["returns"]))
    kit.routing.set_queue(Queue(id="chat", channels=["webchat"]))
    case = chat(kit, jan)
    kit.route(case)
    before = state(kit, case)
    routing = kit.routing
    refused: list[tuple[Any, type[OmnikitError], str]] = [
        (
            lambda: routing.set_agent(agent("bob", capacity={"fax": 1})),
            UnknownChannelError,
            "'fax'",
        ),
        (lambda: routing.set_agent({"id": "bob"}), ValidationError, "not dict"),
        (lambda: routing.set_queue(Queue(id="q", channels=["fax"])), UnknownChannelError, "'fax'"),
        (
            lambda: routing.set_queue(Queue(id="q", skills=["billing"])),
            ValidationError,
            "'billing'",
        ),
        (lambda: routing.set_queue("chat"), ValidationError, "not str"),
        (lambda: routing.agent(""), ValidationError, "'' is not a valid agent id"),
        (lambda: routing.remove_agent("ann"), ConflictError, "'ann' still holds 1 contact"),
        (lambda: routing.remove_queue("nowhere"), NotFoundError, "'nowhere'"),
        (lambda: kit.route(case, channel="fax"), UnknownChannelError, "'fax'"),
        (lambda: kit.route("no-such-case"), NotFoundError, "'no-such-case'"),
        (lambda: routing.release("no-such-case"), NotFoundError, "'no-such-case'"),
    ]
    for call, error, named in refused:
        with pytest.raises(error) as caught:
            call()
        assert named in str(caught.value)
        assert state(kit, case) == before


def test_a_queue_with_contacts_waiting_cannot_be_removed(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_queue(Queue(id="chat"))
    case = chat(kit, jan)
    assert kit.route(case).outcome == "queued"  # there are no agents
    before = state(kit, case)
    with pytest.raises(ConflictError, match="'chat' still has 1 contact"):
        kit.routing.remove_queue("chat")
    assert state(kit, case) == before
    kit.cases.transition(case.id, "closed")
    kit.routing.remove_queue("chat")
    assert kit.routing.queues() == []


def test_an_agent_holding_work_is_removed_after_release(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    case = chat(kit, jan)
    kit.route(case)
    with pytest.raises(ConflictError, match="'ann'"):
        kit.routing.remove_agent("ann")
    assert held(kit, "ann") == [case.id]
    released = kit.routing.release(case)
    assert released is not None and (released.agent_id, released.case_id) == ("ann", case.id)
    assert kit.routing.release(case.id) is None  # nobody holds it any more
    kit.routing.remove_agent("ann")
    assert kit.routing.agents() == []


def test_routing_a_finished_case_conflicts(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    for status in ("resolved", "closed"):
        case = kit.cases.transition(chat(kit, jan).id, status)
        before = state(kit, case)
        with pytest.raises(ConflictError, match=f"case {case.id} is {status}; reopen it"):
            kit.route(case)
        assert state(kit, case) == before
        kit.cases.transition(case.id, "open")
        assert kit.route(case).agent == "ann"


def test_a_case_without_a_channel_needs_one(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", capacity={"phone": 1}))
    case = kit.cases.open(customer=jan, subject="Letter")
    before = state(kit, case)
    with pytest.raises(ValidationError, match="no channel to route on; pass channel="):
        kit.route(case)
    assert state(kit, case) == before
    decision = kit.route(case, channel="phone")
    assert (decision.outcome, decision.agent, decision.channel) == ("assigned", "ann", "phone")
    assert [(w.channel, w.case_id) for w in kit.routing.work("ann")] == [("phone", case.id)]


def test_a_stale_version_changes_nothing(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_agent(agent("bob"))
    case = chat(kit, jan)
    kit.route(case)
    routed = kit.cases.get(case.id)
    assert (routed.assignee, routed.version) == ("ann", 2)
    before = state(kit, case)
    with pytest.raises(ConflictError, match="at version 2, not 1"):
        kit.cases.assign(case.id, "bob", expected_version=1)
    with pytest.raises(ConflictError, match="at version 2, not 1"):
        kit.cases.transition(case.id, "resolved", expected_version=1)
    assert state(kit, case) == before  # ann still holds it: the release was rolled back
    kit.cases.transition(case.id, "resolved", expected_version=2)
    assert held(kit, "ann") == []


# queues: which one takes the contact -------------------------------------------------


@pytest.fixture
def queues(kit: Omnikit) -> None:
    """Queues tried in order: VIPs, Dutch web-chat returns, English, then the rest."""
    kit.routing.set_agent(
        agent("ann", skills=["returns"], capacity={"webchat": 3, "email": 3, "phone": 3})
    )
    kit.routing.set_queue(Queue(id="vip", order=0, attributes={"vip": True}))
    kit.routing.set_queue(
        Queue(
            id="returns_nl",
            order=1,
            channels=["webchat"],
            languages=["nl"],
            purposes=["returns", "refund"],
            skills=["returns"],
        )
    )
    kit.routing.set_queue(Queue(id="english", order=2, languages=["en"]))
    kit.routing.set_queue(Queue(id="rest", order=9))


VIP_NO = "queue 'vip': wants attribute vip=true, the customer has none"
MATCHING = [  # language, channel, purpose, the queue that takes it, the queues passed over
    ("nl", "webchat", ["returns"], "returns_nl", [VIP_NO]),
    ("nl-BE", "webchat", ["refund", "complaint"], "returns_nl", [VIP_NO]),
    (
        "nl",
        "email",
        ["returns"],
        "rest",
        [
            VIP_NO,
            "queue 'returns_nl': takes channels webchat, not email",
            "queue 'english': takes languages en, not nl",
        ],
    ),
    (
        "nl",
        "webchat",
        ["billing"],
        "rest",
        [
            VIP_NO,
            "queue 'returns_nl': takes purposes refund, returns, not billing",
            "queue 'english': takes languages en, not nl",
        ],
    ),
    (
        "en-GB",
        "phone",
        [],
        "english",
        [VIP_NO, "queue 'returns_nl': takes channels webchat, not phone"],
    ),
    (
        None,
        "webchat",
        ["returns"],
        "rest",
        [
            VIP_NO,
            "queue 'returns_nl': takes languages nl, not unknown",
            "queue 'english': takes languages en, not unknown",
        ],
    ),
]


@pytest.mark.usefixtures("queues")
def test_the_first_matching_queue_takes_the_contact(kit: Omnikit) -> None:
    for n, (language, channel, purpose, queue, passed_over) in enumerate(MATCHING):
        who = customer(kit, f"c{n}", language)
        case = kit.cases.open(customer=who, subject="?", channel=channel, purpose=purpose)
        decision = kit.route(case)
        assert (decision.outcome, decision.agent, decision.queue) == ("assigned", "ann", queue)
        assert (decision.rule, decision.channel) == ("least_loaded", channel)
        assert decision.case_id == case.id
        assert decision.reason.startswith(f"least_loaded: queue {queue!r} matched (")
        assert list(decision.passed_over) == passed_over
        assert kit.cases.get(case.id).queue == queue
        kit.routing.release(case)


@pytest.mark.usefixtures("queues")
def test_a_vip_attribute_sends_the_customer_to_the_vip_queue(kit: Omnikit, jan: Customer) -> None:
    kit.customers.set_attributes(jan, {"vip": True})
    decision = kit.route(chat(kit, jan, purpose=["returns"]))
    assert (decision.queue, decision.passed_over) == ("vip", ())
    assert "queue 'vip' matched (attribute vip=true)" in decision.reason
    piet = customer(kit, "piet")
    kit.customers.set_attributes(piet, {"vip": "yes"})  # not the value the rule wants
    decision = kit.route(chat(kit, piet, purpose=["returns"]))
    assert decision.queue == "returns_nl"
    assert decision.passed_over[0] == (
        "queue 'vip': wants attribute vip=true, the customer has \"yes\""
    )


@pytest.mark.usefixtures("queues")
def test_the_reason_names_the_queue_and_what_matched(kit: Omnikit, jan: Customer) -> None:
    decision = kit.route(chat(kit, jan, purpose=["returns"]))
    assert decision.reason == (
        "least_loaded: queue 'returns_nl' matched (channel webchat, language nl, purpose "
        "returns); ann has the lowest load on webchat (0 of 3 in use) among the agents who "
        "qualify"
    )


@pytest.mark.usefixtures("queues")
def test_a_case_in_a_queue_stays_in_it(kit: Omnikit, jan: Customer) -> None:
    case = chat(kit, jan, purpose=["returns"], queue="english")
    decision = kit.route(case)
    assert (decision.queue, decision.passed_over) == ("english", ())
    assert "the case is in queue 'english'" in decision.reason


def test_no_matching_queue_leaves_the_contact_unrouted(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 3, "phone": 1}))
    kit.routing.set_queue(Queue(id="chat", channels=["webchat"]))
    kit.routing.set_queue(Queue(id="english", languages=["en"]))
    case = kit.cases.open(customer=jan, subject="Call", channel="phone")
    decision = kit.route(case)
    assert (decision.outcome, decision.rule) == ("unrouted", "no_queue_matched")
    assert (decision.agent, decision.queue, decision.position) == (None, None, None)
    assert decision.reason.startswith("no_queue_matched: none of the 2 queues takes this phone")
    assert decision.passed_over == (
        "queue 'chat': takes channels webchat, not phone",
        "queue 'english': takes languages en, not nl",
    )
    assert kit.cases.get(case.id).queue is None
    assert held(kit, "ann") == [] and kit.routing.waiting("chat") == []
    routed = kit.cases.history(case.id)[-1]
    assert (routed.type, routed.note) == ("routed", decision.reason)


# agents: least loaded, round robin, capacity ------------------------------------------


def test_the_least_loaded_agent_who_qualifies_gets_it(kit: Omnikit) -> None:
    kit.routing.set_agent(
        agent("ann", skills=["returns"], languages=["nl"], capacity={"webchat": 2})
    )
    kit.routing.set_agent(
        agent("bob", skills=["returns"], languages=["nl"], capacity={"webchat": 4})
    )
    kit.routing.set_queue(Queue(id="returns", skills=["returns"]))
    first, second = (kit.route(chat(kit, customer(kit, name))) for name in ("c1", "c2"))
    assert (first.agent, second.agent) == ("ann", "bob")  # a tie, then bob's 0 of 4
    # now ann has 1 of 2 (half) and bob 1 of 4 (a quarter) in use
    kit.routing.set_agent(agent("cas", languages=["nl"]))  # lacks the skill
    kit.routing.set_agent(agent("dan", skills=["returns"], languages=["en"]))
    kit.routing.set_agent(agent("eve", skills=["returns"], presence="away"))
    kit.routing.set_agent(agent("fay", skills=["returns"], capacity={"email": 5}))
    decision = kit.route(chat(kit, customer(kit, "c3")))
    assert (decision.agent, decision.rule) == ("bob", "least_loaded")
    assert "bob has the lowest load on webchat (1 of 4 in use)" in decision.reason
    assert decision.passed_over == (
        "agents passed over, not taking webchat: 1, away or offline: 1, "
        "lacking skill returns: 1, not speaking nl: 1",
    )
    english = kit.route(chat(kit, customer(kit, "c4", language="en-US")))
    assert english.agent == "dan"  # a regional tag matches the language the agent speaks


def test_an_agent_without_languages_speaks_any(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", languages=["nl"]))
    kit.routing.set_agent(agent("bob"))
    assert kit.route(chat(kit, customer(kit, "pierre", language="fr"))).agent == "bob"
    assert kit.route(chat(kit, customer(kit, "nobody", language=None))).agent == "ann"


def test_ties_go_round_robin(kit: Omnikit) -> None:
    for name in ("cas", "ann", "bob"):
        kit.routing.set_agent(agent(name))
    chosen = []
    for n in range(7):
        case = chat(kit, customer(kit, f"c{n}"))
        decision = kit.route(case)
        assert decision.reason.endswith("(0 of 3 in use) among the agents who qualify")
        chosen.append(decision.agent)
        kit.routing.release(case)  # everybody is idle again: only the rotation decides
    assert chosen == ["ann", "bob", "cas", "ann", "bob", "cas", "ann"]


def test_ties_on_load_still_rotate(kit: Omnikit) -> None:
    for name in ("ann", "bob", "cas"):
        kit.routing.set_agent(agent(name))
    chosen = [kit.route(chat(kit, customer(kit, f"c{n}"))).agent for n in range(6)]
    assert chosen == ["ann", "bob", "cas", "ann", "bob", "cas"]
    assert [len(kit.routing.work(name)) for name in ("ann", "bob", "cas")] == [2, 2, 2]


def test_new_settings_keep_an_agents_place_in_the_rotation(kit: Omnikit) -> None:
    for name in ("ann", "bob"):
        kit.routing.set_agent(agent(name))
    first = chat(kit, customer(kit, "c1"))
    assert kit.route(first).agent == "ann"
    kit.routing.release(first)
    kit.routing.set_agent(agent("ann", skills=["returns"]))  # ann was routed to last
    kit.routing.set_presence("ann", "away")
    kit.routing.set_presence("ann", "available")
    assert kit.route(chat(kit, customer(kit, "c2"))).agent == "bob"


def test_capacity_per_channel_is_never_exceeded(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 2, "phone": 1}))
    kit.routing.set_queue(Queue(id="support"))
    chats = [chat(kit, customer(kit, f"c{n}")) for n in range(4)]
    decisions = [kit.route(case) for case in chats]
    assert [(d.outcome, d.agent, d.queue, d.position) for d in decisions] == [
        ("assigned", "ann", "support", None),
        ("assigned", "ann", "support", None),
        ("queued", None, "support", 1),
        ("queued", None, "support", 2),
    ]
    assert decisions[2].rule == "no_agent_free"
    assert decisions[2].reason == (
        "no_agent_free: queue 'support' matched (it takes every contact); no agent can "
        "take it now (at capacity on webchat: 1)"
    )
    assert held(kit, "ann") == [chats[0].id, chats[1].id]
    call = kit.cases.open(customer=customer(kit, "caller"), subject="Call", channel="phone")
    assert kit.route(call).agent == "ann"  # the phone has room of its own
    urgent = chat(kit, customer(kit, "c5"), priority="urgent")
    high = chat(kit, customer(kit, "c6"), priority="high")
    assert (kit.route(urgent).position, kit.route(high).position) == (1, 2)
    waiting = kit.routing.waiting("support")
    assert [e.case_id for e in waiting] == [urgent.id, high.id, chats[2].id, chats[3].id]
    assert [e.rank for e in waiting] == [3, 2, 1, 1]
    assert kit.route(chats[3]).position == 4  # routing again keeps its place
    assert len(kit.routing.work("ann")) == 3


def test_a_waiting_case_made_urgent_moves_ahead_when_routed_again(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="support"))
    first, second, third = (chat(kit, customer(kit, f"c{n}")) for n in range(3))
    kit.route(first)
    assert (kit.route(second).position, kit.route(third).position) == (1, 2)
    arrived = kit.routing.waiting("support")[1].enqueued_at
    kit.cases.set_priority(third.id, "urgent")
    assert kit.route(third).position == 1
    waiting = kit.routing.waiting("support")
    assert [(e.case_id, e.rank) for e in waiting] == [(third.id, 3), (second.id, 1)]
    assert waiting[0].enqueued_at == arrived  # it keeps the time it has waited


def test_a_release_frees_room_for_the_next(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="support"))
    first, second = (chat(kit, customer(kit, f"c{n}")) for n in range(2))
    kit.route(first)
    assert kit.route(second).outcome == "queued"
    released = kit.routing.release(first)
    assert released is not None and released.case_id == first.id
    decision = kit.route(second)
    assert (decision.outcome, decision.agent) == ("assigned", "ann")
    assert kit.routing.waiting("support") == []
    assert held(kit, "ann") == [second.id]


def test_finishing_a_case_releases_its_work_and_place(kit: Omnikit) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="support"))
    cases = [chat(kit, customer(kit, f"c{n}")) for n in range(5)]
    for case in cases:
        kit.route(case)
    kit.cases.transition(cases[1].id, "closed")  # waiting: it leaves the queue
    kit.cases.transition(cases[2].id, "resolved")
    assert [e.case_id for e in kit.routing.waiting("support")] == [cases[3].id, cases[4].id]
    kit.cases.transition(cases[0].id, "resolved")  # held: ann's room comes back
    assert held(kit, "ann") == []
    assert kit.route(cases[3]).agent == "ann"
    kit.cases.transition(cases[3].id, "closed")
    assert held(kit, "ann") == []


def test_assigning_by_hand_releases_the_previous_agents_work(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    case = chat(kit, jan)
    kit.route(case)
    kit.cases.assign(case.id, "bob")  # not a routing agent: any name is accepted
    assert held(kit, "ann") == []


# sticky routing: the owner and the previous agent ---------------------------------------


def test_the_owner_gets_the_case_back(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_agent(agent("bob", capacity={"webchat": 2}))
    case = kit.cases.assign(chat(kit, jan).id, "bob")
    decision = kit.route(case)
    assert (decision.outcome, decision.agent, decision.rule) == ("assigned", "bob", "owner")
    assert decision.reason == "owner: bob owns the case and has room on webchat (0 of 2 in use)"
    again = kit.route(case)  # routing again does not count the case twice
    assert again.reason == "owner: bob owns the case and has room on webchat (0 of 2 in use)"
    assert held(kit, "bob") == [case.id]
    assert [e.type for e in kit.cases.history(case.id)] == [
        "opened",
        "assigned",
        "routed",
        "routed",
    ]


def test_the_previous_agent_gets_the_customers_new_case(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_agent(agent("bob"))
    kit.cases.assign(chat(kit, jan).id, "bob")
    kit.route(kit.cases.assign(chat(kit, customer(kit, "other")).id, "bob"))  # bob is busier
    new = chat(kit, jan)
    decision = kit.route(new)
    assert (decision.agent, decision.rule) == ("bob", "previous_agent")
    assert decision.reason == (
        "previous_agent: bob handled the customer's previous case and has room on webchat "
        "(1 of 3 in use)"
    )
    assert kit.cases.get(new.id).assignee == "bob"


def test_an_away_owner_is_passed_over_by_name(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_agent(agent("bob"))
    case = kit.cases.assign(chat(kit, jan).id, "bob")
    kit.routing.set_presence("bob", "away")
    decision = kit.route(case)
    assert (decision.agent, decision.rule) == ("ann", "least_loaded")
    assert decision.passed_over == (
        "bob (owner) is away",
        "agents passed over, away or offline: 1",
    )
    assert kit.cases.get(case.id).assignee == "ann"
    assigned = kit.cases.history(case.id)[-1]
    assert (assigned.type, assigned.before, assigned.after) == (
        "assigned",
        {"assignee": "bob"},
        {"assignee": "ann"},
    )
    assert assigned.note == decision.reason


def test_a_full_owner_and_previous_agent_are_passed_over(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_agent(agent("bob", capacity={"webchat": 1}))
    kit.routing.set_agent(agent("cas"))
    kit.route(kit.cases.assign(chat(kit, jan).id, "bob"))  # bob is full
    kit.route(kit.cases.assign(chat(kit, customer(kit, "other")).id, "ann"))  # ann too
    case = kit.cases.assign(chat(kit, jan).id, "ann")
    decision = kit.route(case)
    assert (decision.agent, decision.rule) == ("cas", "least_loaded")
    assert decision.passed_over == (
        "ann (owner) is at capacity on webchat (1 of 1)",
        "bob (previous_agent) is at capacity on webchat (1 of 1)",
        "agents passed over, at capacity on webchat: 2",
    )


def test_an_owner_who_is_also_the_previous_agent_is_named_once(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", presence="offline"))
    kit.routing.set_agent(agent("bob"))
    kit.cases.assign(chat(kit, jan).id, "ann")
    case = kit.cases.assign(chat(kit, jan).id, "ann")
    decision = kit.route(case)
    assert decision.agent == "bob"
    assert decision.passed_over == (
        "ann (owner) is offline",
        "agents passed over, away or offline: 1",
    )


# the decision in the case's history ----------------------------------------------------


def test_decisions_are_recorded_in_the_case_history(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="support"))
    first = chat(kit, jan)
    assigned = kit.route(first)
    *_, routed, given = kit.cases.history(first.id)
    assert (routed.type, routed.actor, routed.note, routed.at) == (
        "routed",
        "omnikit",
        assigned.reason,
        assigned.at,
    )
    assert routed.after == {
        "outcome": "assigned",
        "agent": "ann",
        "queue": "support",
        "position": None,
        "rule": "least_loaded",
    }
    assert (given.type, given.before, given.after) == (
        "assigned",
        {"assignee": None, "queue": None},
        {"assignee": "ann", "queue": "support"},
    )
    assert given.note == assigned.reason
    second = chat(kit, customer(kit, "other"))
    queued = kit.route(second)
    *_, routed, moved = kit.cases.history(second.id)
    assert routed.after == {
        "outcome": "queued",
        "agent": None,
        "queue": "support",
        "position": 1,
        "rule": "no_agent_free",
    }
    assert routed.note == queued.reason
    assert (moved.type, moved.after, moved.note) == (
        "queue_changed",
        {"queue": "support"},
        queued.reason,
    )
    assert kit.cases.get(second.id).assignee is None


# business hours --------------------------------------------------------------------------


def test_a_closed_queue_keeps_the_contact_waiting(
    kit: Omnikit, clock: Clock, jan: Customer
) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_queue(Queue(id="office", hours=OFFICE))
    case = chat(kit, jan)
    first = "queue 'office' matched (it takes every contact)"
    again = "the case is in queue 'office'"  # where the first decision put it
    for at, matched, opens in [
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), first, "2026-03-09 08:00"),  # a Saturday
        (datetime(2026, 3, 2, 7, 30, tzinfo=UTC), again, "2026-03-02 08:00"),  # 08:30 local
        (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), again, "2026-03-03 08:00"),  # 17:00 local
    ]:
        clock.set(at)
        decision = kit.route(case)
        assert (decision.outcome, decision.queue) == ("queued", "office")
        assert (decision.rule, decision.agent, decision.position) == ("queue_closed", None, 1)
        assert decision.reason == (
            f"queue_closed: {matched}, but it is closed now; it opens at {opens} UTC"
        )
        assert held(kit, "ann") == []
    clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))  # Monday 09:00 in Amsterdam
    decision = kit.route(case)
    assert (decision.outcome, decision.agent, decision.queue) == ("assigned", "ann", "office")
    assert kit.routing.waiting("office") == []


def test_a_queue_without_hours_never_opens(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    kit.routing.set_queue(Queue(id="closed", hours=BusinessHours(timezone="UTC", weekly={})))
    decision = kit.route(chat(kit, jan))
    assert (decision.outcome, decision.rule) == ("queued", "queue_closed")
    assert decision.reason.endswith("it opens never (it has no hours)")


# interactions without a case ----------------------------------------------------------


def test_an_interaction_without_a_case_is_routed_and_released(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann", capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="chat"))
    first = kit.record(customer=jan, channel="webchat", direction="inbound", kind="message")
    assert first.case_id is None
    decision = kit.route(first.id)
    assert (decision.outcome, decision.agent, decision.channel) == ("assigned", "ann", "webchat")
    assert (decision.case_id, decision.interaction_id) == (None, first.id)
    (work,) = kit.routing.work("ann")
    assert (work.case_id, work.interaction_id, work.channel) == (None, first.id, "webchat")
    other = customer(kit, "piet")
    second = kit.record(customer=other, channel="webchat", direction="inbound", kind="message")
    waiting = kit.route(second)
    assert (waiting.outcome, waiting.position, waiting.interaction_id) == ("queued", 1, second.id)
    (entry,) = kit.routing.waiting("chat")
    assert (entry.case_id, entry.interaction_id) == (None, second.id)
    released = kit.routing.release(first)
    assert released == work
    assert kit.routing.release(first.id) is None
    assert kit.route(second).agent == "ann"
    assert kit.routing.waiting("chat") == []


def test_an_interaction_of_a_case_routes_the_case(kit: Omnikit, jan: Customer) -> None:
    kit.routing.set_agent(agent("ann"))
    case = chat(kit, jan)
    message = kit.record(
        customer=jan, channel="webchat", direction="inbound", kind="message", case=case
    )
    decision = kit.route(message)
    assert (decision.case_id, decision.interaction_id) == (case.id, message.id)
    assert held(kit, "ann") == [case.id]
    assert kit.cases.get(case.id).assignee == "ann"
    released = kit.routing.release(message)  # the interaction's case frees the room
    assert released is not None and released.case_id == case.id
    assert held(kit, "ann") == []


def test_concurrent_routers_never_exceed_capacity(store_url: str, backend: str) -> None:
    """Four kits (as four processes would) route 24 chats at once to two agents with
    room for three each: six get an agent, the rest wait, nobody is over capacity."""
    if backend == "sqlite-memory":
        pytest.skip("an in-memory store lives in one kit; there is nothing to share")
    with Omnikit(store_url) as setup:
        for name in ("ann", "bob"):
            setup.routing.set_agent(Agent(id=name, capacity={"webchat": 3}))
        setup.routing.set_queue(Queue(id="chat"))
        cases = [
            setup.cases.open(
                customer=setup.customers.identify(email=f"c{n}@example.nl"),
                subject="Chat",
                channel="webchat",
            ).id
            for n in range(24)
        ]
    barrier = threading.Barrier(4)
    decisions: list[RoutingDecision] = []
    errors: list[BaseException] = []

    def router(share: list[str]) -> None:
        try:
            with Omnikit(store_url) as kit:
                barrier.wait()
                decisions.extend(kit.route(case_id) for case_id in share)
        except BaseException as error:  # reported below, with the test's assertion
            errors.append(error)

    threads = [threading.Thread(target=router, args=(cases[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(decisions) == 24
    with Omnikit(store_url) as kit:
        held = {name: len(kit.routing.work(name)) for name in ("ann", "bob")}
        waiting = kit.routing.waiting("chat")
    assert held == {"ann": 3, "bob": 3}
    assert sum(d.outcome == "assigned" for d in decisions) == 6
    assert len(waiting) == 18


def test_decide_caches_never_serve_a_changed_roster_or_queue_list() -> None:
    """decide() caches who qualifies and which queue matches per list of agents and
    queues by identity; new objects (a changed agent or queue) are decided afresh."""
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    ann = Agent(id="ann", capacity={"phone": 1}, languages=["nl"])
    bob = Agent(id="bob", capacity={"phone": 1}, languages=["nl"])
    roster = [(ann, 1), (bob, 2)]
    dutch = Queue(id="dutch", order=1, languages=["nl"])
    rest = Queue(id="rest", order=2)
    contact = Contact(channel="phone", language="nl")
    assert decide(contact, roster, {}, [dutch, rest], at).agent == "ann"
    away = ann.model_copy(update={"presence": Presence.AWAY})
    assert decide(contact, [(away, 1), (bob, 2)], {}, [dutch, rest], at).agent == "bob"
    english = Queue(id="dutch", order=1, languages=["en"])
    moved = decide(contact, roster, {}, [english, rest], at)
    assert moved.queue == "rest"
    assert moved.passed_over[0] == "queue 'dutch': takes languages en, not nl"
    # attribute values that cannot be hashed are matched without the cache
    vip = Queue(id="vip", order=0, attributes={"tags": ["gold"]})
    gold = Contact(channel="phone", language="nl", attributes={"tags": ["gold"]})
    assert decide(gold, roster, {}, [vip, rest], at).queue == "vip"
    plain = Contact(channel="phone", language="nl", attributes={"tags": ["tin"]})
    assert decide(plain, roster, {}, [vip, rest], at).queue == "rest"
