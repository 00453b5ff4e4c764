"""PostgreSQL, for many processes on many machines (extra ``omnikit[postgres]``).

psycopg 3 through SQLAlchemy 2; this is the only module that imports psycopg.
Write transactions run at READ COMMITTED. Idempotent inserts use ``ON CONFLICT DO
NOTHING``: a second writer of the same key waits for the first to commit and then
finds its row. Find-or-create relies on the unique key and the facade's retry, never
on a lock around Python code. Read transactions run at REPEATABLE READ, READ ONLY: all
their statements see one snapshot (a card's parts agree with each other), and a read
transaction can never fail on a concurrent write. Schema upgrades take a
transaction-level advisory lock, so that several processes opening a new database at
once migrate it once.

Round trips are the cost on PostgreSQL, so the store saves them where that was
measured to help: a read transaction's ``BEGIN`` goes to the server with its first
statement, and independent reads go together (psycopg's pipeline mode; for reads the
driver connection is in autocommit mode, so that psycopg sends no ``BEGIN`` of its
own). Write transactions let psycopg send ``BEGIN``.

Pool settings come from keyword arguments or from the URL's query
(``?pool_size=10&max_overflow=5&pool_timeout=10``); they are taken out of the URL
before it reaches libpq. Connections are not checked before use (that would cost a
round trip per call); instead a connection found gone at a transaction's first round
trip — after a server restart, say — is replaced and that round trip sent again,
once. A connection lost later in a transaction fails the call: nothing is re-run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.sql.dml import Insert

from omnikit.errors import StoreError, ValidationError
from omnikit.store.migrate import upgrade
from omnikit.store.sql import Cursor, SqlStore, pool_options

try:
    import psycopg
except ImportError:  # pragma: no cover - exercised without the extra only
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresBackend", "create_postgres_engine", "open_postgres"]

_MIGRATION_LOCK = 0x6F6D6E696B6974  # "omnikit"
_CONNECT_TIMEOUT_S = 10
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class PostgresBackend:
    """The PostgreSQL specifics of the SQL store."""

    name = "postgresql"

    def begin(self, cursor: Cursor, *, write: bool) -> str | None:
        connection = cursor.connection
        if write:
            # psycopg's own BEGIN, a round trip of its own: measured, sending it in a
            # pipeline with the first statement saved no time on a write and cost more
            # client CPU (on a card it saves about 0.1 ms).
            if connection.autocommit:
                connection.autocommit = False
            if connection.isolation_level is None:
                connection.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
            return None
        if not connection.autocommit:  # the store sends BEGIN itself, with the first read
            connection.autocommit = True
        return _BEGIN_READ

    def together(self, cursor: Cursor) -> AbstractContextManager[object]:
        return cursor.connection.pipeline()  # type: ignore[no-any-return]

    def is_disconnect(self, error: BaseException, cursor: Cursor) -> bool:
        connection = cursor.connection
        return isinstance(error, psycopg.Error) and bool(connection.closed or connection.broken)

    def is_unique_violation(self, error: Exception) -> bool:
        return getattr(error, "sqlstate", None) == "23505"  # unique_violation

    def purge(self, engine: Engine) -> None:
        # Dead row versions are removed by (auto)vacuum; nothing to force here.
        return None

    def insert_ignoring(self, table: Table, *unique: str) -> Insert:
        return pg_insert(table).on_conflict_do_nothing(
            index_elements=[table.c[name] for name in unique]
        )


def create_postgres_engine(url: str, **pool: Any) -> Engine:
    """An SQLAlchemy engine on psycopg 3 for ``url``, with omnikit's settings."""
    if psycopg is None:
        raise StoreError("PostgreSQL needs the 'postgres' extra: pip install 'omnikit[postgres]'")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValidationError(f"{url!r} is not a valid postgresql URL") from None
    if parsed.drivername == "postgres":  # the scheme many hosting providers hand out
        parsed = parsed.set(drivername="postgresql")
    if parsed.drivername not in (
        "postgresql",
        "postgresql+psycopg",
    ):
        raise ValidationError(
            f"{parsed.drivername!r} is not a PostgreSQL URL omnikit can open; "
            "use postgresql:// or postgresql+psycopg://"
        )
    parsed, options = pool_options(parsed.set(drivername="postgresql+psycopg"), pool)
    engine = create_engine(
        parsed,
        connect_args={"connect_timeout": _CONNECT_TIMEOUT_S},
        **options,
    )

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLAlchemy-level transactions are only used for migrations: serialise them.
        # psycopg must open the transaction (the store's transactions leave its
        # connections in autocommit mode).
        connection.connection.driver_connection.autocommit = False
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    return engine


def open_postgres(url: str, **pool: Any) -> SqlStore:
    """Open the PostgreSQL store at ``url``, creating or upgrading its schema."""
    engine = create_postgres_engine(url, **pool)
    masked = engine.url.render_as_string(hide_password=True)
    try:
        upgrade(engine)
    except SQLAlchemyError as error:
        engine.dispose()
        raise StoreError(f"cannot open the store {masked}: {error}") from None
    except BaseException:
        engine.dispose()
        raise
    return SqlStore(engine, PostgresBackend(), url=masked)
