"""Routing: which agent or queue gets a contact, by rules anyone can read.

``decide`` is the pure decision; ``Routing`` (``kit.routing``) keeps agents and queues
in the store, and ``route`` (``kit.route``) applies a decision inside one transaction.

The strategy, in order (``RoutingDecision.rule`` names the step that decided):

1. ``owner`` — the case's assignee, when available with room on the channel;
2. ``previous_agent`` — the agent of the customer's most recent other case, likewise;
3. the first queue whose rules match the contact (queues in ``order``, then id);
   with no queues configured, every agent is a candidate;
4. ``least_loaded`` — among the available agents who take the channel, have room on
   it, have the queue's skills and speak the customer's language: the lowest share
   of capacity in use on the channel, then the one routed to longest ago (round
   robin), then the id;
5. otherwise the contact waits in the queue: ``queue_closed`` outside the queue's
   business hours, ``no_agent_free`` when nobody qualifies; or ``no_queue_matched``
   when no queue takes it (``outcome="unrouted"``).

No agent is ever given more than their capacity on a channel: the check is repeated
under a lock on the agent's row when the work is stored.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import is_, itemgetter
from typing import TYPE_CHECKING

from pydantic import JsonValue

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import require_utc, to_micros
from omnikit.cases import apply_change
from omnikit.errors import ConflictError, NotFoundError, StoreError, ValidationError
from omnikit.model import (
    Agent,
    Case,
    CaseEvent,
    Interaction,
    Presence,
    Priority,
    Queue,
    QueueEntry,
    RoutingDecision,
    Work,
)
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["RANK", "Contact", "Routing", "decide", "route"]

RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}
"""A priority's place in a queue: higher waits less."""

_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Contact:
    """What routing knows of a contact."""

    channel: str
    language: str | None = None
    purposes: tuple[str, ...] = ()
    attributes: Mapping[str, JsonValue] | None = None
    priority: Priority = Priority.NORMAL
    owner: str | None = None
    """The case's assignee."""
    previous: str | None = None
    """The agent of the customer's most recent other case."""
    queue: str | None = None
    """The queue the case is in already: routing keeps it rather than match rules."""


def _decision(**fields: object) -> RoutingDecision:
    values: dict[str, object] = {
        "agent": None,
        "queue": None,
        "position": None,
        "passed_over": (),
        "case_id": None,
        "interaction_id": None,
    }
    values.update(fields)
    return RoutingDecision.trusted(**values)


def decide(
    contact: Contact,
    agents: Sequence[tuple[Agent, int]],
    loads: Mapping[str, int],
    queues: Sequence[Queue],
    now: datetime,
) -> RoutingDecision:
    """The routing decision for ``contact``: pure, reads nothing but its arguments.

    ``agents`` pairs each agent with its round-robin sequence number (higher: routed
    to more recently); ``loads`` counts the contacts each agent holds on the
    contact's channel.
    """
    now = require_utc(now, "now")
    channel = contact.channel
    queue, matched, passed_queues = _match_queue(contact, queues)
    passed = list(passed_queues)
    queue_id = None if queue is None else queue.id
    for rule, name, whose in (
        ("owner", contact.owner, "owns the case"),
        ("previous_agent", contact.previous, "handled the customer's previous case"),
    ):
        if name is None or (rule == "previous_agent" and name == contact.owner):
            continue
        agent = next((a for a, _ in agents if a.id == name), None)
        why_not = _unfit(agent, name, channel, loads)
        if why_not is None:
            assert agent is not None
            used = loads.get(name, 0)
            return _decision(
                outcome="assigned",
                agent=name,
                queue=queue_id,
                rule=rule,
                reason=f"{rule}: {name} {whose} and has room on {channel} "
                f"({used} of {agent.capacity[channel]} in use)",
                passed_over=tuple(passed),
                channel=channel,
                at=now,
            )
        passed.append(f"{name} ({rule}) {why_not}")
    if queue is None and queues and contact.queue is None:
        return _decision(
            outcome="unrouted",
            rule="no_queue_matched",
            reason=f"no_queue_matched: none of the {len(queues)} queues takes this {channel} "
            "contact; add a queue without rules to catch such contacts",
            passed_over=tuple(passed),
            channel=channel,
            at=now,
        )
    if queue is not None and queue.hours is not None and not queue.hours.is_open(now):
        opens = queue.hours.next_open(now)
        when = "never (it has no hours)" if opens is None else f"at {opens:%Y-%m-%d %H:%M} UTC"
        return _decision(
            outcome="queued",
            queue=queue_id,
            rule="queue_closed",
            reason=f"queue_closed: {matched}, but it is closed now; it opens {when}",
            passed_over=tuple(passed),
            channel=channel,
            at=now,
        )
    best, counts = _least_loaded(contact, agents, loads, queue)
    skipped = ", ".join(f"{why}: {n}" for why, n in counts.items() if n)
    if skipped:
        passed.append(f"agents passed over, {skipped}")
    if best is None:
        return _decision(
            outcome="queued" if queue is not None else "unrouted",
            queue=queue_id,
            rule="no_agent_free",
            reason=f"no_agent_free: {matched}; no agent can take it now"
            + (f" ({skipped})" if skipped else " (there are no agents)"),
            passed_over=tuple(passed),
            channel=channel,
            at=now,
        )
    agent = best
    used = loads.get(agent.id, 0)
    return _decision(
        outcome="assigned",
        agent=agent.id,
        queue=queue_id,
        rule="least_loaded",
        reason=f"least_loaded: {matched}; {agent.id} has the lowest load on {channel} "
        f"({used} of {agent.capacity[channel]} in use) among the agents who qualify",
        passed_over=tuple(passed),
        channel=channel,
        at=now,
    )


