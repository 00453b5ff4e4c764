"""Privacy: everything omnikit holds about a person, and erasing it.

``export`` gathers the customer, their identities, interactions, cases with their
audit trails, merges and the customer's own audit trail, as JSON-ready data.
``erase`` removes names, identities, texts, subjects, metadata, attachments, provider
ids and attributes, and keeps only anonymous facts for analytics: which channel, what
kind, which direction, when, and the cases' statuses. The erasure itself is logged
with the customer id and the stated reason only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from omnikit._audit import audit
from omnikit._time import to_micros
from omnikit.errors import ConflictError, NotFoundError
from omnikit.merge import survivor
from omnikit.store import StoreTransaction

__all__ = ["erase_customer", "export_customer"]


def export_customer(tx: StoreTransaction, customer_id: str) -> dict[str, Any]:
    """Everything stored about the customer (after merges: the survivor)."""
    customer = survivor(tx, customer_id)
    cases = tx.list_cases(customer.id, None, 1_000_000)
    erased = tx.erased_at(customer.id)
    return {
        "customer": customer.model_dump(mode="json"),
        "erased_at": None if erased is None else erased.isoformat(),
        "interactions": [i.model_dump(mode="json") for i in tx.timeline(customer.id)],
        "cases": [
            {
                **case.model_dump(mode="json"),
                "history": [e.model_dump(mode="json") for e in tx.case_events(case.id)],
            }
            for case in sorted(cases, key=lambda c: c.id)
        ],
        "merged_from": tx.merged_from(customer.id),
        "merges": [m.model_dump(mode="json") for m in tx.merges_of(customer.id)],
        "history": [e.model_dump(mode="json") for e in tx.customer_events(customer.id)],
    }


def erase_customer(
    tx: StoreTransaction,
    customer_id: str,
    *,
    reason: str,
    actor: str | None,
    now: datetime,
) -> list[str]:
    """Erase the customer and every record merged into it; return the ids erased."""
    resolved = tx.resolve_customer(customer_id)
    if resolved is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    if tx.erased_at(resolved) is not None:
        raise ConflictError(f"customer {resolved} was already erased")
    erased: list[str] = []
    pending = [resolved]
    while pending:
        current = pending.pop()
        erased.append(current)
        pending.extend(tx.merged_from(current))
    for current in erased:
        tx.erase_customer(current, to_micros(now))
        audit(
            tx,
            current,
            "erased",
            at=now,
            actor=actor,
            reason=reason,
            detail={"erased_with": resolved} if current != resolved else {"records": len(erased)},
        )
    return erased
