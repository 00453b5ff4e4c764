"""SQLite, the embedded default: one file, many readers, one writer at a time.

Each connection runs in WAL mode with ``synchronous=NORMAL`` (a committed transaction
survives the process being killed; only an operating-system crash can lose the last
few), foreign keys on, and a busy timeout so that writers in other processes queue
rather than fail. Write transactions begin with ``BEGIN IMMEDIATE``, taking the write
lock up front: a read that later wants to write can then never deadlock with another
writer, and find-or-create is race-free across processes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.sql.dml import Insert

from omnikit.errors import StoreError, ValidationError
from omnikit.store.migrate import upgrade
from omnikit.store.sql import Cursor, SqlStore, pool_options

log = logging.getLogger("omnikit.store")

__all__ = ["BUSY_TIMEOUT_MS", "CHECKPOINT_EVERY", "Checkpointer", "SqliteBackend", "open_sqlite"]

BUSY_TIMEOUT_MS = 30_000
"""How long a writer waits for another process's write lock before failing."""


class SqliteBackend:
    """The SQLite specifics of the SQL store."""

    name = "sqlite"

    def begin(self, cursor: Cursor, *, write: bool) -> None:
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def together(self, cursor: Cursor) -> AbstractContextManager[object]:
        return nullcontext()  # a statement is a function call: nothing to save

    def is_disconnect(self, error: BaseException, cursor: Cursor) -> bool:
        return False  # no server to lose

    def is_unique_violation(self, error: Exception) -> bool:
        return str(error).startswith("UNIQUE constraint failed")

    def purge(self, engine: Engine) -> None:
        # Old page images live on in the write-ahead log until it is checkpointed.
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            connection.close()

    def insert_ignoring(self, table: Table, *unique: str) -> Insert:
        return sqlite_insert(table).on_conflict_do_nothing(
            index_elements=[table.c[name] for name in unique]
        )


def _configure(
    connection: sqlite3.Connection, *, memory: bool, autocheckpoint: bool = True
) -> None:
    # Autocommit at the driver level: the store issues BEGIN and COMMIT itself.
    connection.isolation_level = None
    cursor = connection.cursor()
    if not memory:
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted content is overwritten with zeros, so that an erased customer's data
    # cannot be read back from the file's free pages.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if not autocheckpoint:
        # The store's checkpointer thread copies the log into the file instead, so
        # that no caller's commit waits for a checkpoint's writes and fsync.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def create_sqlite_engine(url: str, **pool: Any) -> Engine:
    """An SQLAlchemy engine for ``url`` with omnikit's connection settings.

    The store keeps one connection per thread (a file) or exactly one (in memory), so
    pool settings (``pool_size`` …) do not apply and are refused.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValidationError(f"{url!r} is not a valid sqlite URL") from None
    if parsed.get_backend_name() != "sqlite" or parsed.get_driver_name() not in ("pysqlite", ""):
        raise ValidationError(f"{url!r} is not a sqlite URL omnikit can open (use sqlite:///)")
    memory = parsed.database in (None, "", ":memory:")
    parsed, pooling = pool_options(parsed, pool)
    if pooling:
        raise ValidationError(
            f"pool settings ({', '.join(sorted(pooling))}) apply to PostgreSQL only; "
            "SQLite keeps one connection per thread"
        )
    options: dict[str, Any] = {
        "paramstyle": "named",
        "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    }
    # One connection for the kit's life when in memory (the database lives in it);
    # for a file the store holds one connection per thread, opened on first use.
    options["poolclass"] = StaticPool if memory else NullPool
    engine = create_engine(parsed, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        _configure(dbapi_connection, memory=memory, autocheckpoint=memory)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLAlchemy-level transactions are only used for migrations: take the lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def open_sqlite(url: str, **pool: Any) -> SqlStore:
    """Open the SQLite store at ``url``, creating or upgrading its schema."""
    engine = create_sqlite_engine(url, **pool)
    masked = url
    try:
        upgrade(engine)
    except sqlite3.Error as error:
        engine.dispose()
        raise StoreError(f"cannot open the store {masked}: {error}") from None
    except BaseException:
        engine.dispose()
        raise
    memory = engine.url.database in (None, "", ":memory:")
    if memory:
        return SqlStore(engine, SqliteBackend(), url=masked, serialize=True, per_thread=True)
    database = str(engine.url.database)
    checkpointer = Checkpointer(database)
    store = SqlStore(
        engine,
        SqliteBackend(),
        url=masked,
        per_thread=True,
        write_lock=_write_lock(database),
        after_write=checkpointer.wrote,
        on_close=checkpointer.close,
    )
    weakref.finalize(store, checkpointer.close)  # a kit dropped without close()
    return store


CHECKPOINT_EVERY = 100
"""Write transactions between two checkpoints (and at least one a second while writing)."""


class Checkpointer:
    """Copies the write-ahead log into the database file, in a thread of its own.

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 log pages,
    so one caller in a few hundred waits for the copy and its fsync (milliseconds).
    The store's connections turn it off; this thread runs a PASSIVE checkpoint (one
    that never blocks readers or writers) after every ``CHECKPOINT_EVERY`` write
    transactions and once a second while writes come in.
    """

    def __init__(self, database: str) -> None:
        self._database = database
        self._wake = threading.Event()
        self._writes = 0
        self._dirty = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="omnikit-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def wrote(self) -> None:
        """Count one committed write transaction."""
        # Unlocked: threads racing here only make the count approximate.
        self._dirty = True
        self._writes += 1
        if self._writes >= CHECKPOINT_EVERY:
            self._writes = 0
            self._wake.set()

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint on ``connection``; a busy database is tried later."""
        self._dirty = False
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.debug("checkpoint of %s postponed: %s", self._database, error)
            self._dirty = True

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(
                self._database, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:  # pragma: no cover - the store opened the file
            log.warning("checkpointer cannot open %s: %s", self._database, error)
            return
        try:
            while not self._closed:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                if self._dirty and not self._closed:
                    self.checkpoint(connection)
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the thread; the last connection to close checkpoints what is left."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(database: str) -> threading.RLock:
    """The lock every store of this process on ``database`` takes around its writes."""
    key = os.path.realpath(database)
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock
