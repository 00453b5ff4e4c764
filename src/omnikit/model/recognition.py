"""Recognition results and records: caller ID matches, merges, the customer audit trail."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from omnikit.model._base import Model, UtcDatetime
from omnikit.model.customer import Customer
from omnikit.model.views import CustomerCard

__all__ = ["CallerMatch", "CustomerEvent", "Merge", "MergeMoves"]


class CallerMatch(Model):
    """Who is calling: ``status`` is ``"known"``, ``"ambiguous"`` or ``"unknown"``.

    ``customer`` and ``card`` are set when known; ``candidates`` lists every customer
    holding the number (one when known, several when ambiguous: a shared line).
    ``number`` is the E.164 form, ``None`` when the caller ID was withheld or
    could not be read.
    """

    status: Literal["known", "ambiguous", "unknown"]
    number: str | None = None
    customer: Customer | None = None
    candidates: tuple[Customer, ...] = ()
    card: CustomerCard | None = None


class MergeMoves(Model):
    """The ids a merge moved from the merged customer to the survivor."""

    identities: tuple[str, ...] = ()
    interactions: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()


class Merge(Model):
    """One merge of ``other_id`` into ``keep_id``, and whether it was undone."""

    id: str
    keep_id: str
    other_id: str
    at: UtcDatetime
    actor: str | None = None
    reason: str
    moved: MergeMoves
    undone_at: UtcDatetime | None = None
    undone_by: str | None = None


class CustomerEvent(Model):
    """One entry of a customer's audit trail: merged, unmerged, erased, identity changes.

    Entries never hold personal data: ids, kinds and the staff's stated reason only.
    """

    id: str
    customer_id: str
    at: UtcDatetime
    type: str
    actor: str | None = None
    reason: str | None = None
    detail: JsonValue = None
