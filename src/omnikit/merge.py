"""Reversible merges: two customer records that turn out to be one person.

A merge moves the other customer's identities, interactions and cases to the one
kept, records exactly which ids moved, and marks the other customer as merged into
the survivor (its row stays, so that old ids keep working and the merge can be
undone). ``unmerge`` moves exactly those ids back. Nothing is deleted either way,
and both are in the customers' audit trails with who and why.

A shared value (a family landline) held by both customers stays where it is: the
survivor already holds it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from omnikit._audit import audit
from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.errors import ConflictError, NotFoundError, ValidationError
from omnikit.model import Customer, Merge, MergeMoves
from omnikit.store import StoreTransaction

__all__ = ["merge_customers", "survivor", "unmerge_customers"]


def survivor(tx: StoreTransaction, customer_id: str) -> Customer:
    """The customer, or the survivor of its merges; ``NotFoundError`` when unknown."""
    customer = tx.current_customer(customer_id)
    if customer is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    return customer


def _check_mergeable(tx: StoreTransaction, customer_id: str, role: str) -> None:
    if tx.resolve_customer(customer_id) is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    survivor = tx.merged_into(customer_id)
    if survivor is not None:
        raise ConflictError(
            f"customer {customer_id} ({role}) is already merged into customer {survivor}"
        )
    if tx.erased_at(customer_id) is not None:
        raise ConflictError(f"customer {customer_id} ({role}) was erased and cannot be merged")


def merge_customers(
    tx: StoreTransaction,
    keep_id: str,
    other_id: str,
    *,
    reason: str,
    actor: str | None,
    now: datetime,
) -> Merge:
    """Merge ``other_id`` into ``keep_id`` inside ``tx``; return the merge record."""
    if keep_id == other_id:
        raise ValidationError(f"cannot merge customer {keep_id} with itself")
    _check_mergeable(tx, keep_id, "kept")
    _check_mergeable(tx, other_id, "merged")
    keep = tx.get_customer(keep_id)
    other = tx.get_customer(other_id)
    assert keep is not None and other is not None  # checked above
    held = {(i.kind, i.scope, i.value) for i in keep.identities}
    owned = tx.owned_ids(other_id)
    staying = {i.id for i in other.identities if (i.kind, i.scope, i.value) in held}
    moves = MergeMoves(
        identities=tuple(i for i in owned.identities if i not in staying),
        interactions=owned.interactions,
        cases=owned.cases,
    )
    tx.move(moves, keep_id)
    tx.set_merged_into(other_id, keep_id)
    merge = Merge(
        id=new_id(),
        keep_id=keep_id,
        other_id=other_id,
        at=now,
        actor=actor,
        reason=reason,
        moved=moves,
    )
    tx.insert_merge(merge)
    detail: dict[str, JsonValue] = {
        "merge": merge.id,
        "keep": keep_id,
        "other": other_id,
        "identities": len(moves.identities),
        "interactions": len(moves.interactions),
        "cases": len(moves.cases),
    }
    for customer_id in (keep_id, other_id):
        audit(tx, customer_id, "merged", at=now, actor=actor, reason=reason, detail=detail)
    return merge


def unmerge_customers(
    tx: StoreTransaction,
    merge_id: str,
    *,
    actor: str | None,
    reason: str | None,
    now: datetime,
) -> Merge:
    """Undo a merge inside ``tx``: move back exactly what it moved."""
    merge = tx.get_merge(merge_id)
    if merge is None:
        raise NotFoundError(f"no merge with id {merge_id!r}")
    if merge.undone_at is not None:
        raise ConflictError(
            f"merge {merge_id} was already undone at {merge.undone_at:%Y-%m-%d %H:%M}"
        )
    later = tx.merged_into(merge.keep_id)
    if later is not None:
        raise ConflictError(
            f"customer {merge.keep_id} has since been merged into customer {later}; "
            "undo that merge first"
        )
    if tx.erased_at(merge.keep_id) is not None:
        raise ConflictError(f"customer {merge.keep_id} was erased; the merge cannot be undone")
    tx.move(merge.moved, merge.other_id)
    tx.set_merged_into(merge.other_id, None)
    tx.set_merge_undone(merge_id, to_micros(now), actor)
    for customer_id in (merge.keep_id, merge.other_id):
        audit(
            tx,
            customer_id,
            "unmerged",
            at=now,
            actor=actor,
            reason=reason,
            detail={"merge": merge.id, "keep": merge.keep_id, "other": merge.other_id},
        )
    return merge.model_copy(update={"undone_at": now, "undone_by": actor})
