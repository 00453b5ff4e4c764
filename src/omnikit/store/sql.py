"""The SQL store shared by every SQL backend.

Statements are written once in SQLAlchemy Core (:mod:`omnikit.store.schema`), compiled
once per dialect, and executed on the driver's cursor inside a transaction the store
controls. Going through the cursor rather than ``Connection.execute`` is a measured
choice: on one insert-and-commit, SQLAlchemy's execution layer added 120-140 µs over
the cursor (192 against 71 µs on a RAM disk; figure E in ``docs/benchmarks.md``), and
``kit.record`` must stay within twice a raw insert. A backend module supplies what
differs: how to connect, how to begin a write transaction, and the dialect's
``INSERT … ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, NoReturn, Protocol, TypeVar

from pydantic import JsonValue
from sqlalchemy import (
    Engine,
    Table,
    any_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.dml import Insert

from omnikit._time import from_micros, to_micros
from omnikit.errors import StoreError, ValidationError
from omnikit.model import (
    Agent,
    Attachment,
    Case,
    CaseEvent,
    CaseSla,
    CaseStatus,
    ChannelSummary,
    Customer,
    CustomerEvent,
    DeliveryStatus,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    Merge,
    MergeMoves,
    OutboxItem,
    OutboxStatus,
    Preferences,
    Priority,
    Queue,
    QueueEntry,
    Subscription,
    Work,
)
from omnikit.model.outbound import ConsentRecord
from omnikit.store import DuplicateKeyError, MissingRowError, StoreTransaction
from omnikit.store.schema import (
    agents,
    case_events,
    cases,
    consents,
    customer_events,
    customers,
    identities,
    interactions,
    merges,
    outbox,
    preferences,
    queue_entries,
    queues,
    routing_work,
    subscriptions,
)

__all__ = ["POOL_OPTIONS", "Backend", "SqlStore", "SqlTransaction", "pool_options"]

log = logging.getLogger("omnikit.store")

Row = Sequence[Any]
Cursor = Any
"""A DB-API 2.0 cursor (``sqlite3.Cursor``, ``psycopg.Cursor``)."""

Run = tuple[str, Callable[[], ClauseElement], Mapping[str, Any]]
"""A statement to run: its name in the compiled cache, how to build it, its parameters."""
Sent = tuple[str, Mapping[str, Any]]
"""A compiled statement and its parameters."""
_T = TypeVar("_T")


class Backend(Protocol):
    """What one database adds to the shared SQL store."""

    name: str

    def begin(self, cursor: Cursor, *, write: bool) -> str | None:
        """Start a transaction on ``cursor``'s connection, or return the statement that
        starts it: the store then sends that with the transaction's first statement."""
        ...

    def together(self, cursor: Cursor) -> AbstractContextManager[object]:
        """A context whose statements on ``cursor``'s connection reach the server
        together, their results read as it ends (one round trip for several)."""
        ...

    def is_disconnect(self, error: BaseException, cursor: Cursor) -> bool:
        """True when ``error`` means that ``cursor``'s connection is gone."""
        ...

    def insert_ignoring(self, table: Table, *unique: str) -> Insert:
        """``INSERT`` that skips rows clashing with the unique key over ``unique``."""
        ...

    def is_unique_violation(self, error: Exception) -> bool:
        """True when the driver's ``IntegrityError`` is a broken unique key."""
        ...

    def purge(self, engine: Engine) -> None:
        """Make deleted rows unrecoverable from the database's files, if it can."""
        ...


_MOVE_CHUNK = 500
"""Ids per UPDATE when a merge moves rows (well below every driver's parameter limit)."""

POOL_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "pool_size": int,
    "max_overflow": int,
    "pool_timeout": float,
    "pool_recycle": int,
}
"""Connection-pool settings, as keyword arguments or as URL query parameters."""


def pool_options(url: URL, given: Mapping[str, Any]) -> tuple[URL, dict[str, Any]]:
    """Split pool settings from ``given`` and from ``url``'s query (keywords win).

    Returns the URL without them and the options for ``create_engine``. Raises
    ``ValidationError`` for an unknown option or a value of the wrong kind.
    """
    unknown = sorted(set(given) - set(POOL_OPTIONS))
    if unknown:
        raise ValidationError(f"unknown store option(s): {', '.join(unknown)}")
    query = dict(url.query)
    options: dict[str, Any] = {}
    for name, convert in POOL_OPTIONS.items():
        raw = query.pop(name, None)
        if given.get(name) is not None:
            raw = given[name]
        if raw is None:
            continue
        try:
            value = convert(raw)
        except (TypeError, ValueError):
            raise ValidationError(f"{name}={raw!r} is not a valid number") from None
        if isinstance(raw, bool) or value < 0:
            raise ValidationError(f"{name}={raw!r} must be a number of at least 0")
        options[name] = value
    return url.set(query=query), options


def _among(column: ColumnElement[Any], size: int | None) -> ColumnElement[bool]:
    """``column IN (:i0, …)`` with ``size`` parameters, or, for ``None``, ``column =
    ANY(:ids)`` with one array parameter (PostgreSQL): one short statement, whatever the
    number of values, that psycopg parses once and caches."""
    if size is None:
        return column == any_(bindparam("ids"))
    return column.in_([bindparam(f"i{n}") for n in range(size)])


def _merged_of(size: int | None) -> Callable[[], ClauseElement]:
    """Build ``SELECT id, merged_into FROM customers WHERE id IN (size ids)``."""

    def build() -> ClauseElement:
        return select(customers.c.id, customers.c.merged_into).where(_among(customers.c.id, size))

    return build


def _identities_in(size: int | None) -> Callable[[], ClauseElement]:
    """Build ``SELECT * FROM identities WHERE kind = … AND scope = … AND value IN (…)``."""

    def build() -> ClauseElement:
        return select(identities).where(
            identities.c.kind == bindparam("kind"),
            identities.c.scope == bindparam("scope"),
            _among(identities.c.value, size),
        )

    return build


def _profiles_of(size: int | None) -> Callable[[], ClauseElement]:
    """Build ``SELECT id, name, language FROM customers WHERE id IN (size ids)``."""

    def build() -> ClauseElement:
        return select(customers.c.id, customers.c.name, customers.c.language).where(
            _among(customers.c.id, size)
        )

    return build


def _owners_of(size: int | None) -> Callable[[], ClauseElement]:
    """Build ``SELECT external_id, customer_id FROM interactions WHERE channel = … AND
    external_id IN (size ids)``."""

    def build() -> ClauseElement:
        return select(interactions.c.external_id, interactions.c.customer_id).where(
            interactions.c.channel == bindparam("channel"),
            _among(interactions.c.external_id, size),
        )

    return build


def _mover(table: Table, size: int) -> Callable[[], ClauseElement]:
    """Build ``UPDATE table SET customer_id = … WHERE id IN (size ids)``."""

    def build() -> ClauseElement:
        return (
            update(table)
            .where(table.c.id.in_([bindparam(f"i{n}") for n in range(size)]))
            .values(customer_id=bindparam("customer_id"))
        )

    return build


def _dumps(value: object) -> str | None:
    if not value:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _all_params(table: Table) -> dict[str, Any]:
    return {column.name: bindparam(column.name) for column in table.c}


def _customer_of(customer_id: str) -> Run:
    """The customer's row (``merged_into`` included) joined with its identities."""

    def build() -> ClauseElement:
        return (
            select(customers, identities)
            .outerjoin(identities, identities.c.customer_id == customers.c.id)
            .where(customers.c.id == bindparam("id"))
            .order_by(identities.c.first_seen_at, identities.c.id)
        )

    return "get_customer", build, {"id": customer_id}