def _match_queue(contact: Contact, queues: Sequence[Queue]) -> _Match:
    """The first queue that takes ``contact``, why, and why each earlier one did not.

    Cached per list of queues and kind of contact (channel, language, purposes and the
    attributes the queues look at): a decision repeats the same few kinds of contact.
    """
    if contact.queue is not None:
        for candidate in queues:
            if candidate.id == contact.queue:
                return candidate, f"the case is in queue {candidate.id!r}", ()
        return None, "no queues are configured, so every agent is a candidate", ()
    identity = tuple(map(id, queues))
    known = _QUEUE_MATCHES.get(identity)
    if known is None:
        if len(_QUEUE_MATCHES) >= _STATIC_LIMIT:
            _QUEUE_MATCHES.clear()
        keys = tuple(sorted({key for queue in queues for key in queue.attributes}))
        known = _QUEUE_MATCHES[identity] = (list(queues), keys, {})
    _, keys, matches = known
    attributes = contact.attributes or {}
    seen = tuple(attributes.get(key, _ABSENT) for key in keys)
    kind = (contact.channel, contact.language, contact.purposes, seen)
    try:
        found = matches.get(kind)
    except TypeError:  # an attribute value that is a list or an object: no caching
        return _first_queue(contact, queues)
    if found is None:
        if len(matches) >= _STATIC_LIMIT:
            matches.clear()
        found = matches[kind] = _first_queue(contact, queues)
    return found


_Match = tuple[Queue | None, str, tuple[str, ...]]
_ABSENT = object()
_QUEUE_MATCHES: dict[
    tuple[int, ...], tuple[list[Queue], tuple[str, ...], dict[tuple[object, ...], _Match]]
] = {}
"""Per list of queues (by identity; the list is kept so the ids stay its own): the
attribute keys the rules read, and the result of ``_first_queue`` per kind of contact."""


def _first_queue(contact: Contact, queues: Sequence[Queue]) -> _Match:
    passed: list[str] = []
    for candidate in queues:
        mismatch = _mismatch(candidate, contact)
        if mismatch is None:
            matched = f"queue {candidate.id!r} matched ({_matches(candidate, contact)})"
            return candidate, matched, tuple(passed)
        passed.append(f"queue {candidate.id!r}: {mismatch}")
    return None, "no queues are configured, so every agent is a candidate", tuple(passed)


def _unfit(agent: Agent | None, name: str, channel: str, loads: Mapping[str, int]) -> str | None:
    """Why a sticky agent cannot take the contact, or ``None`` when they can."""
    if agent is None:
        return "is not a routing agent"
    if agent.presence is not Presence.AVAILABLE:
        return f"is {agent.presence.value}"
    capacity = agent.capacity.get(channel, 0)
    if capacity <= 0:
        return f"does not take {channel}"
    used = loads.get(name, 0)
    if used >= capacity:
        return f"is at capacity on {channel} ({used} of {capacity})"
    return None


