"""Continuity: an inbound contact joins the case the customer is already on, whatever
its channel.

When ``kit.record`` stores an inbound interaction that names no case, the kit looks
for the case it continues, in this order:

1. **The thread.** An e-mail reply (``metadata["in_reply_to"]`` or
   ``metadata["references"]`` naming the ``external_id`` of an earlier message on the
   same channel) or a provider conversation (``metadata["conversation_id"]`` equal to
   that of an earlier interaction on the same channel) leads to that interaction's
   case.
2. **The one open case.** Exactly one case that is new, open or pending and was
   active within the kit's ``continuity_window`` (default 7 days): the contact
   joins it. With several such cases and no thread the contact stays unattached:
   continuity never guesses.
3. **The case just resolved.** With no open case, the most recently resolved or
   closed case, when that happened within the continuity window.

A case found this way that is still open takes the contact (a pending one goes back to
open: the customer answered). A resolved case reopens when the contact came within
the ``reopen_window`` (default 72 hours) of its resolution; otherwise, and for a
closed case, a new case starts that ``follows`` the old one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from omnikit.cases import apply_change, join, open_case, status_updates
from omnikit.model import Case, CaseStatus, Direction, Interaction
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["continue_case"]

_LOOK_BACK = 50
"""How many of the customer's newest cases continuity considers."""


def continue_case(kit: Omnikit, tx: StoreTransaction, interaction: Interaction) -> Case | None:
    """Attach the stored inbound ``interaction`` to the case it continues, reopening or
    following up a resolved case as the rules say; return that case, or ``None``."""
    window = kit.continuity_window
    if window is None or interaction.direction is not Direction.INBOUND:
        return None
    cases = tx.list_cases(interaction.customer_id, None, _LOOK_BACK)
    if not cases:
        return None
    at = interaction.occurred_at
    recent = [c for c in cases if c.status.is_open or at - _ended(c) <= window]
    target = _by_thread(tx, interaction, cases, recent)
    if target is None:
        live = [c for c in cases if c.status.is_open and at - c.updated_at <= window]
        if len(live) > 1:
            return None
        if live:
            target = live[0]
        else:
            done = [c for c in cases if not c.status.is_open and at - _ended(c) <= window]
            target = max(done, key=lambda c: (_ended(c), c.id), default=None)
    if target is None:
        return None
    if target.status.is_open:
        return join(kit, tx, target, interaction, None)
    reopen = kit.reopen_window
    if (
        target.status is CaseStatus.RESOLVED
        and reopen is not None
        and at - _ended(target) <= reopen
    ):
        updates = status_updates(tx, target, CaseStatus.OPEN, kit.now())
        reopened = apply_change(
            kit, tx, target, updates, "transitioned", None, note="the customer wrote again"
        )
        return join(kit, tx, reopened, interaction, None)
    return open_case(
        kit,
        tx,
        customer_id=target.customer_id,
        subject=target.subject,
        priority=target.priority,
        queue=target.queue if target.queue and tx.get_queue(target.queue) else None,
        channel=interaction.channel,
        purpose=interaction.purpose or target.purpose,
        actor=None,
        interaction=interaction,
        follows=target.id,
    )


def _ended(case: Case) -> datetime:
    return case.resolved_at or case.updated_at


def _by_thread(
    tx: StoreTransaction, interaction: Interaction, cases: list[Case], recent: list[Case]
) -> Case | None:
    """The case of the thread the interaction belongs to, if it names one: replies
    are looked up by message id; conversations among the ``recent`` cases."""
    metadata = interaction.metadata
    refs: list[str] = []
    for key in ("in_reply_to", "references"):
        value = metadata.get(key)
        if isinstance(value, str):
            refs.extend(value.split())
        elif isinstance(value, list):
            refs.extend(item for item in value if isinstance(item, str))
    by_id = {case.id: case for case in cases}
    for ref in reversed(refs):  # the nearest message in the thread first
        earlier = tx.interaction_by_external_id(interaction.channel, ref)
        if earlier is not None and earlier.case_id is not None and earlier.id != interaction.id:
            case = by_id.get(earlier.case_id) or tx.get_case(earlier.case_id)
            if case is not None and case.customer_id == interaction.customer_id:
                return case
    conversation = metadata.get("conversation_id")
    if isinstance(conversation, str | int) and not isinstance(conversation, bool):
        for case in recent:
            for other in tx.case_interactions(case.id):
                if (
                    other.id != interaction.id
                    and other.channel == interaction.channel
                    and other.metadata.get("conversation_id") == conversation
                ):
                    return case
    return None