def _recent_interactions(customer_id: str, limit: int) -> Run:
    def build() -> ClauseElement:
        return (
            select(interactions)
            .where(interactions.c.customer_id == bindparam("customer_id"))
            .order_by(interactions.c.occurred_at.desc(), interactions.c.id.desc())
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    return "recent_interactions", build, {"customer_id": customer_id, "limit": limit, "offset": 0}


def _list_cases(customer_id: str | None, statuses: Sequence[str] | None, limit: int) -> Run:
    by_customer = customer_id is not None
    n_statuses = len(statuses) if statuses is not None else -1

    def build() -> ClauseElement:
        query = select(cases)
        if by_customer:
            query = query.where(cases.c.customer_id == bindparam("customer_id"))
        if n_statuses >= 0:
            query = query.where(cases.c.status.in_([bindparam(f"s{i}") for i in range(n_statuses)]))
        return (
            query.order_by(cases.c.created_at.desc(), cases.c.id.desc())
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    params: dict[str, Any] = {"customer_id": customer_id, "limit": limit, "offset": 0}
    params.update({f"s{i}": status for i, status in enumerate(statuses or ())})
    if not by_customer:
        del params["customer_id"]
    return f"list_cases:{by_customer}:{n_statuses}", build, params


def _summary_of(customer_id: str) -> Run:
    def build() -> ClauseElement:
        last = func.max(interactions.c.occurred_at)
        return (
            select(interactions.c.channel, func.count(), last)
            .where(interactions.c.customer_id == bindparam("customer_id"))
            .group_by(interactions.c.channel)
            .order_by(last.desc(), interactions.c.channel)
        )

    return "channel_summary", build, {"customer_id": customer_id}


class _Statements:
    """The store's SQL, compiled for one dialect on first use."""

    def __init__(self, engine: Engine, backend: Backend) -> None:
        self._dialect = engine.dialect
        self._backend = backend
        self._compiled: dict[str, str] = {}
        self._lock = threading.Lock()
        # Parsed agent and queue settings by (table, id, revision): routing reads all
        # of them on every decision and re-parses only those whose revision changed.
        self.settings: dict[tuple[str, str, str], Any] = {}

    @property
    def dialect(self) -> str:
        """The dialect's name: ``"sqlite"`` or ``"postgresql"``."""
        return str(self._dialect.name)

    def sql(self, name: str, build: Callable[[], ClauseElement]) -> str:
        compiled = self._compiled.get(name)
        if compiled is None:
            with self._lock:
                compiled = str(build().compile(dialect=self._dialect))
                self._compiled[name] = compiled
        return compiled

    def backend(self) -> Backend:
        return self._backend


def _customer_params(customer: Customer) -> dict[str, Any]:
    """The ``customers`` row of a new customer (not merged, not erased)."""
    return {
        "id": customer.id,
        "name": customer.name,
        "language": customer.language,
        "attributes": json.dumps(customer.attributes, ensure_ascii=False),
        "created_at": to_micros(customer.created_at),
        "updated_at": to_micros(customer.updated_at),
        "merged_into": None,
        "erased_at": None,
    }


_NO_JIT = "SET LOCAL jit = off"
"""For the rest of the transaction: no JIT compilation of plans (see ``aggregate``)."""


class SqlTransaction(StoreTransaction):
    """One transaction on a driver cursor; see ``StoreTransaction`` for the methods.

    ``begin``, when given, is the statement that starts the transaction: it goes to
    the server with the first statement, in the same round trip; such a (read)
    transaction's ``COMMIT`` goes with its last reads (``customer_activity``). ``owner``,
    when given, can replace a connection found gone at the first round trip.
    """

    __slots__ = ("_begin", "_cur", "_ended", "_ends", "_owner", "_pending", "_sql")

    def __init__(
        self,
        cursor: Cursor,
        statements: _Statements,
        owner: _Transaction | None = None,
        begin: str | None = None,
    ) -> None:
        self._cur = cursor
        self._sql = statements
        self._owner = owner
        self._begin = begin
        self._ends = begin is not None  # the store began it, so it can end it early
        self._ended = False
        self._pending = owner is not None  # the first round trip is still to come

    def _run(self, name: str, build: Callable[[], ClauseElement], params: Mapping[str, Any]) -> Any:
        return self._execute(self._sql.sql(name, build), params)

    def _execute(self, sql: str, params: Mapping[str, Any]) -> Cursor:
        if self._pending:
            return self._first(lambda: self._send([(sql, params)])[0])
        cursor = self._cur
        cursor.execute(sql, params)
        return cursor

    def _run_together(self, runs: Sequence[Run], *, last: bool = False) -> list[Cursor]:
        """Run independent statements in one round trip; a cursor with each result.
        ``last``: the transaction's last statements, which may end it (``COMMIT``)."""
        batch = [(self._sql.sql(name, build), params) for name, build, params in runs]
        end = last and self._ends
        if self._pending:
            return self._first(lambda: self._send(batch, end))
        return self._send(batch, end)

    def _send(self, batch: Sequence[Sent], end: bool = False) -> list[Cursor]:
        """Execute ``batch`` (after the pending ``BEGIN``, if any, and before ``COMMIT``
        when ``end``) in one round trip."""
        cursor = self._cur
        begin = self._begin
        if begin is None and not end and len(batch) <= 1:
            if batch:
                cursor.execute(*batch[0])
            return [cursor][: len(batch)]
        cursors = [cursor, *(cursor.connection.cursor() for _ in batch[1:])] if batch else []
        with self._sql.backend().together(cursor):
            if begin is not None:
                cursor.execute(begin)
            for each, (sql, params) in zip(cursors, batch, strict=True):
                each.execute(sql, params)
            if end:
                cursor.connection.cursor().execute("COMMIT")
        self._begin = None
        if end:  # any further statement is a mistake: _first refuses it
            self._ended = self._pending = True
        return cursors

    def _first(self, send: Callable[[], _T]) -> _T:
        """The transaction's first round trip, ``send``.

        A connection found gone here (a server restart, an idle connection cut) is
        replaced and the round trip sent once more. Nothing of the transaction can run
        twice: the server has seen nothing of it but this round trip, whose open
        transaction it rolled back when the connection ended. Once a round trip has
        succeeded, a lost connection fails the call instead.
        """
        if self._ended:
            raise StoreError("this read transaction ended with its last reads (customer_activity)")
        self._pending = False
        try:
            return send()
        except Exception as error:
            owner = self._owner
            if owner is None or not owner.reconnect(error):
                raise
            self._cur = owner.cursor
        return send()

    # customers and identities ----------------------------------------------------

    def insert_customer(self, customer: Customer) -> None:
        self._run(
            "insert_customer",
            lambda: insert(customers).values(_all_params(customers)),
            _customer_params(customer),
        )
        for identity in customer.identities:
            self.insert_identity(identity)

    def set_customer_attributes(
        self, customer_id: str, attributes: dict[str, Any], updated_at: int
    ) -> None:
        self._run(
            "set_customer_attributes",
            lambda: (
                update(customers)
                .where(customers.c.id == bindparam("id"))
                .values(attributes=bindparam("attributes"), updated_at=bindparam("updated_at"))
            ),
            {
                "id": customer_id,
                "attributes": json.dumps(attributes, ensure_ascii=False),
                "updated_at": updated_at,
            },
        )

    def update_customer(
        self, customer_id: str, *, name: str | None, language: str | None, updated_at: int
    ) -> None:
        self._run(
            "update_customer",
            lambda: (
                update(customers)
                .where(customers.c.id == bindparam("id"))
                .values(
                    name=bindparam("name"),
                    language=bindparam("language"),
                    updated_at=bindparam("updated_at"),
                )
            ),
            {"id": customer_id, "name": name, "language": language, "updated_at": updated_at},
        )

    def get_customer(self, customer_id: str) -> Customer | None:
        return _customer(self._run(*_customer_of(customer_id)).fetchall())

    def current_customer(self, customer_id: str) -> Customer | None:
        rows = self._run(*_customer_of(customer_id)).fetchall()
        if not rows or rows[0][_MERGED_INTO] is None:
            return _customer(rows)
        resolved = self.resolve_customer(customer_id)
        return None if resolved is None else self.get_customer(resolved)

    def customer_by_identity(self, kind: str, scope: str, value: str) -> Customer | None:
        def build() -> ClauseElement:
            hit = identities.alias("hit")
            return (
                select(customers, identities)
                .select_from(hit)
                .join(customers, customers.c.id == hit.c.customer_id)
                .join(identities, identities.c.customer_id == customers.c.id)
                .where(
                    hit.c.kind == bindparam("kind"),
                    hit.c.scope == bindparam("scope"),
                    hit.c.value == bindparam("value"),
                    hit.c.shared == false(),
                    customers.c.merged_into.is_(None),
                )
                .order_by(identities.c.first_seen_at, identities.c.id)
            )

        params = {"kind": kind, "scope": scope, "value": value}
        return _customer(self._run("customer_by_identity", build, params).fetchall())

    def has_customers(self) -> bool:
        first = select(customers.c.id).limit(bindparam("limit")).offset(bindparam("offset"))
        row = self._run("has_customers", lambda: first, {"limit": 1, "offset": 0}).fetchone()
        return row is not None

    def insert_identity(self, identity: Identity) -> None:
        self._run(
            "insert_identity",
            lambda: insert(identities).values(_all_params(identities)),
            _identity_params(identity),
        )

    def insert_customers(self, customers_: Sequence[Customer]) -> None:
        if not customers_:
            return
        rows = [_customer_params(customer) for customer in customers_]
        self._executemany(
            self._sql.sql(
                "insert_customer", lambda: insert(customers).values(_all_params(customers))
            ),
            rows,
        )
        self.insert_identities([i for customer in customers_ for i in customer.identities])

    def insert_identities(self, identities_: Sequence[Identity]) -> None:
        if not identities_:
            return
        self._executemany(
            self._sql.sql(
                "insert_identity", lambda: insert(identities).values(_all_params(identities))
            ),
            [_identity_params(identity) for identity in identities_],
        )

    def _executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> int:
        def send() -> int:
            self._send([])  # the pending BEGIN, if any
            cursor = self._cur
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)

        return self._first(send) if self._pending else send()

    def find_identities_in(self, kind: str, scope: str, values: Sequence[str]) -> list[Identity]:
        rows = self._among(
            "find_identities_in", _identities_in, values, {"kind": kind, "scope": scope}
        )
        return [_identity(row) for row in rows]

    def customer_profiles(
        self, customer_ids: Sequence[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        rows = self._among("customer_profiles", _profiles_of, customer_ids, {})
        return {str(row[0]): (row[1], row[2]) for row in rows}

    def _among(
        self,
        name: str,
        build: Callable[[int | None], Callable[[], ClauseElement]],
        values: Sequence[str],
        params: Mapping[str, Any],
    ) -> list[Row]:
        """The rows of ``build``'s query for distinct ``values``: on PostgreSQL one
        statement with the values as one array; elsewhere one per ``_MOVE_CHUNK`` values
        (below every driver's parameter limit)."""
        wanted = list(dict.fromkeys(values))
        if not wanted:
            return []
        if self._sql.dialect == "postgresql":
            return list(self._run(f"{name}_any", build(None), {**params, "ids": wanted}).fetchall())
        rows: list[Row] = []
        for start in range(0, len(wanted), _MOVE_CHUNK):
            chunk = wanted[start : start + _MOVE_CHUNK]
            chunk_params = {**params, **{f"i{n}": value for n, value in enumerate(chunk)}}
            rows.extend(
                self._run(f"{name}_{len(chunk)}", build(len(chunk)), chunk_params).fetchall()
            )
        return rows

    # interactions -------------------------------------------------------------------

    def interaction_owners(self, channel: str, external_ids: Sequence[str]) -> dict[str, str]:
        rows = self._among("interaction_owners", _owners_of, external_ids, {"channel": channel})
        return {str(row[0]): str(row[1]) for row in rows}

    def _insert_interaction_sql(self) -> str:
        backend = self._sql.backend()
        return self._sql.sql(
            "insert_interaction",
            lambda: backend.insert_ignoring(interactions, "channel", "external_id").values(
                _all_params(interactions)
            ),
        )

    def insert_interaction(self, interaction: Interaction) -> bool:
        cursor = self._execute(self._insert_interaction_sql(), _interaction_params(interaction))
        return bool(cursor.rowcount == 1)

    def insert_interactions(self, interactions_: Sequence[Interaction]) -> int:
        if not interactions_:
            return 0
        sql = self._insert_interaction_sql()
        rows = [_interaction_params(i) for i in interactions_]

        def send() -> int:
            self._send([])  # the pending BEGIN, if any
            cursor = self._cur
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)

        return self._first(send) if self._pending else send()

    def get_interaction(self, interaction_id: str) -> Interaction | None:
        row = self._run(
            "get_interaction",
            lambda: select(interactions).where(interactions.c.id == bindparam("id")),
            {"id": interaction_id},
        ).fetchone()
        return None if row is None else _interaction(row)

    def interaction_by_external_id(self, channel: str, external_id: str) -> Interaction | None:
        row = self._run(
            "interaction_by_external_id",
            lambda: select(interactions).where(
                interactions.c.channel == bindparam("channel"),
                interactions.c.external_id == bindparam("external_id"),
            ),
            {"channel": channel, "external_id": external_id},
        ).fetchone()
        return None if row is None else _interaction(row)

    def recent_interactions(self, customer_id: str, limit: int) -> list[Interaction]:
        rows = self._run(*_recent_interactions(customer_id, limit)).fetchall()
        return [_interaction(row) for row in rows]

    def timeline(self, customer_id: str) -> list[Interaction]:
        rows = self._run(
            "timeline",
            lambda: (
                select(interactions)
                .where(interactions.c.customer_id == bindparam("customer_id"))
                .order_by(interactions.c.occurred_at, interactions.c.id)
            ),
            {"customer_id": customer_id},
        ).fetchall()
        return [_interaction(row) for row in rows]

    def channel_summary(self, customer_id: str) -> list[ChannelSummary]:
        return _channel_summary(self._run(*_summary_of(customer_id)).fetchall())

    def customer_activity(
        self, customer_id: str, recent: int, statuses: Sequence[str], cases_limit: int
    ) -> tuple[list[Interaction], list[Case], list[ChannelSummary]]:
        if not statuses:
            return (
                self.recent_interactions(customer_id, recent),
                [],
                self.channel_summary(customer_id),
            )
        runs = [
            _recent_interactions(customer_id, recent),
            _list_cases(customer_id, statuses, cases_limit),
            _summary_of(customer_id),
        ]
        done = self._run_together(runs, last=True)
        recent_rows, case_rows, summary_rows = (c.fetchall() for c in done)
        return (
            [_interaction(row) for row in recent_rows],
            [_case(row) for row in case_rows],
            _channel_summary(summary_rows),
        )

    def set_interaction_case(self, interaction_id: str, case_id: str) -> None:
        self._run(
            "set_interaction_case",
            lambda: (
                update(interactions)
                .where(interactions.c.id == bindparam("id"))
                .values(case_id=bindparam("case_id"))
            ),
            {"id": interaction_id, "case_id": case_id},
        )

    def set_interaction_external_id(self, interaction_id: str, external_id: str) -> None:
        self._run(
            "set_interaction_external_id",
            lambda: (
                update(interactions)
                .where(interactions.c.id == bindparam("id"))
                .values(external_id=bindparam("external_id"))
            ),
            {"id": interaction_id, "external_id": external_id},
        )

    def set_interaction_status(
        self,
        interaction_id: str,
        expected: str | None,
        status: str | None,
        metadata: Mapping[str, JsonValue],
    ) -> bool:
        params = {"id": interaction_id, "status": status, "metadata": _dumps(dict(metadata))}
        if expected is not None:
            params["old"] = expected

        def build() -> ClauseElement:
            condition: ColumnElement[bool] = (
                interactions.c.status.is_(None)
                if expected is None
                else interactions.c.status == bindparam("old")
            )
            return (
                update(interactions)
                .where(interactions.c.id == bindparam("id"), condition)
                .values(status=bindparam("status"), metadata=bindparam("metadata"))
            )

        name = "set_interaction_status_new" if expected is None else "set_interaction_status"
        result = self._run(name, build, params)
        return bool(result.rowcount == 1)

    # cases ----------------------------------------------------------------------------

    def insert_case(self, case: Case) -> None:
        self._run(
            "insert_case",
            lambda: insert(cases).values(_all_params(cases)),
            _case_params(case),
        )

    def update_case(self, case: Case) -> bool:
        params = _case_params(case)
        params["expected"] = case.version - 1
        cursor = self._run(
            "update_case",
            lambda: (
                update(cases)
                .where(cases.c.id == bindparam("id"), cases.c.version == bindparam("expected"))
                .values({c.name: bindparam(c.name) for c in cases.c if c.name != "id"})
            ),
            params,
        )
        return bool(cursor.rowcount == 1)

    def get_case(self, case_id: str) -> Case | None:
        row = self._run(
            "get_case",
            lambda: select(cases).where(cases.c.id == bindparam("id")),
            {"id": case_id},
        ).fetchone()
        return None if row is None else _case(row)

    def list_cases(
        self, customer_id: str | None, statuses: Sequence[str] | None, limit: int
    ) -> list[Case]:
        if statuses is not None and not statuses:
            return []
        rows = self._run(*_list_cases(customer_id, statuses, limit)).fetchall()
        return [_case(row) for row in rows]

    def case_interactions(self, case_id: str) -> list[Interaction]:
        rows = self._run(
            "case_interactions",
            lambda: (
                select(interactions)
                .where(interactions.c.case_id == bindparam("case_id"))
                .order_by(interactions.c.occurred_at, interactions.c.id)
            ),
            {"case_id": case_id},
        ).fetchall()
        return [_interaction(row) for row in rows]

    def insert_case_event(self, event: CaseEvent) -> None:
        self._run(
            "insert_case_event",
            lambda: insert(case_events).values(_all_params(case_events)),
            {
                "id": event.id,
                "case_id": event.case_id,
                "at": to_micros(event.at),
                "type": event.type,
                "actor": event.actor,
                "before": None if event.before is None else json.dumps(event.before),
                "after": None if event.after is None else json.dumps(event.after),
                "note": event.note,
            },
        )

    def case_events(self, case_id: str) -> list[CaseEvent]:
        rows = self._run(
            "case_events",
            lambda: (
                select(case_events)
                .where(case_events.c.case_id == bindparam("case_id"))
                .order_by(case_events.c.at, case_events.c.id)
            ),
            {"case_id": case_id},
        ).fetchall()
        return [
            CaseEvent.trusted(
                id=id_,
                case_id=case_id_,
                at=from_micros(at),
                type=type_,
                actor=actor,
                before=_loads(before),
                after=_loads(after),
                note=note,
            )
            for id_, case_id_, at, type_, actor, before, after, note in rows
        ]

    def cases_due(self, before: int, limit: int) -> list[Case]:
        rows = self._run(
            "cases_due",
            lambda: (
                select(cases)
                .where(cases.c.sla_due <= bindparam("before"))
                .order_by(cases.c.sla_due, cases.c.id)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            ),
            {"before": before, "limit": limit, "offset": 0},
        ).fetchall()
        return [_case(row) for row in rows]

    def previous_assignee(self, customer_id: str, exclude_case: str | None) -> str | None:
        row = self._run(
            "previous_assignee",
            lambda: (
                select(cases.c.assignee)
                .where(
                    cases.c.customer_id == bindparam("customer_id"),
                    cases.c.assignee.is_not(None),
                    cases.c.id != bindparam("exclude"),
                )
                .order_by(cases.c.updated_at.desc(), cases.c.id.desc())
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            ),
            {"customer_id": customer_id, "exclude": exclude_case or "", "limit": 1, "offset": 0},
        ).fetchone()
        return None if row is None else str(row[0])

    # routing ------------------------------------------------------------------------

    def _put_settings(
        self, table: Table, item: Agent | Queue, extra: dict[str, Any], revision: str, at: int
    ) -> None:
        params = {
            "id": item.id,
            "settings": json.dumps(item.model_dump(mode="json", exclude={"id"})),
            "revision": revision,
            "updated_at": at,
            **extra,
        }
        changing = [name for name in params if name != "id" and name != "routed_seq"]
        cursor = self._run(
            f"update_{table.name}",
            lambda: (
                update(table)
                .where(table.c.id == bindparam("id"))
                .values({name: bindparam(name) for name in changing})
            ),
            {name: params[name] for name in ("id", *changing)},
        )
        if cursor.rowcount != 1:
            self._run(
                f"insert_{table.name}", lambda: insert(table).values(_all_params(table)), params
            )

    def _settings(
        self, table: Table, model: type[Any], ids: Sequence[tuple[str, str]]
    ) -> list[Any]:
        """The parsed settings of the rows ``(id, revision)``, from the cache when known.

        Routing reads every agent on every decision: when the rows are those of the
        last call (the common case) the parsed list comes back as it was, and a
        changed row costs one re-read of the table's settings, not a parse per row.
        """
        cache = self._sql.settings
        last = cache.get((table.name, "", "list"))
        if last is not None and last[0] == ids:
            return list(last[1])
        if any((table.name, id_, revision) not in cache for id_, revision in ids):
            rows = self._run(
                f"settings_{table.name}",
                lambda: select(table.c.id, table.c.revision, table.c.settings),
                {},
            ).fetchall()
            for id_, revision, settings in rows:
                cache[(table.name, id_, revision)] = model.model_validate(
                    {"id": id_, **json.loads(settings)}
                )
        parsed = [cache[(table.name, id_, revision)] for id_, revision in ids]
        if len(ids) > 1:
            cache[(table.name, "", "list")] = (list(ids), parsed)
        return parsed

    def put_agent(self, agent: Agent, revision: str, at: int) -> None:
        self._put_settings(agents, agent, {"routed_seq": 0}, revision, at)

    def get_agent(self, agent_id: str) -> Agent | None:
        row = self._run(
            "get_agent",
            lambda: select(agents.c.id, agents.c.revision).where(agents.c.id == bindparam("id")),
            {"id": agent_id},
        ).fetchone()
        return None if row is None else self._settings(agents, Agent, [tuple(row)])[0]

    def delete_agent(self, agent_id: str) -> bool:
        cursor = self._run(
            "delete_agent",
            lambda: delete(agents).where(agents.c.id == bindparam("id")),
            {"id": agent_id},
        )
        return bool(cursor.rowcount == 1)

    def agents(self) -> list[tuple[Agent, int]]:
        rows = self._run(
            "agents",
            lambda: select(agents.c.id, agents.c.revision, agents.c.routed_seq).order_by(
                agents.c.id
            ),
            {},
        ).fetchall()
        parsed = self._settings(agents, Agent, [(id_, rev) for id_, rev, _ in rows])
        return [(agent, seq) for agent, (_, _, seq) in zip(parsed, rows, strict=True)]

    def touch_agent(self, agent_id: str, seq: int) -> None:
        self._run(
            "touch_agent",
            lambda: (
                update(agents)
                .where(agents.c.id == bindparam("id"))
                .values(routed_seq=bindparam("seq"))
            ),
            {"id": agent_id, "seq": seq},
        )

    def put_queue(self, queue: Queue, revision: str, at: int) -> None:
        self._put_settings(queues, queue, {"position": queue.order}, revision, at)

    def get_queue(self, queue_id: str) -> Queue | None:
        row = self._run(
            "get_queue",
            lambda: select(queues.c.id, queues.c.revision).where(queues.c.id == bindparam("id")),
            {"id": queue_id},
        ).fetchone()
        return None if row is None else self._settings(queues, Queue, [tuple(row)])[0]

    def delete_queue(self, queue_id: str) -> bool:
        cursor = self._run(
            "delete_queue",
            lambda: delete(queues).where(queues.c.id == bindparam("id")),
            {"id": queue_id},
        )
        return bool(cursor.rowcount == 1)

    def queues(self) -> list[Queue]:
        rows = self._run(
            "queues",
            lambda: select(queues.c.id, queues.c.revision).order_by(queues.c.position, queues.c.id),
            {},
        ).fetchall()
        return self._settings(queues, Queue, [tuple(row) for row in rows])

    def agent_loads(self, channel: str) -> dict[str, int]:
        rows = self._run(
            "agent_loads",
            lambda: (
                select(routing_work.c.agent_id, func.count())
                .where(routing_work.c.channel == bindparam("channel"))
                .group_by(routing_work.c.agent_id)
            ),
            {"channel": channel},
        ).fetchall()
        return dict(rows)

    def count_work(self, agent_id: str, channel: str) -> int:
        row = self._run(
            "count_work",
            lambda: select(func.count()).where(
                routing_work.c.agent_id == bindparam("agent_id"),
                routing_work.c.channel == bindparam("channel"),
            ),
            {"agent_id": agent_id, "channel": channel},
        ).fetchone()
        return int(row[0])

    def insert_work(self, work: Work) -> None:
        self._run(
            "insert_work",
            lambda: insert(routing_work).values(_all_params(routing_work)),
            {
                "id": work.id,
                "agent_id": work.agent_id,
                "channel": work.channel,
                "case_id": work.case_id,
                "interaction_id": work.interaction_id,
                "started_at": to_micros(work.started_at),
            },
        )

    def work_for(self, case_id: str | None, interaction_id: str | None) -> Work | None:
        by_case = case_id is not None
        column = routing_work.c.case_id if by_case else routing_work.c.interaction_id
        row = self._run(
            f"work_for:{by_case}",
            lambda: select(routing_work).where(column == bindparam("id")),
            {"id": case_id if by_case else interaction_id},
        ).fetchone()
        return None if row is None else _work(row)

    def work_of(self, agent_id: str) -> list[Work]:
        rows = self._run(
            "work_of",
            lambda: (
                select(routing_work)
                .where(routing_work.c.agent_id == bindparam("agent_id"))
                .order_by(routing_work.c.started_at, routing_work.c.id)
            ),
            {"agent_id": agent_id},
        ).fetchall()
        return [_work(row) for row in rows]

    def delete_work(self, work_id: str) -> None:
        self._run(
            "delete_work",
            lambda: delete(routing_work).where(routing_work.c.id == bindparam("id")),
            {"id": work_id},
        )

    def enqueue(self, entry: QueueEntry) -> None:
        existing = self.queued_for(entry.case_id, entry.interaction_id)
        if existing is not None:
            self.dequeue(existing.id)
        self._run(
            "enqueue",
            lambda: insert(queue_entries).values(_all_params(queue_entries)),
            {
                "id": entry.id,
                "queue_id": entry.queue_id,
                "channel": entry.channel,
                "case_id": entry.case_id,
                "interaction_id": entry.interaction_id,
                "rank": entry.rank,
                "enqueued_at": to_micros(entry.enqueued_at),
            },
        )

    def queued_for(self, case_id: str | None, interaction_id: str | None) -> QueueEntry | None:
        by_case = case_id is not None
        column = queue_entries.c.case_id if by_case else queue_entries.c.interaction_id
        row = self._run(
            f"queued_for:{by_case}",
            lambda: select(queue_entries).where(column == bindparam("id")),
            {"id": case_id if by_case else interaction_id},
        ).fetchone()
        return None if row is None else _queue_entry(row)

    def dequeue(self, entry_id: str) -> None:
        self._run(
            "dequeue",
            lambda: delete(queue_entries).where(queue_entries.c.id == bindparam("id")),
            {"id": entry_id},
        )

    def queue_entries(self, queue_id: str) -> list[QueueEntry]:
        rows = self._run(
            "queue_entries",
            lambda: (
                select(queue_entries)
                .where(queue_entries.c.queue_id == bindparam("queue_id"))
                .order_by(
                    queue_entries.c.rank.desc(), queue_entries.c.enqueued_at, queue_entries.c.id
                )
            ),
            {"queue_id": queue_id},
        ).fetchall()
        return [_queue_entry(row) for row in rows]

    def queue_position(self, entry: QueueEntry) -> int:
        q = queue_entries.c
        row = self._run(
            "queue_position",
            lambda: select(func.count()).where(
                q.queue_id == bindparam("queue_id"),
                (q.rank > bindparam("rank"))
                | ((q.rank == bindparam("rank")) & (q.enqueued_at < bindparam("at")))
                | (
                    (q.rank == bindparam("rank"))
                    & (q.enqueued_at == bindparam("at"))
                    & (q.id < bindparam("id"))
                ),
            ),
            {
                "queue_id": entry.queue_id,
                "rank": entry.rank,
                "at": to_micros(entry.enqueued_at),
                "id": entry.id,
            },
        ).fetchone()
        return int(row[0]) + 1

    # recognition: identities, merges, erasure, the customer audit trail -----------------

    def resolve_customer(self, customer_id: str) -> str | None:
        seen: list[str] = []
        current: str | None = customer_id
        while current is not None:
            row = self._run(
                "resolve_customer",
                lambda: select(customers.c.merged_into).where(customers.c.id == bindparam("id")),
                {"id": current},
            ).fetchone()
            if row is None:
                return None
            seen.append(current)
            if row[0] is None or row[0] in seen:
                return current
            current = row[0]
        return None  # pragma: no cover - the loop always returns

    def resolve_customers(self, customer_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(customer_ids))
        rows = self._among("resolve_customers", _merged_of, ids, {})
        merged: dict[str, str] = {str(row[0]): row[1] for row in rows}
        resolved: dict[str, str] = {}
        for customer_id in ids:
            if customer_id not in merged:
                continue  # unknown
            target = merged[customer_id]
            found = customer_id if target is None else self.resolve_customer(customer_id)
            if found is not None:
                resolved[customer_id] = found
        return resolved

    def find_identities(self, kind: str, scope: str, value: str) -> list[Identity]:
        rows = self._run(
            "find_identities",
            lambda: (
                select(identities)
                .where(
                    identities.c.kind == bindparam("kind"),
                    identities.c.scope == bindparam("scope"),
                    identities.c.value == bindparam("value"),
                )
                .order_by(identities.c.customer_id)
            ),
            {"kind": kind, "scope": scope, "value": value},
        ).fetchall()
        return [_identity(row) for row in rows]

    def get_identity(self, identity_id: str) -> Identity | None:
        row = self._run(
            "get_identity",
            lambda: select(identities).where(identities.c.id == bindparam("id")),
            {"id": identity_id},
        ).fetchone()
        return None if row is None else _identity(row)

    def update_identity(self, identity: Identity) -> None:
        params = _identity_params(identity)
        self._run(
            "update_identity",
            lambda: (
                update(identities)
                .where(identities.c.id == bindparam("id"))
                .values({c.name: bindparam(c.name) for c in identities.c if c.name != "id"})
            ),
            params,
        )

    def delete_identity(self, identity_id: str) -> None:
        self._run(
            "delete_identity",
            lambda: delete(identities).where(identities.c.id == bindparam("id")),
            {"id": identity_id},
        )

    def owned_ids(self, customer_id: str) -> MergeMoves:
        def ids(name: str, table: Table) -> tuple[str, ...]:
            rows = self._run(
                f"owned_{name}",
                lambda: (
                    select(table.c.id)
                    .where(table.c.customer_id == bindparam("customer_id"))
                    .order_by(table.c.id)
                ),
                {"customer_id": customer_id},
            ).fetchall()
            return tuple(str(row[0]) for row in rows)

        return MergeMoves.trusted(
            identities=ids("identities", identities),
            interactions=ids("interactions", interactions),
            cases=ids("cases", cases),
        )

    def move(self, moves: MergeMoves, customer_id: str) -> None:
        # One UPDATE per chunk of ids rather than one per row: on PostgreSQL a merge of
        # 1,000 interactions took 72 ms row by row (one round trip each) and far less so.
        for name, table, ids in (
            ("identities", identities, moves.identities),
            ("interactions", interactions, moves.interactions),
            ("cases", cases, moves.cases),
        ):
            for start in range(0, len(ids), _MOVE_CHUNK):
                chunk = ids[start : start + _MOVE_CHUNK]
                params: dict[str, Any] = {f"i{n}": row_id for n, row_id in enumerate(chunk)}
                params["customer_id"] = customer_id
                self._run(f"move_{name}_{len(chunk)}", _mover(table, len(chunk)), params)

    def set_merged_into(self, customer_id: str, target: str | None) -> None:
        self._run(
            "set_merged_into",
            lambda: (
                update(customers)
                .where(customers.c.id == bindparam("id"))
                .values(merged_into=bindparam("target"))
            ),
            {"id": customer_id, "target": target},
        )

    def merged_into(self, customer_id: str) -> str | None:
        row = self._run(
            "merged_into",
            lambda: select(customers.c.merged_into).where(customers.c.id == bindparam("id")),
            {"id": customer_id},
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def merged_from(self, customer_id: str) -> list[str]:
        rows = self._run(
            "merged_from",
            lambda: (
                select(customers.c.id)
                .where(customers.c.merged_into == bindparam("id"))
                .order_by(customers.c.id)
            ),
            {"id": customer_id},
        ).fetchall()
        return [str(row[0]) for row in rows]

    def insert_merge(self, merge: Merge) -> None:
        self._run(
            "insert_merge",
            lambda: insert(merges).values(_all_params(merges)),
            {
                "id": merge.id,
                "keep_id": merge.keep_id,
                "other_id": merge.other_id,
                "at": to_micros(merge.at),
                "actor": merge.actor,
                "reason": merge.reason,
                "moved": merge.moved.model_dump_json(),
                "undone_at": None,
                "undone_by": None,
            },
        )

    def get_merge(self, merge_id: str) -> Merge | None:
        row = self._run(
            "get_merge",
            lambda: select(merges).where(merges.c.id == bindparam("id")),
            {"id": merge_id},
        ).fetchone()
        return None if row is None else _merge(row)

    def merges_of(self, customer_id: str) -> list[Merge]:
        rows = self._run(
            "merges_of",
            lambda: (
                select(merges)
                .where(
                    (merges.c.keep_id == bindparam("customer_id"))
                    | (merges.c.other_id == bindparam("customer_id"))
                )
                .order_by(merges.c.at, merges.c.id)
            ),
            {"customer_id": customer_id},
        ).fetchall()
        return [_merge(row) for row in rows]

    def set_merge_undone(self, merge_id: str, at: int, by: str | None) -> None:
        self._run(
            "set_merge_undone",
            lambda: (
                update(merges)
                .where(merges.c.id == bindparam("id"))
                .values(undone_at=bindparam("at"), undone_by=bindparam("by"))
            ),
            {"id": merge_id, "at": at, "by": by},
        )

    def insert_customer_event(self, event: CustomerEvent) -> None:
        self._run(
            "insert_customer_event",
            lambda: insert(customer_events).values(_all_params(customer_events)),
            {
                "id": event.id,
                "customer_id": event.customer_id,
                "at": to_micros(event.at),
                "type": event.type,
                "actor": event.actor,
                "reason": event.reason,
                "detail": None if event.detail is None else json.dumps(event.detail),
            },
        )

    def customer_events(self, customer_id: str) -> list[CustomerEvent]:
        rows = self._run(
            "customer_events",
            lambda: (
                select(customer_events)
                .where(customer_events.c.customer_id == bindparam("customer_id"))
                .order_by(customer_events.c.at, customer_events.c.id)
            ),
            {"customer_id": customer_id},
        ).fetchall()
        return [
            CustomerEvent.trusted(
                id=id_,
                customer_id=customer_id_,
                at=from_micros(at),
                type=type_,
                actor=actor,
                reason=reason,
                detail=_loads(detail),
            )
            for id_, customer_id_, at, type_, actor, reason, detail in rows
        ]

    def erase_customer(self, customer_id: str, at: int) -> None:
        params = {"customer_id": customer_id, "at": at, "empty": "{}"}
        self._run(
            "erase_customer",
            lambda: (
                update(customers)
                .where(customers.c.id == bindparam("customer_id"))
                .values(
                    name=null(),
                    language=null(),
                    attributes=bindparam("empty"),
                    erased_at=bindparam("at"),
                )
            ),
            params,
        )
        self._run(
            "erase_identities",
            lambda: delete(identities).where(identities.c.customer_id == bindparam("customer_id")),
            {"customer_id": customer_id},
        )
        self._run(
            "erase_interactions",
            lambda: (
                update(interactions)
                .where(interactions.c.customer_id == bindparam("customer_id"))
                .values(
                    text=null(),
                    subject=null(),
                    attachments=null(),
                    external_id=null(),
                    metadata=null(),
                    agent=null(),
                )
            ),
            {"customer_id": customer_id},
        )
        self._run(
            "erase_case_notes",
            lambda: (
                update(case_events)
                .where(
                    case_events.c.case_id.in_(
                        select(cases.c.id).where(cases.c.customer_id == bindparam("customer_id"))
                    )
                )
                .values(note=null())
            ),
            {"customer_id": customer_id},
        )
        self._run(
            "erase_preferences",
            lambda: delete(preferences).where(
                preferences.c.customer_id == bindparam("customer_id")
            ),
            {"customer_id": customer_id},
        )
        self._run(
            "erase_outbox",
            lambda: (
                update(outbox)
                .where(outbox.c.customer_id == bindparam("customer_id"))
                .values(
                    payload=bindparam("empty"),
                    external_id=null(),
                    status=case(
                        (outbox.c.status == bindparam("queued"), bindparam("cancelled")),
                        else_=outbox.c.status,
                    ),
                )
            ),
            {
                "customer_id": customer_id,
                "empty": "{}",
                "queued": OutboxStatus.QUEUED.value,
                "cancelled": OutboxStatus.CANCELLED.value,
            },
        )
        self._run(
            "erase_cases",
            lambda: (
                update(cases)
                .where(cases.c.customer_id == bindparam("customer_id"))
                .values(subject=bindparam("blank"))
            ),
            {"customer_id": customer_id, "blank": ""},
        )

    # outbound: preferences, consent, the outbox, subscriptions ----------------------------

    def get_preferences(self, customer_id: str) -> Preferences | None:
        row = self._run(
            "get_preferences",
            lambda: select(preferences.c.settings).where(
                preferences.c.customer_id == bindparam("id")
            ),
            {"id": customer_id},
        ).fetchone()
        return None if row is None else Preferences.model_validate_json(row[0])

    def put_preferences(self, prefs: Preferences, at: int) -> None:
        params = {
            "customer_id": prefs.customer_id,
            "settings": prefs.model_dump_json(),
            "updated_at": at,
        }
        cursor = self._run(
            "update_preferences",
            lambda: (
                update(preferences)
                .where(preferences.c.customer_id == bindparam("customer_id"))
                .values(settings=bindparam("settings"), updated_at=bindparam("updated_at"))
            ),
            params,
        )
        if cursor.rowcount != 1:
            self._run(
                "insert_preferences",
                lambda: insert(preferences).values(_all_params(preferences)),
                params,
            )

    def insert_consent(self, record: ConsentRecord) -> None:
        self._run(
            "insert_consent",
            lambda: insert(consents).values(_all_params(consents)),
            {
                "id": record.id,
                "customer_id": record.customer_id,
                "purpose": record.purpose,
                "channel": record.channel,
                "granted": record.granted,
                "at": to_micros(record.at),
                "source": record.source,
                "actor": record.actor,
                "note": record.note,
            },
        )

    def consents(self, customer_id: str, purpose: str | None) -> list[ConsentRecord]:
        def build() -> ClauseElement:
            where = consents.c.customer_id == bindparam("customer_id")
            if purpose is not None:
                where = where & (consents.c.purpose == bindparam("purpose"))
            return select(*consents.c).where(where).order_by(consents.c.at, consents.c.id)

        if purpose is None:
            name, params = "consents_all", {"customer_id": customer_id}
        else:
            name, params = "consents", {"customer_id": customer_id, "purpose": purpose}
        rows = self._run(name, build, params).fetchall()
        return [_consent(row) for row in rows]

    def insert_outbox(self, items: Sequence[OutboxItem]) -> None:
        for item in items:
            self._run(
                "insert_outbox",
                lambda: insert(outbox).values(_all_params(outbox)),
                _outbox_params(item),
            )

    def get_outbox(self, item_id: str) -> OutboxItem | None:
        row = self._run(
            "get_outbox",
            lambda: select(*_OUTBOX_COLUMNS).where(outbox.c.id == bindparam("id")),
            {"id": item_id},
        ).fetchone()
        return None if row is None else _outbox_item(row)

    def outbox_items(
        self, status: str | None, limit: int, kind: str | None = None
    ) -> list[OutboxItem]:
        conditions = []
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            conditions.append(outbox.c.status == bindparam("status"))
            params["status"] = status
        if kind is not None:
            conditions.append(outbox.c.kind == bindparam("kind"))
            params["kind"] = kind
        name = f"outbox_items_{status is not None}_{kind is not None}"
        rows = self._run(
            name,
            lambda: (
                select(*_OUTBOX_COLUMNS)
                .where(*conditions)
                .order_by(outbox.c.due_at, outbox.c.id)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            ),
            {**params, "offset": 0},
        ).fetchall()
        return [_outbox_item(row) for row in rows]

    def claim_outbox(self, now: int, lease_until: int, token: str, limit: int) -> list[OutboxItem]:
        def build() -> ClauseElement:
            due = (
                select(outbox.c.id)
                .where(
                    outbox.c.status == bindparam("queued"),
                    outbox.c.due_at <= bindparam("now"),
                    (outbox.c.lease_until.is_(None)) | (outbox.c.lease_until < bindparam("now")),
                )
                .order_by(outbox.c.due_at, outbox.c.id)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
                .with_for_update(skip_locked=True)
            )
            return (
                update(outbox)
                .where(outbox.c.id.in_(due.scalar_subquery()))
                .values(lease_until=bindparam("until"), claim_token=bindparam("token"))
                .returning(*_OUTBOX_COLUMNS)
            )

        rows = self._run(
            "claim_outbox",
            build,
            {
                "now": now,
                "limit": limit,
                "offset": 0,
                "until": lease_until,
                "token": token,
                "queued": OutboxStatus.QUEUED.value,
            },
        ).fetchall()
        items = [_outbox_item(row) for row in rows]
        items.sort(key=lambda item: (item.due_at, item.id))
        return items

    def update_outbox(self, item: OutboxItem, token: str | None) -> bool:
        params = _outbox_params(item)
        release = item.lease_until is None

        def build() -> ClauseElement:  # only on the first call of each of the four kinds
            values: dict[str, Any] = {name: bindparam(name) for name in _OUTBOX_CHANGING}
            if release:
                values["claim_token"] = null()
            condition = outbox.c.id == bindparam("id")
            if token is not None:
                condition = condition & (outbox.c.claim_token == bindparam("token"))
            return update(outbox).where(condition).values(values)

        sent = {k: params[k] for k in ("id", *_OUTBOX_CHANGING)}
        if token is not None:
            sent["token"] = token
        name = "update_outbox" if token is None else "update_outbox_claimed"
        cursor = self._run(name + ("_release" if release else ""), build, sent)
        return bool(cursor.rowcount == 1)

    def count_outbox(
        self, customer_id: str, purpose: str, since: int, channel: str, besides: str
    ) -> tuple[int, int]:
        def build() -> ClauseElement:
            one: ColumnElement[Any] = literal_column("1")
            others = case((outbox.c.notification_id != bindparam("besides"), one))
            on_channel = case((outbox.c.channel == bindparam("channel"), one))
            return select(func.count(others), func.count(on_channel)).where(*_live_since())

        params = {
            "customer_id": customer_id,
            "purpose": purpose,
            "since": since,
            "channel": channel,
            "besides": besides,
            **_LIVE,
        }
        row = self._run("count_outbox", build, params).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def count_notifications(self, customer_id: str, purpose: str, since: int, besides: str) -> int:
        def build() -> ClauseElement:
            others = outbox.c.notification_id != bindparam("besides")
            counted = func.count(outbox.c.notification_id.distinct())
            return select(counted).where(*_live_since(), others)

        params = {
            "customer_id": customer_id,
            "purpose": purpose,
            "since": since,
            "besides": besides,
            **_LIVE,
        }
        row = self._run("count_notifications", build, params).fetchone()
        return int(row[0]) if row else 0

    def outbox_for_interaction(self, interaction_id: str) -> OutboxItem | None:
        row = self._run(
            "outbox_for_interaction",
            lambda: select(*_OUTBOX_COLUMNS).where(
                outbox.c.interaction_id == bindparam("id"), outbox.c.kind == bindparam("kind")
            ),
            {"id": interaction_id, "kind": "message"},
        ).fetchone()
        return None if row is None else _outbox_item(row)

    def last_inbound(self, customer_id: str, channel: str) -> int | None:
        row = self._run(
            "last_inbound",
            lambda: (
                select(interactions.c.occurred_at)
                .where(
                    interactions.c.customer_id == bindparam("customer_id"),
                    interactions.c.channel == bindparam("channel"),
                    interactions.c.direction == bindparam("direction"),
                )
                .order_by(interactions.c.occurred_at.desc())
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            ),
            {
                "customer_id": customer_id,
                "channel": channel,
                "direction": Direction.INBOUND.value,
                "limit": 1,
                "offset": 0,
            },
        ).fetchone()
        return None if row is None else int(row[0])

    def insert_subscription(self, subscription: Subscription) -> None:
        self._run(
            "insert_subscription",
            lambda: insert(subscriptions).values(_all_params(subscriptions)),
            {
                "id": subscription.id,
                "url": subscription.url,
                "events": json.dumps(list(subscription.events)),
                "secret": subscription.secret,
                "created_at": to_micros(subscription.created_at),
            },
        )

    def subscriptions(self) -> list[Subscription]:
        rows = self._run(
            "subscriptions",
            lambda: select(*subscriptions.c).order_by(subscriptions.c.created_at),
            {},
        ).fetchall()
        return [
            Subscription.trusted(
                id=id_,
                url=url,
                events=tuple(json.loads(events)),
                secret=secret,
                created_at=from_micros(created_at),
            )
            for id_, url, events, secret, created_at in rows
        ]

    def delete_subscription(self, subscription_id: str) -> bool:
        cursor = self._run(
            "delete_subscription",
            lambda: delete(subscriptions).where(subscriptions.c.id == bindparam("id")),
            {"id": subscription_id},
        )
        return bool(cursor.rowcount == 1)

    def aggregate(
        self, name: str, sql: Callable[[str], str], params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        dialect = self._sql.dialect
        run: Run = (f"aggregate:{name}", lambda: text(sql(dialect)), params)
        if dialect != "postgresql":
            return list(self._run(*run).fetchall())
        # PostgreSQL's row estimates for these joins of grouped subqueries are far too
        # high, and compiling the plan with JIT then took longer than running it (1.0 s
        # of the 3.4 s case half of channel_performance at 1M interactions).
        _, cursor = self._run_together([("aggregate:no-jit", lambda: text(_NO_JIT), {}), run])
        return list(cursor.fetchall())

    def erased_at(self, customer_id: str) -> datetime | None:
        row = self._run(
            "erased_at",
            lambda: select(customers.c.erased_at).where(customers.c.id == bindparam("id")),
            {"id": customer_id},
        ).fetchone()
        return None if row is None or row[0] is None else from_micros(row[0])


# rows <-> models -------------------------------------------------------------------------

_CUSTOMER_COLUMNS = len(customers.c)
_IDENTITY_KINDS = {kind.value: kind for kind in IdentityKind}
"""``IdentityKind`` by value: a dictionary look-up costs less than the enum's call."""

_MERGED_INTO = list(customers.c.keys()).index("merged_into")


def _customer(rows: Sequence[Row]) -> Customer | None:
    """A customer from rows of customer columns followed by identity columns.

    Recognition reads a customer on every call, so the common cases are cheap: no
    attributes (``{}``, not parsed) and an instant equal to the one before it (a
    customer never updated, an identity seen once), which reuses that datetime.
    """
    if not rows:
        return None
    id_, name, language, attributes, created_at, updated_at, _merged, _erased = rows[0][
        :_CUSTOMER_COLUMNS
    ]
    created = from_micros(created_at)
    return Customer.trusted(
        id=id_,
        name=name,
        language=language,
        attributes={} if attributes == "{}" else json.loads(attributes),
        identities=tuple(
            _identity(row[_CUSTOMER_COLUMNS:]) for row in rows if row[_CUSTOMER_COLUMNS] is not None
        ),
        created_at=created,
        updated_at=created if updated_at == created_at else from_micros(updated_at),
    )


def _identity(row: Row) -> Identity:
    (
        id_,
        customer_id,
        kind,
        scope,
        value,
        raw,
        source,
        verified,
        first,
        last,
        reason,
        at,
        shared,
    ) = row
    first_seen = from_micros(first)
    return Identity.trusted(
        id=id_,
        customer_id=customer_id,
        kind=_IDENTITY_KINDS[kind],
        scope=scope or None,
        value=value,
        raw=raw,
        source=source,
        verified=bool(verified),
        first_seen_at=first_seen,
        last_seen_at=first_seen if last == first else from_micros(last),
        undeliverable_reason=reason,
        undeliverable_at=None if at is None else from_micros(at),
        shared=bool(shared),
    )


def _identity_params(identity: Identity) -> dict[str, Any]:
    return {
        "id": identity.id,
        "customer_id": identity.customer_id,
        "kind": identity.kind.value,
        "scope": identity.scope or "",
        "value": identity.value,
        "raw": identity.raw,
        "source": identity.source,
        "verified": identity.verified,
        "first_seen_at": to_micros(identity.first_seen_at),
        "last_seen_at": to_micros(identity.last_seen_at),
        "undeliverable_reason": identity.undeliverable_reason,
        "undeliverable_at": None
        if identity.undeliverable_at is None
        else to_micros(identity.undeliverable_at),
        "shared": identity.shared,
    }


def _merge(row: Row) -> Merge:
    id_, keep_id, other_id, at, actor, reason, moved, undone_at, undone_by = row
    return Merge.trusted(
        id=id_,
        keep_id=keep_id,
        other_id=other_id,
        at=from_micros(at),
        actor=actor,
        reason=reason,
        moved=MergeMoves.model_validate_json(moved),
        undone_at=None if undone_at is None else from_micros(undone_at),
        undone_by=undone_by,
    )


def _interaction_params(i: Interaction) -> dict[str, Any]:
    return {
        "id": i.id,
        "customer_id": i.customer_id,
        "channel": i.channel,
        "direction": i.direction.value,
        "kind": i.kind,
        "occurred_at": to_micros(i.occurred_at),
        "recorded_at": to_micros(i.recorded_at),
        "text": i.text,
        "subject": i.subject,
        "attachments": _dumps([a.model_dump() for a in i.attachments]),
        "external_id": i.external_id,
        "case_id": i.case_id,
        "agent": i.agent,
        "purpose": _dumps(list(i.purpose)),
        "status": None if i.status is None else i.status.value,
        "metadata": _dumps(i.metadata),
    }


def _interaction(row: Row) -> Interaction:
    (
        id_,
        customer_id,
        channel,
        direction,
        kind,
        occurred_at,
        recorded_at,
        text,
        subject,
        attachments,
        external_id,
        case_id,
        agent,
        purpose,
        status,
        metadata,
    ) = row
    return Interaction.trusted(
        id=id_,
        customer_id=customer_id,
        channel=channel,
        direction=Direction(direction),
        kind=kind,
        occurred_at=from_micros(occurred_at),
        recorded_at=from_micros(recorded_at),
        text=text,
        subject=subject,
        attachments=()
        if attachments is None
        else tuple(Attachment.trusted(**a) for a in json.loads(attachments)),
        external_id=external_id,
        case_id=case_id,
        agent=agent,
        purpose=() if purpose is None else tuple(json.loads(purpose)),
        status=None if status is None else DeliveryStatus(status),
        metadata={} if metadata is None else json.loads(metadata),
    )


_OUTBOX_COLUMNS = [c for c in outbox.c if c.name != "claim_token"]
_OUTBOX_CHANGING = (
    "status",
    "channel",
    "adapter",
    "payload",
    "fallback",
    "attempts",
    "parts_sent",
    "due_at",
    "lease_until",
    "updated_at",
    "sent_at",
    "external_id",
    "last_error",
)
"""The columns ``update_outbox`` writes."""
_LIVE = {"queued": OutboxStatus.QUEUED.value, "sent": OutboxStatus.SENT.value}
"""The statuses of outbox items that count against frequency caps."""


def _live_since() -> list[ColumnElement[bool]]:
    """The customer's live messages for a purpose after ``since``: what caps count,
    all of it in the outbox's covering caps index."""
    return [
        outbox.c.customer_id == bindparam("customer_id"),
        outbox.c.purpose == bindparam("purpose"),
        outbox.c.created_at > bindparam("since"),
        outbox.c.status.in_([bindparam("queued"), bindparam("sent")]),
    ]


def _outbox_params(item: OutboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "status": item.status.value,
        "channel": item.channel,
        "adapter": item.adapter,
        "customer_id": item.customer_id,
        "interaction_id": item.interaction_id,
        "notification_id": item.notification_id,
        "purpose": item.purpose,
        "payload": json.dumps(item.payload, ensure_ascii=False, separators=(",", ":")),
        "fallback": json.dumps(list(item.fallback)),
        "attempts": item.attempts,
        "parts_sent": item.parts_sent,
        "due_at": to_micros(item.due_at),
        "lease_until": None if item.lease_until is None else to_micros(item.lease_until),
        "claim_token": None,
        "created_at": to_micros(item.created_at),
        "updated_at": to_micros(item.updated_at),
        "sent_at": None if item.sent_at is None else to_micros(item.sent_at),
        "external_id": item.external_id,
        "last_error": item.last_error,
    }


def _outbox_item(row: Row) -> OutboxItem:
    (
        id_,
        kind,
        status,
        channel,
        adapter,
        customer_id,
        interaction_id,
        notification_id,
        purpose,
        payload,
        fallback,
        attempts,
        parts_sent,
        due_at,
        lease_until,
        created_at,
        updated_at,
        sent_at,
        external_id,
        last_error,
    ) = row
    return OutboxItem.trusted(
        id=id_,
        kind=kind,
        status=OutboxStatus(status),
        channel=channel,
        adapter=adapter,
        customer_id=customer_id,
        interaction_id=interaction_id,
        notification_id=notification_id,
        purpose=purpose,
        payload=json.loads(payload),
        fallback=tuple(json.loads(fallback)),
        attempts=attempts,
        parts_sent=parts_sent,
        due_at=from_micros(due_at),
        lease_until=None if lease_until is None else from_micros(lease_until),
        created_at=from_micros(created_at),
        updated_at=from_micros(updated_at),
        sent_at=None if sent_at is None else from_micros(sent_at),
        external_id=external_id,
        last_error=last_error,
    )


def _consent(row: Row) -> ConsentRecord:
    id_, customer_id, purpose, channel, granted, at, source, actor, note = row
    return ConsentRecord.trusted(
        id=id_,
        customer_id=customer_id,
        purpose=purpose,
        channel=channel,
        granted=bool(granted),
        at=from_micros(at),
        source=source,
        actor=actor,
        note=note,
    )


def _work(row: Row) -> Work:
    id_, agent_id, channel, case_id, interaction_id, started_at = row
    return Work.trusted(
        id=id_,
        agent_id=agent_id,
        channel=channel,
        case_id=case_id,
        interaction_id=interaction_id,
        started_at=from_micros(started_at),
    )


def _queue_entry(row: Row) -> QueueEntry:
    id_, queue_id, channel, case_id, interaction_id, rank, enqueued_at = row
    return QueueEntry.trusted(
        id=id_,
        queue_id=queue_id,
        channel=channel,
        case_id=case_id,
        interaction_id=interaction_id,
        rank=int(rank),
        enqueued_at=from_micros(enqueued_at),
    )


def _channel_summary(rows: Sequence[Row]) -> list[ChannelSummary]:
    return [
        ChannelSummary.trusted(channel=channel, count=int(count), last_contact=from_micros(last_at))
        for channel, count, last_at in rows
    ]


def _case_params(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "customer_id": case.customer_id,
        "subject": case.subject,
        "status": case.status.value,
        "priority": case.priority.value,
        "assignee": case.assignee,
        "queue": case.queue,
        "created_at": to_micros(case.created_at),
        "updated_at": to_micros(case.updated_at),
        "version": case.version,
        "channel": case.channel,
        "purpose": _dumps(list(case.purpose)),
        "follows": case.follows,
        "resolved_at": None if case.resolved_at is None else to_micros(case.resolved_at),
        "sla": None if case.sla is None else json.dumps(case.sla.model_dump(mode="json")),
        "sla_due": _sla_due(case),
    }


def _sla_due(case: Case) -> int | None:
    if case.sla is None or not case.status.is_open:
        return None
    due = case.sla.next_due
    return None if due is None else to_micros(due)


def _case(row: Row) -> Case:
    (
        id_,
        customer_id,
        subject,
        status,
        priority,
        assignee,
        queue,
        created,
        updated,
        version,
        channel,
        purpose,
        follows,
        resolved_at,
        sla,
        _sla_due,
    ) = row
    return Case.trusted(
        id=id_,
        customer_id=customer_id,
        subject=subject,
        status=CaseStatus(status),
        priority=Priority(priority),
        assignee=assignee,
        queue=queue,
        created_at=from_micros(created),
        updated_at=from_micros(updated),
        version=int(version),
        channel=channel,
        purpose=tuple(json.loads(purpose)) if purpose else (),
        follows=follows,
        resolved_at=None if resolved_at is None else from_micros(resolved_at),
        sla=None if sla is None else CaseSla.model_validate_json(sla),
    )


# the store ---------------------------------------------------------------------------------


class SqlStore:
    """A store on an SQLAlchemy engine; ``backend`` supplies the dialect's differences.

    ``serialize=True`` makes transactions take a lock first: for a store whose pool
    hands every thread the same connection (SQLite in memory). ``per_thread=True``
    keeps one connection per thread for the store's life instead of checking one out
    of the pool for every transaction: for SQLite, whose connections cost nothing on
    the server side, it saves the pool's 10 µs on every call. ``write_lock`` is taken
    around every write transaction: for SQLite, whose writers are serialised anyway,
    threads of one process then queue on the lock and are woken as soon as it is free,
    instead of polling the database lock with SQLite's growing sleeps. ``after_write``
    is called after each committed write transaction, ``on_close`` by ``close``.
    """

    def __init__(
        self,
        engine: Engine,
        backend: Backend,
        *,
        url: str,
        serialize: bool = False,
        per_thread: bool = False,
        write_lock: threading.RLock | None = None,
        after_write: Callable[[], None] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self._writer = write_lock
        self._after_write = after_write
        self._on_close = on_close
        self._engine = engine
        self._backend = backend
        self._statements = _Statements(engine, backend)
        self._dbapi: Any = engine.dialect.dbapi
        self._lock: AbstractContextManager[Any] = threading.RLock() if serialize else nullcontext()
        self._local = threading.local() if per_thread else None
        self._held: list[Any] = []
        self._held_lock = threading.Lock()

    def _checkout(self) -> Any:
        if self._local is None:
            return self._engine.raw_connection()
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._engine.raw_connection()
            self._local.connection = connection
            with self._held_lock:
                self._held.append(connection)
        return connection

    def _release(self, connection: Any, *, broken: bool) -> None:
        if self._local is None:
            if broken:
                connection.invalidate()  # closed and dropped: the pool opens a new one
            else:
                connection.close()
        elif broken:
            self._local.connection = None
            with self._held_lock:
                self._held.remove(connection)
            connection.close()

    def _discard(self, connection: Any, error: BaseException) -> None:
        """Drop a connection found gone, and with it every pooled connection opened
        before it: a server restart has ended them all."""
        if self._local is None:
            self._engine.pool._invalidate(connection, error)
        else:
            self._release(connection, broken=True)

    def transaction(self, *, write: bool = False) -> AbstractContextManager[StoreTransaction]:
        return _Transaction(self, write)

    def _translate(self, error: BaseException) -> BaseException:
        """The omnikit error for a driver error; other errors pass unchanged."""
        dbapi = self._dbapi
        if isinstance(error, dbapi.IntegrityError):
            if self._backend.is_unique_violation(error):
                return DuplicateKeyError(f"a unique key of the store was broken: {error}")
            return MissingRowError(f"the store {self.url} refused a write: {error}")
        if isinstance(error, dbapi.Error):
            log.warning("store error on %s: %s", self.url, type(error).__name__)
            return StoreError(f"the store {self.url} failed: {error}")
        return error

    def purge(self) -> None:
        self._backend.purge(self._engine)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
        with self._held_lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()
        self._engine.dispose()


class _Transaction:
    """One store transaction: commit on success, roll back and translate on error.

    A class rather than a generator-based context manager: it runs on every call,
    and saves the generator's few microseconds each time.
    """

    __slots__ = ("_connection", "_cursor", "_store", "_write", "_writer")

    def __init__(self, store: SqlStore, write: bool) -> None:
        self._store = store
        self._write = write
        self._writer = store._writer if write else None

    def __enter__(self) -> SqlTransaction:
        store = self._store
        store._lock.__enter__()
        if self._writer is not None:
            self._writer.acquire()
        try:
            self._connection = store._checkout()
        except Exception as error:  # the pool wraps driver errors in its own
            if self._writer is not None:
                self._writer.release()
            store._lock.__exit__(None, None, None)
            raise StoreError(f"cannot connect to the store {store.url}: {error}") from None
        try:
            begin = self._begin()
        except BaseException as error:
            _reraise(error, self._finish(error))
        return SqlTransaction(self._cursor, store._statements, self, begin)

    def _begin(self) -> str | None:
        self._cursor = self._connection.cursor()
        return self._store._backend.begin(self._cursor, write=self._write)

    @property
    def cursor(self) -> Cursor:
        return self._cursor

    def reconnect(self, error: Exception) -> bool:
        """Replace the connection when ``error`` says it is gone; False otherwise.

        Raises ``StoreError`` when no new connection can be made.
        """
        store = self._store
        if not store._backend.is_disconnect(error, self._cursor):
            return False
        log.warning("connection to %s lost (%s); reconnecting", store.url, type(error).__name__)
        store._discard(self._connection, error)
        self._connection = self._cursor = None
        try:
            self._connection = store._checkout()
        except Exception as connect_error:
            raise StoreError(f"cannot connect to the store {store.url}: {connect_error}") from None
        self._begin()  # the same statement begins the transaction on the new connection
        return True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None:
            try:
                self._connection.commit()
            except BaseException as error:
                _reraise(error, self._finish(error))
            self._finish(None)
            if self._write and self._store._after_write is not None:
                self._store._after_write()
        else:
            _reraise(exc, self._finish(exc))

    def _finish(self, error: BaseException | None) -> BaseException | None:
        """Roll back on ``error``, release the connection; return the error to raise."""
        store = self._store
        connection = self._connection
        broken = False
        try:
            if connection is not None and error is not None:
                _rollback(connection)
                dbapi = store._dbapi
                broken = isinstance(error, dbapi.Error) and not isinstance(
                    error, dbapi.IntegrityError
                )
            cursor = getattr(self, "_cursor", None)
            if cursor is not None:
                try:
                    cursor.close()
                except Exception:  # a broken connection's cursor may not close
                    broken = True
        finally:
            if connection is not None:  # None: lost, and no new one could be made
                store._release(connection, broken=broken)
            if self._writer is not None:
                self._writer.release()
            store._lock.__exit__(None, None, None)
        return None if error is None else store._translate(error)


def _reraise(original: BaseException, translated: BaseException | None) -> NoReturn:
    if translated is None or translated is original:
        raise original
    raise translated from None


def _rollback(connection: Any) -> None:
    try:
        connection.rollback()
    except Exception:  # the connection may already be gone; the pool discards it
        log.debug("rollback failed", exc_info=True)