def _speaks(languages: tuple[str, ...] | frozenset[str], language: str) -> bool:
    return language in languages or language.split("-", 1)[0] in languages


def _mismatch(queue: Queue, contact: Contact) -> str | None:
    """Why ``queue`` does not take the contact, or ``None`` when it does."""
    if queue.channels and contact.channel not in queue.channels:
        return f"takes channels {', '.join(queue.channels)}, not {contact.channel}"
    if queue.languages and (
        contact.language is None or not _speaks(queue.languages, contact.language)
    ):
        return f"takes languages {', '.join(queue.languages)}, not {contact.language or 'unknown'}"
    if queue.purposes and not set(queue.purposes) & set(contact.purposes):
        given = ", ".join(contact.purposes) or "none"
        return f"takes purposes {', '.join(queue.purposes)}, not {given}"
    attributes = contact.attributes or {}
    for key, wanted in queue.attributes.items():
        if attributes.get(key) != wanted:
            have = _json(attributes[key]) if key in attributes else "none"
            return f"wants attribute {key}={_json(wanted)}, the customer has {have}"
    return None


_PLAIN = {True: "true", False: "false", None: "null"}


def _json(value: JsonValue) -> str:
    """``value`` as JSON; the common true/false/null without the encoder's cost."""
    if value is True or value is False or value is None:
        return _PLAIN[value]
    return json.dumps(value)


def _matches(queue: Queue, contact: Contact) -> str:
    parts = []
    if queue.channels:
        parts.append(f"channel {contact.channel}")
    if queue.languages:
        parts.append(f"language {contact.language}")
    if queue.purposes:
        shared = sorted(set(queue.purposes) & set(contact.purposes))
        parts.append(f"purpose {', '.join(shared)}")
    parts.extend(f"attribute {key}={_json(value)}" for key, value in queue.attributes.items())
    return ", ".join(parts) or "it takes every contact"


_Static = tuple[tuple[Agent, ...], list[tuple[int, int]], tuple[int, int, int, int]]
"""What does not change between decisions for the same agents and the same kind of
contact: the agents (kept so that their ids stay theirs), the qualifying ones as
``(position, capacity)``, and how many were left out for each standing reason."""

_STATIC: dict[tuple[object, ...], _Static] = {}
_FIRST = itemgetter(0)
_STATIC_LIMIT = 512


def _static(
    agents: Sequence[tuple[Agent, int]],
    channel: str,
    skills: frozenset[str],
    language: str | None,
) -> _Static:
    """The agents who could take such a contact, whatever their load: cached by the
    agents' identity (the store hands out the same Agent objects until one changes),
    so a decision over the same 200 agents scans only those who qualify."""
    objects = tuple(map(_FIRST, agents))
    key = (
        len(objects),
        id(objects[0]) if objects else 0,
        id(objects[-1]) if objects else 0,
        channel,
        skills,
        language,
    )
    found = _STATIC.get(key)
    if found is not None and all(map(is_, found[0], objects)):
        return found
    primary = None if language is None else language.split("-", 1)[0]
    no_channel = away = no_skill = no_language = 0
    qualifying = []
    for position, (agent, _) in enumerate(agents):
        capacity = agent.capacity.get(channel, 0)
        if capacity <= 0:
            no_channel += 1
        elif agent.presence is not Presence.AVAILABLE:
            away += 1
        elif skills and not skills <= agent.skills:
            no_skill += 1
        elif (
            language
            and agent.languages
            and language not in agent.languages
            and primary not in agent.languages
        ):
            no_language += 1
        else:
            qualifying.append((position, capacity))
    if len(_STATIC) >= _STATIC_LIMIT:
        _STATIC.clear()
    found = (objects, qualifying, (no_channel, away, no_skill, no_language))
    _STATIC[key] = found
    return found


