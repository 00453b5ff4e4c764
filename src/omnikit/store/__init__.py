"""Persistence: the ``Store`` protocol and ``open_store``, which picks a backend by URL.

The facade opens one transaction per call (``store.transaction(write=...)``) and does
all its reading and writing through the ``StoreTransaction`` it gets. A backend keeps
the unique keys that recognition and idempotency rely on and reports a broken one as
``DuplicateKeyError``, so that the facade can retry a find-or-create that lost a race.
The SQL backends share :mod:`omnikit.store.sql`; each database's quirks live in one
module (:mod:`omnikit.store.sqlite`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from pydantic import JsonValue

from omnikit.errors import ConflictError, StoreError, ValidationError
from omnikit.model import (
    Agent,
    Case,
    CaseEvent,
    ChannelSummary,
    Customer,
    CustomerEvent,
    Identity,
    Interaction,
    Merge,
    MergeMoves,
    OutboxItem,
    Preferences,
    Queue,
    QueueEntry,
    Subscription,
    Work,
)
from omnikit.model.outbound import ConsentRecord

__all__ = ["DuplicateKeyError", "MissingRowError", "Store", "StoreTransaction", "open_store"]


class DuplicateKeyError(ConflictError):
    """A write broke a unique key: another writer stored the same value first."""


class MissingRowError(StoreError):
    """A write referred to a row that does not exist (a foreign key was broken)."""


class StoreTransaction(Protocol):
    """The reads and writes of one transaction. Everything commits or nothing does."""

    # customers and identities
    def insert_customer(self, customer: Customer) -> None: ...
    def update_customer(
        self, customer_id: str, *, name: str | None, language: str | None, updated_at: int
    ) -> None: ...
    def set_customer_attributes(
        self, customer_id: str, attributes: dict[str, Any], updated_at: int
    ) -> None: ...
    def get_customer(self, customer_id: str) -> Customer | None: ...
    def current_customer(self, customer_id: str) -> Customer | None:
        """The customer, or the survivor of its merges (``resolve_customer`` then
        ``get_customer``); ``None`` for an unknown id. One query when not merged."""
        ...

    def customer_by_identity(self, kind: str, scope: str, value: str) -> Customer | None:
        """The one customer holding this identity unshared and unmerged, with all its
        identities; ``None`` otherwise (then look with ``find_identities``)."""
        ...

    def insert_identity(self, identity: Identity) -> None: ...
    def insert_customers(self, customers: Sequence[Customer]) -> None:
        """Insert new customers and their identities in few statements (a bulk import)."""
        ...

    def insert_identities(self, identities: Sequence[Identity]) -> None:
        """Insert identities in few statements (a bulk import)."""
        ...

    def find_identities_in(self, kind: str, scope: str, values: Sequence[str]) -> list[Identity]:
        """``find_identities`` for many values of one kind and scope, in few queries."""
        ...

    def customer_profiles(
        self, customer_ids: Sequence[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """``{id: (name, language)}`` of the given customers, in few queries; unknown ids
        are left out."""
        ...

    def has_customers(self) -> bool:
        """True when the store holds at least one customer (merged or erased ones count)."""
        ...

    # interactions
    def insert_interaction(self, interaction: Interaction) -> bool:
        """Insert unless ``(channel, external_id)`` exists; True when inserted."""
        ...

    def insert_interactions(self, interactions: Sequence[Interaction]) -> int:
        """Insert those whose ``(channel, external_id)`` is new; return how many."""
        ...

    def get_interaction(self, interaction_id: str) -> Interaction | None: ...
    def interaction_owners(self, channel: str, external_ids: Sequence[str]) -> dict[str, str]:
        """``{external_id: customer_id}`` of the channel's interactions with one of
        these external ids, in few queries."""
        ...

    def interaction_by_external_id(self, channel: str, external_id: str) -> Interaction | None: ...
    def recent_interactions(self, customer_id: str, limit: int) -> list[Interaction]:
        """The customer's newest interactions, newest first."""
        ...

    def timeline(self, customer_id: str) -> list[Interaction]:
        """All the customer's interactions, oldest first."""
        ...

    def channel_summary(self, customer_id: str) -> list[ChannelSummary]: ...
    def customer_activity(
        self, customer_id: str, recent: int, statuses: Sequence[str], cases_limit: int
    ) -> tuple[list[Interaction], list[Case], list[ChannelSummary]]:
        """``recent_interactions(customer_id, recent)``, ``list_cases(customer_id,
        statuses, cases_limit)`` and ``channel_summary(customer_id)`` at once: what a
        card shows, in one round trip where the backend has round trips.

        These are the transaction's last reads: make no other call on it afterwards.
        A read transaction may end with them (on PostgreSQL its ``COMMIT`` goes in the
        same round trip).
        """
        ...

    def set_interaction_case(self, interaction_id: str, case_id: str) -> None: ...
    def set_interaction_external_id(self, interaction_id: str, external_id: str) -> None:
        """Give an outbound interaction the provider's id once sent; ``DuplicateKeyError``
        when the channel already has an interaction with that id."""
        ...

    def set_interaction_status(
        self,
        interaction_id: str,
        expected: str | None,
        status: str | None,
        metadata: Mapping[str, JsonValue],
    ) -> bool:
        """Store ``status`` and ``metadata`` if the stored status is still ``expected``;
        True when stored."""
        ...

    # cases
    def insert_case(self, case: Case) -> None: ...
    def update_case(self, case: Case) -> bool:
        """Store ``case`` if the stored version is ``case.version - 1``; True when stored."""
        ...

    def get_case(self, case_id: str) -> Case | None: ...
    def list_cases(
        self, customer_id: str | None, statuses: Sequence[str] | None, limit: int
    ) -> list[Case]:
        """Cases, newest first, filtered by customer and status when given."""
        ...

    def case_interactions(self, case_id: str) -> list[Interaction]: ...
    def insert_case_event(self, event: CaseEvent) -> None: ...
    def case_events(self, case_id: str) -> list[CaseEvent]: ...
    def cases_due(self, before: int, limit: int) -> list[Case]:
        """Open cases with a service-level due time at or before ``before`` (µs), the
        earliest due first."""
        ...

    def previous_assignee(self, customer_id: str, exclude_case: str | None) -> str | None:
        """The assignee of the customer's most recently changed other case."""
        ...

    # routing: agents, queues, the work agents hold and the contacts that wait
    def put_agent(self, agent: Agent, revision: str, at: int) -> None:
        """Insert or replace the agent's settings (its routing history stays)."""
        ...

    def get_agent(self, agent_id: str) -> Agent | None: ...
    def delete_agent(self, agent_id: str) -> bool: ...
    def agents(self) -> list[tuple[Agent, int]]:
        """Every agent with its round-robin sequence number (higher: routed to later)."""
        ...

    def touch_agent(self, agent_id: str, seq: int) -> None:
        """Record that the agent was just routed to; on PostgreSQL this also locks the
        agent's row until the transaction ends, so capacity checks cannot race."""
        ...

    def put_queue(self, queue: Queue, revision: str, at: int) -> None: ...
    def get_queue(self, queue_id: str) -> Queue | None: ...
    def delete_queue(self, queue_id: str) -> bool: ...
    def queues(self) -> list[Queue]:
        """Every queue in routing order (``order``, then id)."""
        ...

    def agent_loads(self, channel: str) -> dict[str, int]:
        """How many contacts each agent holds on ``channel``: ``{agent: n}``."""
        ...

    def count_work(self, agent_id: str, channel: str) -> int: ...
    def insert_work(self, work: Work) -> None: ...
    def work_for(self, case_id: str | None, interaction_id: str | None) -> Work | None: ...
    def work_of(self, agent_id: str) -> list[Work]: ...
    def delete_work(self, work_id: str) -> None: ...
    def enqueue(self, entry: QueueEntry) -> None:
        """Put the entry in its queue, replacing any entry for the same contact."""
        ...

    def queued_for(self, case_id: str | None, interaction_id: str | None) -> QueueEntry | None: ...
    def dequeue(self, entry_id: str) -> None: ...
    def queue_entries(self, queue_id: str) -> list[QueueEntry]:
        """The queue's waiting contacts, next first (rank, then arrival)."""
        ...

    def queue_position(self, entry: QueueEntry) -> int:
        """Where the entry stands in its queue: 1 is next."""
        ...

    # recognition: identities, merges, erasure, the customer audit trail
    def resolve_customer(self, customer_id: str) -> str | None:
        """The id the customer goes by now (itself, or the survivor of its merges);
        ``None`` when there is no such customer."""
        ...

    def resolve_customers(self, customer_ids: Sequence[str]) -> dict[str, str]:
        """``resolve_customer`` for many ids in few queries; unknown ids are left out."""
        ...

    def find_identities(self, kind: str, scope: str, value: str) -> list[Identity]:
        """Every stored identity with this value: one, or several for a shared value."""
        ...

    def get_identity(self, identity_id: str) -> Identity | None: ...
    def update_identity(self, identity: Identity) -> None: ...
    def delete_identity(self, identity_id: str) -> None: ...
    def owned_ids(self, customer_id: str) -> MergeMoves:
        """The ids of the customer's identities, interactions and cases."""
        ...

    def move(self, moves: MergeMoves, customer_id: str) -> None:
        """Give the listed identities, interactions and cases to ``customer_id``."""
        ...

    def set_merged_into(self, customer_id: str, target: str | None) -> None: ...
    def merged_into(self, customer_id: str) -> str | None: ...
    def merged_from(self, customer_id: str) -> list[str]:
        """The customers merged directly into this one."""
        ...

    def insert_merge(self, merge: Merge) -> None: ...
    def get_merge(self, merge_id: str) -> Merge | None: ...
    def merges_of(self, customer_id: str) -> list[Merge]: ...
    def set_merge_undone(self, merge_id: str, at: int, by: str | None) -> None: ...
    def insert_customer_event(self, event: CustomerEvent) -> None: ...
    def customer_events(self, customer_id: str) -> list[CustomerEvent]: ...
    def erase_customer(self, customer_id: str, at: int) -> None:
        """Remove the customer's personal data, keeping anonymous interaction facts."""
        ...

    def erased_at(self, customer_id: str) -> datetime | None: ...

    # outbound: preferences, consent, the outbox, webhook subscriptions
    def get_preferences(self, customer_id: str) -> Preferences | None: ...
    def put_preferences(self, prefs: Preferences, at: int) -> None: ...
    def insert_consent(self, record: ConsentRecord) -> None: ...
    def consents(self, customer_id: str, purpose: str | None) -> list[ConsentRecord]:
        """The customer's consent records (for ``purpose``, or all), oldest first."""
        ...

    def insert_outbox(self, items: Sequence[OutboxItem]) -> None: ...
    def get_outbox(self, item_id: str) -> OutboxItem | None: ...
    def outbox_items(
        self, status: str | None, limit: int, kind: str | None = None
    ) -> list[OutboxItem]:
        """Outbox items (with ``status`` and ``kind`` when given), earliest due first."""
        ...

    def claim_outbox(self, now: int, lease_until: int, token: str, limit: int) -> list[OutboxItem]:
        """Lease up to ``limit`` queued items due at ``now`` (µs) whose lease, if any,
        has run out: they carry ``token`` until ``lease_until``. On PostgreSQL rows
        another worker is claiming are skipped, not waited for."""
        ...

    def update_outbox(self, item: OutboxItem, token: str | None) -> bool:
        """Store the item's changing fields if it is still claimed with ``token`` (any
        claim when None); a ``lease_until`` of None releases the claim. True when stored."""
        ...

    def count_outbox(
        self, customer_id: str, purpose: str, since: int, channel: str, besides: str
    ) -> tuple[int, int]:
        """How many messages for ``purpose`` went or are going to the customer after
        ``since`` (µs), in one pass: over all channels except those of the notification
        ``besides``, and on ``channel``. Dead and cancelled items do not count."""
        ...

    def count_notifications(self, customer_id: str, purpose: str, since: int, besides: str) -> int:
        """How many notifications other than ``besides`` sent or are sending the
        customer messages for ``purpose`` after ``since`` (µs), over all channels (one
        notification may reach several). Dead and cancelled items do not count."""
        ...

    def outbox_for_interaction(self, interaction_id: str) -> OutboxItem | None:
        """The message item that sends this outbound interaction, if any."""
        ...

    def last_inbound(self, customer_id: str, channel: str) -> int | None:
        """When (µs) the customer last wrote on ``channel``; None if never."""
        ...

    def insert_subscription(self, subscription: Subscription) -> None: ...
    def subscriptions(self) -> list[Subscription]: ...
    def delete_subscription(self, subscription_id: str) -> bool: ...

    # analytics
    def aggregate(
        self, name: str, sql: Callable[[str], str], params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows of a read-only aggregate query. ``sql(dialect)`` writes it for the
        store's dialect (``"sqlite"``, ``"postgresql"``) with ``:name`` parameters; the
        text is compiled once per ``name``, so the same name must always give the same
        text for a dialect. On PostgreSQL the rest of the transaction runs without JIT
        compilation of plans (``SET LOCAL jit = off``), which cost more than it saved."""
        ...


class Store(Protocol):
    """A database omnikit can keep its records in."""

    url: str
    """The URL the store was opened with, password masked."""

    def transaction(self, *, write: bool = False) -> AbstractContextManager[StoreTransaction]:
        """One transaction; ``write=True`` takes the write lock up front where needed.

        ``write=False`` is a read transaction: all its reads see one consistent
        snapshot of the store, and it must not write (PostgreSQL refuses).
        """
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...

    def purge(self) -> None:
        """Make deleted data unrecoverable from the store's files, where the backend
        can (SQLite: deleted content is zeroed and the write-ahead log truncated)."""
        ...


def open_store(url: str, **pool: Any) -> Store:
    """Open (and, when needed, create or upgrade) the store at ``url``.

    ``sqlite:///path/to/file.db``, ``sqlite:///:memory:`` and
    ``postgresql://user:password@host/database`` (extra ``omnikit[postgres]``).
    ``pool`` takes connection-pool settings (``pool_size``, ``max_overflow``,
    ``pool_timeout``, ``pool_recycle``), which the URL's query may also carry.

    Raises ``ValidationError`` for a URL or setting omnikit cannot use and
    ``StoreError`` when the database cannot be opened or its schema is newer than
    this omnikit.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(f"{url!r} is not a store URL; use for example 'sqlite:///omnikit.db'")
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == "sqlite":
        from omnikit.store.sqlite import open_sqlite

        return open_sqlite(url, **pool)
    if scheme in ("postgresql", "postgres"):
        from omnikit.store.postgres import open_postgres

        return open_postgres(url, **pool)
    raise ValidationError(
        f"{scheme!r} is not a supported store: use sqlite:///file.db, sqlite:///:memory: "
        "or postgresql://user:password@host/database"
    )
