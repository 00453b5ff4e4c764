"""Cases: open, assign and move a customer's case through its life.

The lifecycle is new → open → pending → resolved → closed, with reopening from
resolved and closed (``omnikit.model.TRANSITIONS`` lists every allowed change). Each
change is one transaction that bumps the case's ``version`` and appends an event to
its audit trail, so ``history`` tells who did what, when, from what to what. Calls
that change a case take ``expected_version``: when someone else changed the case
since it was read, they raise ``ConflictError`` instead of overwriting that change.

Service levels (:mod:`omnikit.sla`) follow every change: a case in a queue with a
policy carries its due times in ``case.sla``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import JsonValue

from omnikit import _validate, sla
from omnikit._ids import new_id
from omnikit._time import require_utc, to_micros
from omnikit.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from omnikit.model import (
    TRANSITIONS,
    Case,
    CaseEvent,
    CaseStatus,
    Customer,
    Direction,
    Interaction,
    Priority,
    Queue,
)
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["Cases"]


class Cases:
    """``kit.cases``: the case lifecycle, its service levels and its audit trail."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit

    def open(
        self,
        *,
        customer: str | Customer,
        subject: str,
        interaction: str | Interaction | None = None,
        priority: Priority | str = Priority.NORMAL,
        queue: str | None = None,
        channel: str | None = None,
        purpose: str | Iterable[str] = (),
        actor: str | None = None,
    ) -> Case:
        """Open a new case for ``customer``, optionally starting from ``interaction``.

        The case starts in status ``new``. ``channel`` and ``purpose`` (what routing
        goes by) default to the interaction's. ``queue`` names a configured queue
        (``kit.routing.set_queue``); its service-level policy then applies.

        Raises ``NotFoundError`` for an unknown customer, interaction or queue,
        ``UnknownChannelError`` for an unknown channel and ``ValidationError`` when the
        interaction belongs to another customer.
        """
        customer_id = _validate.object_id(_id_of(customer), "customer")
        subject_text = _validate.optional_text(subject, "subject", max_chars=1000)
        if not subject_text or not subject_text.strip():
            raise ValidationError(f"subject {subject!r} is empty; a case needs a subject")
        level = _validate.choice(Priority, priority, "priority")
        queue = _validate.optional_text(queue, "queue", max_chars=128)
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        channel_id = None if channel is None else self._kit.channels.get(channel).id
        tags = _validate.tags(purpose, "purpose")
        interaction_id = (
            None if interaction is None else _validate.object_id(_id_of(interaction), "interaction")
        )
        kit = self._kit
        with kit._writing() as tx:
            resolved = tx.resolve_customer(customer_id)
            if resolved is None:
                raise NotFoundError(f"no customer with id {customer_id!r}")
            first = None
            if interaction_id is not None:
                first = tx.get_interaction(interaction_id)
                if first is None:
                    raise NotFoundError(f"no interaction with id {interaction_id!r}")
            return open_case(
                kit,
                tx,
                customer_id=resolved,  # a merged customer's cases go to the survivor
                subject=subject_text.strip(),
                priority=level,
                queue=queue,
                channel=channel_id or (first.channel if first else None),
                purpose=tags or (first.purpose if first else ()),
                actor=actor,
                interaction=first,
            )

    def get(self, case_id: str) -> Case:
        """The case with this id; raises ``NotFoundError`` when there is none."""
        case_id = _validate.object_id(case_id, "case")
        with self._kit.store.transaction() as tx:
            return _get(tx, case_id)

    def list(
        self,
        *,
        customer: str | Customer | None = None,
        status: CaseStatus | str | Iterable[CaseStatus | str] | None = None,
        limit: int = 100,
    ) -> builtins.list[Case]:
        """Cases, newest first: all, or one customer's, or those in the given statuses."""
        customer_id = (
            None if customer is None else _validate.object_id(_id_of(customer), "customer")
        )
        statuses: builtins.list[str] | None = None
        if status is not None:
            items = [status] if isinstance(status, str) else list(status)
            statuses = [_validate.choice(CaseStatus, s, "case status").value for s in items]
        _limit(limit)
        with self._kit.store.transaction() as tx:
            if customer_id is not None:
                customer_id = tx.resolve_customer(customer_id) or customer_id
            return tx.list_cases(customer_id, statuses, limit)

    def assign(
        self,
        case_id: str,
        agent: str | None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Case:
        """Give the case to ``agent`` (``None`` unassigns); returns the updated case.

        Any name is accepted: routing only counts agents it knows. Work the previous
        assignee held on the case is released. Raises ``ConflictError`` when
        ``expected_version`` is given and the case has changed since.
        """
        agent = _validate.optional_text(agent, "agent", max_chars=128)
        if agent is not None and not agent.strip():
            raise ValidationError(f"agent {agent!r} is blank; use None to unassign")

        def change(tx: StoreTransaction, case: Case) -> dict[str, object]:
            work = tx.work_for(case.id, None)
            if work is not None and work.agent_id != agent:
                tx.delete_work(work.id)
            return {"assignee": agent}

        return self._change(case_id, "assigned", actor, change, expected_version)

    def transition(
        self,
        case_id: str,
        status: CaseStatus | str,
        *,
        note: str | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Case:
        """Move the case to ``status``; raises ``InvalidTransitionError`` if not allowed
        and ``ConflictError`` when ``expected_version`` is stale.

        Resolving or closing a case releases the agent's work on it and takes it out
        of its queue.
        """
        target = _validate.choice(CaseStatus, status, "case status")
        note = _validate.optional_text(note, "note")
        now = self._kit.now()

        def change(tx: StoreTransaction, case: Case) -> dict[str, object]:
            check_transition(case, target)
            return status_updates(tx, case, target, now)

        return self._change(case_id, "transitioned", actor, change, expected_version, note=note)

    def set_priority(
        self,
        case_id: str,
        priority: Priority | str,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Case:
        """Change the case's priority; its service levels follow the new one."""
        level = _validate.choice(Priority, priority, "priority")
        return self._change(
            case_id,
            "priority_changed",
            actor,
            lambda tx, case: {"priority": level},
            expected_version,
        )

    def set_queue(
        self,
        case_id: str,
        queue: str | None,
        *,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> Case:
        """Move the case to another queue (``None``: none); the new queue's service
        levels apply from the case's creation. Raises ``NotFoundError`` for an unknown
        queue."""
        queue = _validate.optional_text(queue, "queue", max_chars=128)

        def change(tx: StoreTransaction, case: Case) -> dict[str, object]:
            if queue is not None and tx.get_queue(queue) is None:
                raise NotFoundError(f"no queue with id {queue!r}")
            entry = tx.queued_for(case.id, None)
            if entry is not None and entry.queue_id != queue:
                tx.dequeue(entry.id)
            return {"queue": queue}

        return self._change(case_id, "queue_changed", actor, change, expected_version)

    def attach(
        self, case_id: str, interaction: str | Interaction, *, actor: str | None = None
    ) -> Case:
        """Attach an interaction of the case's customer to the case; returns the case.

        A customer message on a pending case brings it back to open.
        """
        case_id = _validate.object_id(case_id, "case")
        interaction_id = _validate.object_id(_id_of(interaction), "interaction")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        kit = self._kit
        with kit._writing() as tx:
            case = _get(tx, case_id)
            found = tx.get_interaction(interaction_id)
            if found is None:
                raise NotFoundError(f"no interaction with id {interaction_id!r}")
            return join(kit, tx, case, found, actor)

    def history(self, case_id: str) -> builtins.list[CaseEvent]:
        """The case's audit trail, oldest first."""
        case_id = _validate.object_id(case_id, "case")
        with self._kit.store.transaction() as tx:
            _get(tx, case_id)
            return tx.case_events(case_id)

    def interactions(self, case_id: str) -> builtins.list[Interaction]:
        """The interactions attached to the case, from any channel, oldest first."""
        case_id = _validate.object_id(case_id, "case")
        with self._kit.store.transaction() as tx:
            _get(tx, case_id)
            return tx.case_interactions(case_id)

    # service levels ------------------------------------------------------------------

    def breaching(
        self,
        *,
        at: datetime | None = None,
        within: timedelta = timedelta(0),
        limit: int = 100,
    ) -> builtins.list[Case]:
        """Open cases with a service-level target past due at ``at`` (default: now) or
        due within ``within`` after it, the earliest due first."""
        when = self._kit.now() if at is None else require_utc(at, "at")
        if not isinstance(within, timedelta) or within < timedelta(0):
            raise ValidationError(f"within {within!r} must be a timedelta of zero or more")
        _limit(limit)
        with self._kit.store.transaction() as tx:
            return tx.cases_due(to_micros(when + within), limit)

    def check_sla(
        self, *, at: datetime | None = None, limit: int = 1000
    ) -> builtins.list[CaseEvent]:
        """Record every service-level target that is past due at ``at`` (default:
        now) and was not recorded yet: an ``sla_breached`` event in the case history
        and an ``sla.breached`` event to handlers. Returns the events recorded.

        Run it from a worker every minute or so; each breach is recorded once.
        """
        when = self._kit.now() if at is None else require_utc(at, "at")
        _limit(limit)
        kit = self._kit
        recorded: builtins.list[CaseEvent] = []
        with kit._writing() as tx:
            for case in tx.cases_due(to_micros(when), limit):
                assert case.sla is not None  # only cases with due times are due
                targets = sla.breached_targets(case.sla, when)
                if not targets:
                    continue
                due = case.sla.due()
                changed = case.model_copy(
                    update={
                        "sla": case.sla.model_copy(
                            update={"breached": (*case.sla.breached, *targets)}
                        ),
                        "version": case.version + 1,
                        "updated_at": kit.now(),
                    }
                )
                _store(tx, changed)
                for target in targets:
                    event = case_event(
                        kit,
                        changed,
                        "sla_breached",
                        None,
                        None,
                        {"target": target.value, "due": due[target].isoformat()},
                    )
                    tx.insert_case_event(event)
                    recorded.append(event)
                    kit.events.add(
                        "sla.breached",
                        at=event.at,
                        customer_id=changed.customer_id,
                        case=changed,
                        detail={"target": target.value, "due": due[target].isoformat()},
                    )
        return recorded

    # changes -------------------------------------------------------------------------

    def _change(
        self,
        case_id: str,
        event_type: str,
        actor: str | None,
        change: Callable[[StoreTransaction, Case], dict[str, object]],
        expected_version: int | None,
        *,
        note: str | None = None,
    ) -> Case:
        case_id = _validate.object_id(case_id, "case")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        if expected_version is not None and (
            not isinstance(expected_version, int)
            or isinstance(expected_version, bool)
            or expected_version < 1
        ):
            raise ValidationError(
                f"expected_version {expected_version!r} must be a case version (1 or more)"
            )
        kit = self._kit
        with kit._writing() as tx:
            case = _get(tx, case_id)
            if expected_version is not None and case.version != expected_version:
                raise ConflictError(
                    f"case {case_id} is at version {case.version}, not {expected_version}: "
                    "someone changed it since you read it; read it again"
                )
            updates = change(tx, case)
            return apply_change(kit, tx, case, updates, event_type, actor, note=note)


def check_transition(case: Case, target: CaseStatus) -> None:
    """Raise ``InvalidTransitionError`` unless the lifecycle allows the change."""
    if target not in TRANSITIONS[case.status]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[case.status]))
        raise InvalidTransitionError(
            f"case {case.id} cannot go from {case.status.value!r} to "
            f"{target.value!r}; from {case.status.value!r} it can go to: {allowed}"
        )


def status_updates(
    tx: StoreTransaction, case: Case, target: CaseStatus, now: datetime
) -> dict[str, object]:
    """The fields that change with a move to ``target``; a case that stops being open
    gives up its agent's work and its place in a queue."""
    updates: dict[str, object] = {"status": target}
    if target is CaseStatus.RESOLVED:
        updates["resolved_at"] = now
    elif target.is_open:
        updates["resolved_at"] = None
    if not target.is_open:
        work = tx.work_for(case.id, None)
        if work is not None:
            tx.delete_work(work.id)
        entry = tx.queued_for(case.id, None)
        if entry is not None:
            tx.dequeue(entry.id)
    return updates


def apply_change(
    kit: Omnikit,
    tx: StoreTransaction,
    case: Case,
    updates: dict[str, object],
    event_type: str,
    actor: str | None,
    *,
    note: str | None = None,
) -> Case:
    """Store ``case`` with ``updates`` (version bumped, service levels brought up to
    date), record the audit event and queue the handler event."""
    now = kit.now()
    shown = [key for key, value in updates.items() if getattr(case, key) != value] or list(updates)
    before = {key: _plain(getattr(case, key)) for key in shown}
    after = {key: _plain(updates[key]) for key in shown}
    changed = case.model_copy(update={**updates, "updated_at": now, "version": case.version + 1})
    changed = _with_sla(tx, case, changed, now)
    _store(tx, changed)
    tx.insert_case_event(case_event(kit, changed, event_type, actor, before, after, note=note))
    public = {"assigned": "case.assigned", "transitioned": "case.transitioned"}.get(event_type)
    if public is not None:
        kit.events.add(
            public,
            at=now,
            customer_id=changed.customer_id,
            case=changed,
            detail={"before": before, "after": after},
        )
    return changed


def open_case(
    kit: Omnikit,
    tx: StoreTransaction,
    *,
    customer_id: str,
    subject: str,
    priority: Priority,
    queue: str | None,
    channel: str | None,
    purpose: tuple[str, ...],
    actor: str | None,
    interaction: Interaction | None = None,
    follows: str | None = None,
) -> Case:
    """Insert a new case inside ``tx`` (with its audit trail) and return it."""
    now = kit.now()
    found = None
    if queue is not None:
        found = tx.get_queue(queue)
        if found is None:
            raise NotFoundError(f"no queue with id {queue!r}")
    case = Case(
        id=new_id(),
        customer_id=customer_id,
        subject=subject,
        status=CaseStatus.NEW,
        priority=priority,
        queue=queue,
        created_at=now,
        updated_at=now,
        version=1,
        channel=channel,
        purpose=purpose,
        follows=follows,
    )
    case = case.model_copy(update={"sla": sla.start(case, found, now)})
    tx.insert_case(case)
    after: dict[str, JsonValue] = {"status": case.status.value}
    if follows is not None:
        after["follows"] = follows
    tx.insert_case_event(case_event(kit, case, "opened", actor, None, after))
    kit.events.add("case.opened", at=now, customer_id=customer_id, case=case)
    if interaction is not None:
        case = join(kit, tx, case, interaction, actor)
    return case


def join(
    kit: Omnikit,
    tx: StoreTransaction,
    case: Case,
    interaction: Interaction,
    actor: str | None,
    *,
    stored: bool = False,
) -> Case:
    """Make ``interaction`` part of ``case`` inside ``tx`` and return the case as it
    is now: the audit event, the service levels, and a pending case back to open when
    the customer wrote. ``stored``: the interaction row already names the case."""
    if interaction.customer_id != case.customer_id:
        raise ValidationError(
            f"interaction {interaction.id} belongs to customer {interaction.customer_id}, "
            f"not to customer {case.customer_id} of case {case.id}"
        )
    if interaction.case_id == case.id and not stored:
        return case
    now = kit.now()
    if not stored:
        tx.set_interaction_case(interaction.id, case.id)
    previous = None if stored else interaction.case_id
    tx.insert_case_event(
        CaseEvent(
            id=new_id(),
            case_id=case.id,
            at=now,
            type="interaction_attached",
            actor=actor,
            before=previous,
            after=interaction.id,
        )
    )
    new_sla = sla.after_interaction(case, _queue_of(tx, case), interaction)
    updated = case if new_sla == case.sla else case.model_copy(update={"sla": new_sla})
    if interaction.direction is Direction.INBOUND and case.status is CaseStatus.PENDING:
        updates = status_updates(tx, updated, CaseStatus.OPEN, now)
        return apply_change(
            kit, tx, updated, updates, "transitioned", None, note="the customer answered"
        )
    if updated is not case:
        updated = updated.model_copy(update={"version": case.version + 1, "updated_at": now})
        _store(tx, updated)
    return updated


def case_event(
    kit: Omnikit,
    case: Case,
    event_type: str,
    actor: str | None,
    before: JsonValue,
    after: JsonValue,
    *,
    note: str | None = None,
) -> CaseEvent:
    """An audit event of ``case`` at the kit's now."""
    return CaseEvent(
        id=new_id(),
        case_id=case.id,
        at=kit.now(),
        type=event_type,
        actor=actor,
        before=before,
        after=after,
        note=note,
    )


def _with_sla(tx: StoreTransaction, old: Case, new: Case, now: datetime) -> Case:
    """``new`` with its service levels brought in line with what changed since ``old``."""
    if new.queue != old.queue or new.priority != old.priority:
        queue = None if new.queue is None else tx.get_queue(new.queue)
        return new.model_copy(update={"sla": sla.start(new, queue, now)})
    if new.status != old.status and new.sla is not None:
        queue = _queue_of(tx, new)
        return new.model_copy(update={"sla": sla.after_status(new, queue, old.status, now)})
    return new


def _queue_of(tx: StoreTransaction, case: Case) -> Queue | None:
    if case.sla is None:
        return None
    return tx.get_queue(case.sla.queue)


def _store(tx: StoreTransaction, case: Case) -> None:
    """Write ``case``, whose version is one up on the stored one."""
    if not tx.update_case(case):
        raise ConflictError(f"case {case.id} was changed by someone else; read it again")


def _get(tx: StoreTransaction, case_id: str) -> Case:
    case = tx.get_case(case_id)
    if case is None:
        raise NotFoundError(f"no case with id {case_id!r}")
    return case


def _limit(limit: object) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError(f"limit {limit!r} must be a positive whole number")


def _id_of(value: object) -> object:
    return value.id if isinstance(value, (Customer, Interaction, Case)) else value


def _plain(value: object) -> JsonValue:
    if isinstance(value, CaseStatus | Priority):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int):
        return value
    return str(value)
