"""Cases: open, assign and move a customer's case through its life.

The lifecycle is new → open → pending → resolved → closed, with reopening from
resolved and closed (``omnikit.model.TRANSITIONS`` lists every allowed change). Each
change is one transaction that bumps the case's ``version`` and appends an event to
its audit trail, so ``history`` tells who did what, when, from what to what.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import JsonValue

from omnikit import _validate
from omnikit._ids import new_id
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
    Interaction,
    Priority,
)
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["Cases"]

_Change = Callable[[Case], dict[str, object]]


class Cases:
    """``kit.cases``: the case lifecycle and its audit trail."""

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
        actor: str | None = None,
    ) -> Case:
        """Open a new case for ``customer``, optionally starting from ``interaction``.

        The case starts in status ``new``. Raises ``NotFoundError`` for an unknown
        customer or interaction, and ``ValidationError`` when the interaction belongs
        to another customer.
        """
        customer_id = _validate.object_id(_id_of(customer), "customer")
        subject_text = _validate.optional_text(subject, "subject", max_chars=1000)
        if not subject_text or not subject_text.strip():
            raise ValidationError(f"subject {subject!r} is empty; a case needs a subject")
        level = _validate.choice(Priority, priority, "priority")
        queue = _validate.optional_text(queue, "queue", max_chars=128)
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        interaction_id = (
            None if interaction is None else _validate.object_id(_id_of(interaction), "interaction")
        )
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            resolved = tx.resolve_customer(customer_id)
            if resolved is None:
                raise NotFoundError(f"no customer with id {customer_id!r}")
            customer_id = resolved  # a merged customer's cases go to the survivor
            case = Case(
                id=new_id(),
                customer_id=customer_id,
                subject=subject_text.strip(),
                status=CaseStatus.NEW,
                priority=level,
                queue=queue,
                created_at=now,
                updated_at=now,
                version=1,
            )
            tx.insert_case(case)
            self._event(tx, case, "opened", actor, None, {"status": case.status.value})
            if interaction_id is not None:
                attach_interaction(tx, case, interaction_id, actor, self._kit.now())
            return case

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
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValidationError(f"limit {limit!r} must be a positive whole number")
        with self._kit.store.transaction() as tx:
            if customer_id is not None:
                customer_id = tx.resolve_customer(customer_id) or customer_id
            return tx.list_cases(customer_id, statuses, limit)

    def assign(self, case_id: str, agent: str | None, *, actor: str | None = None) -> Case:
        """Give the case to ``agent`` (``None`` unassigns); returns the updated case."""
        agent = _validate.optional_text(agent, "agent", max_chars=128)
        return self._change(case_id, "assigned", actor, lambda case: {"assignee": agent})

    def transition(
        self,
        case_id: str,
        status: CaseStatus | str,
        *,
        note: str | None = None,
        actor: str | None = None,
    ) -> Case:
        """Move the case to ``status``; raises ``InvalidTransitionError`` if not allowed."""
        target = _validate.choice(CaseStatus, status, "case status")
        note = _validate.optional_text(note, "note")

        def change(case: Case) -> dict[str, object]:
            if target not in TRANSITIONS[case.status]:
                allowed = ", ".join(sorted(s.value for s in TRANSITIONS[case.status]))
                raise InvalidTransitionError(
                    f"case {case.id} cannot go from {case.status.value!r} to "
                    f"{target.value!r}; from {case.status.value!r} it can go to: {allowed}"
                )
            return {"status": target}

        return self._change(case_id, "transitioned", actor, change, note=note)

    def attach(
        self, case_id: str, interaction: str | Interaction, *, actor: str | None = None
    ) -> Case:
        """Attach an interaction of the case's customer to the case."""
        case_id = _validate.object_id(case_id, "case")
        interaction_id = _validate.object_id(_id_of(interaction), "interaction")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        with self._kit.store.transaction(write=True) as tx:
            case = _get(tx, case_id)
            attach_interaction(tx, case, interaction_id, actor, self._kit.now())
            return case

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

    def _change(
        self,
        case_id: str,
        event_type: str,
        actor: str | None,
        change: _Change,
        *,
        note: str | None = None,
    ) -> Case:
        case_id = _validate.object_id(case_id, "case")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        with self._kit.store.transaction(write=True) as tx:
            case = _get(tx, case_id)
            updates = change(case)
            before = {key: _plain(getattr(case, key)) for key in updates}
            after = {key: _plain(value) for key, value in updates.items()}
            changed = case.model_copy(
                update={**updates, "updated_at": self._kit.now(), "version": case.version + 1}
            )
            if not tx.update_case(changed):
                raise ConflictError(f"case {case_id} was changed by someone else; read it again")
            self._event(tx, changed, event_type, actor, before, after, note=note)
            return changed

    def _event(
        self,
        tx: StoreTransaction,
        case: Case,
        event_type: str,
        actor: str | None,
        before: JsonValue,
        after: JsonValue,
        *,
        note: str | None = None,
    ) -> None:
        tx.insert_case_event(
            CaseEvent(
                id=new_id(),
                case_id=case.id,
                at=self._kit.now(),
                type=event_type,
                actor=actor,
                before=before,
                after=after,
                note=note,
            )
        )


def attach_interaction(
    tx: StoreTransaction, case: Case, interaction_id: str, actor: str | None, at: datetime
) -> None:
    """Attach a stored interaction to ``case`` inside ``tx``, with an audit event."""
    interaction = tx.get_interaction(interaction_id)
    if interaction is None:
        raise NotFoundError(f"no interaction with id {interaction_id!r}")
    if interaction.customer_id != case.customer_id:
        raise ValidationError(
            f"interaction {interaction_id} belongs to customer {interaction.customer_id}, "
            f"not to customer {case.customer_id} of case {case.id}"
        )
    if interaction.case_id == case.id:
        return
    tx.set_interaction_case(interaction_id, case.id)
    tx.insert_case_event(attached_event(case.id, interaction_id, actor, interaction.case_id, at))


def attached_event(
    case_id: str, interaction_id: str, actor: str | None, previous_case: str | None, at: datetime
) -> CaseEvent:
    """The audit event for attaching an interaction (moved from ``previous_case``)."""
    return CaseEvent(
        id=new_id(),
        case_id=case_id,
        at=at,
        type="interaction_attached",
        actor=actor,
        before=previous_case,
        after=interaction_id,
    )


def _get(tx: StoreTransaction, case_id: str) -> Case:
    case = tx.get_case(case_id)
    if case is None:
        raise NotFoundError(f"no case with id {case_id!r}")
    return case


def _id_of(value: object) -> object:
    return value.id if isinstance(value, (Customer, Interaction, Case)) else value


def _plain(value: object) -> JsonValue:
    if isinstance(value, CaseStatus | Priority):
        return value.value
    if value is None or isinstance(value, str | int):
        return value
    return str(value)