def _least_loaded(
    contact: Contact,
    agents: Sequence[tuple[Agent, int]],
    loads: Mapping[str, int],
    queue: Queue | None,
) -> tuple[Agent | None, dict[str, int]]:
    channel = contact.channel
    skills = frozenset(queue.skills) if queue is not None else frozenset()
    language = contact.language
    _, qualifying, (no_channel, away, no_skill, no_language) = _static(
        agents, channel, skills, language
    )
    full = 0
    best = -1
    best_share = 2.0
    best_seq = 0
    get = loads.get
    for position, capacity in qualifying:
        agent, seq = agents[position]
        used = get(agent.id, 0)
        if used >= capacity:
            full += 1
            continue
        share = used / capacity
        # lowest share of capacity, then least recently routed to, then id
        if share < best_share or (
            share == best_share
            and (seq < best_seq or (seq == best_seq and agent.id < agents[best][0].id))
        ):
            best, best_share, best_seq = position, share, seq
    counts = {
        f"not taking {channel}": no_channel,
        "away or offline": away,
        "lacking skill " + ", ".join(sorted(skills)): no_skill,
        f"not speaking {language}": no_language,
        f"at capacity on {channel}": full,
    }
    return (None if best < 0 else agents[best][0]), counts


# applying decisions ------------------------------------------------------------------


class _Lost(Exception):
    """The chosen agent filled up between the decision and the lock: decide again."""


def route(
    kit: Omnikit, target: Case | Interaction | str, *, channel: str | None = None
) -> RoutingDecision:
    """``kit.route``: decide and apply, in one transaction (see ``Omnikit.route``)."""
    wanted_channel = None if channel is None else kit.channels.get(channel).id
    if isinstance(target, Case | Interaction):
        target_id = target.id
    else:
        target_id = _validate.object_id(target, "case or interaction")
    for _ in range(_ATTEMPTS):
        try:
            with kit._writing() as tx:
                return _route(kit, tx, target_id, wanted_channel)
        except _Lost:
            continue
    raise StoreError(f"routing {target_id} kept losing its agent to other writers")


def _route(
    kit: Omnikit, tx: StoreTransaction, target_id: str, channel: str | None
) -> RoutingDecision:
    now = kit.now()
    case = tx.get_case(target_id)
    interaction: Interaction | None = None
    if case is None:
        interaction = tx.get_interaction(target_id)
        if interaction is None:
            raise NotFoundError(f"no case or interaction with id {target_id!r}")
        if interaction.case_id is not None:
            case = tx.get_case(interaction.case_id)
    if case is not None and not case.status.is_open:
        raise ConflictError(f"case {case.id} is {case.status.value}; reopen it before routing it")
    channel = (
        channel
        or (interaction.channel if interaction else None)
        or (case.channel if case else None)
    )
    if channel is None:
        raise ValidationError(
            f"case {target_id} has no channel to route on; pass channel= to route()"
        )
    customer_id = case.customer_id if case is not None else interaction.customer_id  # type: ignore[union-attr]
    customer = tx.get_customer(customer_id)
    assert customer is not None  # cases and interactions keep their customer
    case_id = None if case is None else case.id
    interaction_id = None if case is not None or interaction is None else interaction.id
    held = tx.work_for(case_id, interaction_id)
    if held is not None:
        tx.delete_work(held.id)  # routed again: decide afresh
    queues = tx.queues()
    kept = case.queue if case is not None and any(q.id == case.queue for q in queues) else None
    contact = Contact(
        channel=channel,
        language=customer.language,
        purposes=(case.purpose if case is not None else ())
        or (interaction.purpose if interaction is not None else ()),
        attributes=customer.attributes,
        priority=case.priority if case is not None else Priority.NORMAL,
        owner=case.assignee if case is not None else None,
        previous=tx.previous_assignee(customer_id, case_id),
        queue=kept,
    )
    agents = tx.agents()
    decision = decide(contact, agents, tx.agent_loads(channel), queues, now)
    entry = tx.queued_for(case_id, interaction_id)
    position = None
    if decision.outcome == "assigned":
        assert decision.agent is not None
        agent = next(a for a, _ in agents if a.id == decision.agent)
        tx.touch_agent(agent.id, max(seq for _, seq in agents) + 1)
        if tx.count_work(agent.id, channel) >= agent.capacity[channel]:
            raise _Lost  # another process filled the agent since we read the loads
        tx.insert_work(
            Work(
                id=new_id(),
                agent_id=agent.id,
                channel=channel,
                case_id=case_id,
                interaction_id=interaction_id,
                started_at=now,
            )
        )
        if entry is not None:
            tx.dequeue(entry.id)
    elif decision.outcome == "queued":
        assert decision.queue is not None
        if entry is None or entry.queue_id != decision.queue:
            entry = QueueEntry(
                id=new_id(),
                queue_id=decision.queue,
                channel=channel,
                case_id=case_id,
                interaction_id=interaction_id,
                rank=RANK[contact.priority],
                enqueued_at=now,
            )
            tx.enqueue(entry)
        elif entry.rank != RANK[contact.priority]:  # its priority changed while it waited
            entry = entry.model_copy(update={"rank": RANK[contact.priority]})
            tx.enqueue(entry)
        position = tx.queue_position(entry)
    decision = decision.model_copy(
        update={
            "case_id": case_id,
            "interaction_id": None if interaction is None else interaction.id,
            "position": position,
        }
    )
    if case is not None:
        _record(kit, tx, case, decision)
    return decision


