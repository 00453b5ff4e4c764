"""The alerts on a customer card: what an agent must see before anything else.

Short sentences, most urgent first: where post or messages no longer arrive, which
cases wait on us, and identities added lately that nobody has verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from omnikit.model import Case, CaseStatus, Customer, IdentityKind

__all__ = ["RECENT_IDENTITY", "card_alerts"]

RECENT_IDENTITY = timedelta(days=3)
"""How long an identity added to an existing customer counts as "just added"."""

_KINDS = {
    IdentityKind.POSTAL: "Post to",
    IdentityKind.EMAIL: "E-mail to",
    IdentityKind.PHONE: "Messages to",
    IdentityKind.HANDLE: "Messages to",
    IdentityKind.EXTERNAL: "Messages to",
}


def _age(since: datetime, now: datetime) -> str:
    hours = max(0, int((now - since).total_seconds() // 3600))
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def card_alerts(customer: Customer, open_cases: Sequence[Case], now: datetime) -> tuple[str, ...]:
    """The alert sentences for ``customer`` at ``now``."""
    alerts: list[str] = []
    for identity in customer.identities:
        if identity.undeliverable and identity.undeliverable_at is not None:
            alerts.append(
                f"{_KINDS[identity.kind]} {identity.value} is undeliverable: "
                f"{identity.undeliverable_reason} on {identity.undeliverable_at:%Y-%m-%d}."
            )
    for case in open_cases:
        if case.status in (CaseStatus.NEW, CaseStatus.OPEN):
            who = f"assigned to {case.assignee}" if case.assignee else "not assigned"
            alerts.append(
                f"Case '{case.subject}' waits on us ({case.status.value}, {who}, "
                f"opened {_age(case.created_at, now)} ago)."
            )
    for identity in customer.identities:
        if (
            not identity.verified
            and identity.first_seen_at > customer.created_at
            and now - identity.first_seen_at <= RECENT_IDENTITY
        ):
            scope = f" ({identity.scope})" if identity.scope else ""
            alerts.append(
                f"Unverified {identity.kind.value}{scope} {identity.value} was added "
                f"{_age(identity.first_seen_at, now)} ago."
            )
    return tuple(alerts)
