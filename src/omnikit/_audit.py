"""The customer audit trail: one helper every writer of it uses."""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from omnikit._ids import new_id
from omnikit.model import CustomerEvent
from omnikit.store import StoreTransaction

__all__ = ["audit"]


def audit(
    tx: StoreTransaction,
    customer_id: str,
    event_type: str,
    *,
    at: datetime,
    actor: str | None,
    reason: str | None = None,
    detail: JsonValue = None,
) -> None:
    """Append an event to the customer's audit trail inside ``tx`` (ids only, no PII)."""
    tx.insert_customer_event(
        CustomerEvent(
            id=new_id(),
            customer_id=customer_id,
            at=at,
            type=event_type,
            actor=actor,
            reason=reason,
            detail=detail,
        )
    )