def _record(kit: Omnikit, tx: StoreTransaction, case: Case, decision: RoutingDecision) -> None:
    """The decision in the case's history; the case takes the agent and the queue."""
    updates: dict[str, object] = {}
    if decision.queue is not None and decision.queue != case.queue:
        updates["queue"] = decision.queue
    if decision.agent is not None and decision.agent != case.assignee:
        updates["assignee"] = decision.agent
    summary: dict[str, JsonValue] = {
        "outcome": decision.outcome,
        "agent": decision.agent,
        "queue": decision.queue,
        "position": decision.position,
        "rule": decision.rule,
    }
    tx.insert_case_event(
        CaseEvent(
            id=new_id(),
            case_id=case.id,
            at=decision.at,
            type="routed",
            actor="omnikit",
            before=None,
            after=summary,
            note=decision.reason,
        )
    )
    if updates:
        event = "assigned" if "assignee" in updates else "queue_changed"
        apply_change(kit, tx, case, updates, event, "omnikit", note=decision.reason)


class Routing:
    """``kit.routing``: the agents and queues routing chooses from, and the work they
    hold. Settings live in the store, so every process of the application sees them."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit

    # agents ---------------------------------------------------------------------------

    def set_agent(self, agent: Agent) -> Agent:
        """Add the agent, or replace the settings of the agent with that id.

        Raises ``UnknownChannelError`` for a capacity on a channel the kit does not
        know and ``ValidationError`` for something that is not an ``Agent``.
        """
        if not isinstance(agent, Agent):
            raise ValidationError(f"set_agent() takes an Agent, not {type(agent).__name__}")
        for channel in agent.capacity:
            self._kit.channels.get(channel)
        with self._kit.store.transaction(write=True) as tx:
            tx.put_agent(agent, new_id(), to_micros(self._kit.now()))
        return agent

    def agent(self, agent_id: str) -> Agent:
        """The agent with this id; raises ``NotFoundError`` when there is none."""
        agent_id = _name(agent_id, "agent")
        with self._kit.store.transaction() as tx:
            return _agent(tx, agent_id)

    def agents(self) -> builtins.list[Agent]:
        """Every agent, by id."""
        with self._kit.store.transaction() as tx:
            return [agent for agent, _ in tx.agents()]

    def set_presence(self, agent_id: str, presence: Presence | str) -> Agent:
        """Mark the agent available, away or offline; returns the agent.

        Work the agent holds stays theirs; new work goes to them only when available.
        """
        agent_id = _name(agent_id, "agent")
        state = _validate.choice(Presence, presence, "presence")
        with self._kit.store.transaction(write=True) as tx:
            agent = _agent(tx, agent_id).model_copy(update={"presence": state})
            tx.put_agent(agent, new_id(), to_micros(self._kit.now()))
            return agent

    def remove_agent(self, agent_id: str) -> None:
        """Remove the agent. Raises ``NotFoundError`` for an unknown agent and
        ``ConflictError`` while they still hold work (release it first)."""
        agent_id = _name(agent_id, "agent")
        with self._kit.store.transaction(write=True) as tx:
            _agent(tx, agent_id)
            held = tx.work_of(agent_id)
            if held:
                raise ConflictError(
                    f"agent {agent_id!r} still holds {len(held)} contact(s); release them first"
                )
            tx.delete_agent(agent_id)

    def work(self, agent_id: str) -> builtins.list[Work]:
        """What the agent holds now, oldest first; raises ``NotFoundError`` for an
        unknown agent."""
        agent_id = _name(agent_id, "agent")
        with self._kit.store.transaction() as tx:
            _agent(tx, agent_id)
            return tx.work_of(agent_id)

    # queues ---------------------------------------------------------------------------

    def set_queue(self, queue: Queue) -> Queue:
        """Add the queue, or replace the settings of the queue with that id.

        Raises ``UnknownChannelError`` for a channel the kit does not know and
        ``ValidationError`` for a skill that no agent has (add the agents first).
        """
        if not isinstance(queue, Queue):
            raise ValidationError(f"set_queue() takes a Queue, not {type(queue).__name__}")
        for channel in queue.channels:
            self._kit.channels.get(channel)
        with self._kit.store.transaction(write=True) as tx:
            known = {skill for agent, _ in tx.agents() for skill in agent.skills}
            unknown = [skill for skill in queue.skills if skill not in known]
            if unknown:
                raise ValidationError(
                    f"queue {queue.id!r} requires skill(s) {', '.join(map(repr, unknown))} "
                    "that no agent has; add an agent with them first"
                )
            tx.put_queue(queue, new_id(), to_micros(self._kit.now()))
        return queue

    def queue(self, queue_id: str) -> Queue:
        """The queue with this id; raises ``NotFoundError`` when there is none."""
        queue_id = _name(queue_id, "queue")
        with self._kit.store.transaction() as tx:
            return _queue(tx, queue_id)

    def queues(self) -> builtins.list[Queue]:
        """Every queue in routing order."""
        with self._kit.store.transaction() as tx:
            return tx.queues()

    def remove_queue(self, queue_id: str) -> None:
        """Remove the queue. Raises ``NotFoundError`` for an unknown queue and
        ``ConflictError`` while contacts wait in it."""
        queue_id = _name(queue_id, "queue")
        with self._kit.store.transaction(write=True) as tx:
            _queue(tx, queue_id)
            waiting = tx.queue_entries(queue_id)
            if waiting:
                raise ConflictError(
                    f"queue {queue_id!r} still has {len(waiting)} contact(s) waiting"
                )
            tx.delete_queue(queue_id)

    def waiting(self, queue_id: str) -> builtins.list[QueueEntry]:
        """The contacts waiting in the queue, next first."""
        queue_id = _name(queue_id, "queue")
        with self._kit.store.transaction() as tx:
            _queue(tx, queue_id)
            return tx.queue_entries(queue_id)

    # work ----------------------------------------------------------------------------

    def release(self, target: Case | Interaction | str) -> Work | None:
        """Free the capacity the case or interaction takes up (the call ended, the
        chat closed); returns the work released, ``None`` when nobody held it."""
        target_id = _validate.object_id(
            target.id if isinstance(target, Case | Interaction) else target, "case or interaction"
        )
        with self._kit.store.transaction(write=True) as tx:
            if tx.get_case(target_id) is not None:
                work = tx.work_for(target_id, None)
            elif (interaction := tx.get_interaction(target_id)) is not None:
                work = tx.work_for(None, target_id)
                if work is None and interaction.case_id is not None:
                    # route() gives the work of an interaction of a case to the case
                    work = tx.work_for(interaction.case_id, None)
            else:
                raise NotFoundError(f"no case or interaction with id {target_id!r}")
            if work is not None:
                tx.delete_work(work.id)
            return work


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 128 or not value.isprintable():
        raise ValidationError(f"{value!r} is not a valid {what} id")
    return value


def _agent(tx: StoreTransaction, agent_id: str) -> Agent:
    agent = tx.get_agent(agent_id)
    if agent is None:
        raise NotFoundError(f"no agent with id {agent_id!r}")
    return agent


def _queue(tx: StoreTransaction, queue_id: str) -> Queue:
    queue = tx.get_queue(queue_id)
    if queue is None:
        raise NotFoundError(f"no queue with id {queue_id!r}")
    return queue
