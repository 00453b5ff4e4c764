"""PostgreSQL helpers for the benchmarks: the ``--pg-url`` option, the cached store and
raw ``psycopg`` connections.

The PostgreSQL store of a size is built once and kept in the database: the schema is
created by ``Omnikit(url)`` (which runs omnikit's migrations), then every table of the
cached SQLite store of the same size that holds rows (``benchmarks/out/store-c…-i….db``,
built through omnikit's public API, see ``_common.py``: customers, identities,
interactions and whatever the build wrote besides, such as the customer audit trail)
is copied row for row with ``COPY … FROM STDIN`` (psycopg's ``cursor.copy``), and the
database is vacuumed and analysed. The same rows, so the SQLite and PostgreSQL figures
read the same data. The build is skipped when the database already holds the expected
counts and was copied from the current build of the SQLite store; the write benchmarks
delete the rows they added (anything whose external id does not start with ``build-``)
when they finish and again before they start, so a crashed run does not force a
rebuild.

The full size lives in the database of ``--pg-url`` (default: the environment variable
``OMNIKIT_BENCH_POSTGRES_URL``, else ``postgresql://omnikit:omnikit@127.0.0.1/omnikit_bench``);
any other size in a database of its own next to it, ``<database>_c<customers>_i<interactions>``,
created on first use, so that a ``--quick`` run does not evict the full-size store.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
from _common import (
    FULL_CUSTOMERS,
    FULL_INTERACTIONS,
    INTERACTION_COLUMNS,
    OUT,
    _git_revision,
    ensure_store,
    percentile,
    say,
    store_path,
)
from psycopg import sql
from sqlalchemy.engine import make_url

from omnikit import Omnikit

DEFAULT_PG_URL = "postgresql://omnikit:omnikit@127.0.0.1/omnikit_bench"
COUNTED = ("customers", "identities", "interactions")
"""The tables whose counts say whether the cached store is complete."""
COPY_ORDER = ("customers", "identities", "cases", "interactions", "case_events")
"""Tables copied first, in this order (referenced before referencing); any other
omnikit table of the SQLite store follows."""

PG_RAW_INSERT = (
    f"INSERT INTO interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in INTERACTION_COLUMNS[:11])}, NULL, NULL, NULL, NULL, NULL)"
)
"""``_common.RAW_INSERT`` for psycopg: the raw baselines' insert, no conflict clause."""

PG_RECENT = (
    "SELECT * FROM interactions WHERE customer_id = %s ORDER BY occurred_at DESC, id DESC LIMIT 20"
)


def default_pg_url() -> str:
    return os.environ.get("OMNIKIT_BENCH_POSTGRES_URL") or DEFAULT_PG_URL


def add_pg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pg-url",
        default=default_pg_url(),
        help="PostgreSQL database for the benchmark stores (default: $OMNIKIT_BENCH_POSTGRES_URL "
        f"or {DEFAULT_PG_URL})",
    )


def masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def libpq_url(url: str) -> str:
    """``url`` as libpq takes it (no ``+psycopg`` driver suffix)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def unreachable(url: str) -> str | None:
    """Why the server of ``url`` cannot be used, or ``None`` when it answers."""
    try:
        with psycopg.connect(_maintenance_url(url), connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    return None


def _maintenance_url(url: str) -> str:
    """The server's ``postgres`` database, for creating benchmark databases."""
    return make_url(libpq_url(url)).set(database="postgres").render_as_string(hide_password=False)


def size_url(url: str, customers: int, interactions: int) -> str:
    """The database holding the store of this size: ``url`` itself for the full size,
    ``<database>_c<customers>_i<interactions>`` next to it otherwise (created if missing)."""
    if (customers, interactions) == (FULL_CUSTOMERS, FULL_INTERACTIONS):
        return url
    parsed = make_url(url)
    name = f"{parsed.database}_c{customers}_i{interactions}"
    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


def raw_pg_connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A plain psycopg 3 connection to ``url`` (default settings, no pool)."""
    return psycopg.connect(libpq_url(url), autocommit=autocommit)


def server_info(url: str) -> dict[str, Any]:
    """The server version, the settings that matter for these figures and the round
    trip of ``SELECT 1`` (p50/p99 over 1,000), which varies on a shared machine."""
    names = ("shared_buffers", "synchronous_commit", "fsync", "wal_sync_method", "max_connections")
    with raw_pg_connect(url, autocommit=True) as connection:
        info: dict[str, Any] = {
            "version": connection.execute("SHOW server_version").fetchone()[0],  # type: ignore[index]
            "psycopg": psycopg.__version__,
            "libpq": psycopg.pq.version(),
            "url": masked(url),
        }
        samples = []
        for _ in range(1_100):
            start = time.perf_counter_ns()
            connection.execute("SELECT 1").fetchall()
            samples.append(time.perf_counter_ns() - start)
        info["select1_p50_us"] = round(percentile(samples[100:], 50) / 1000, 1)
        info["select1_p99_us"] = round(percentile(samples[100:], 99) / 1000, 1)
        for name in names:
            info[name] = connection.execute(
                sql.SQL("SHOW {}").format(sql.Identifier(name))
            ).fetchone()[0]  # type: ignore[index]
    return info


def warm_pg_store(url: str) -> float:
    """Read every page of the tables and indexes a card reads, so that the store sits in
    the page cache (this machine pages out file pages left idle for a minute); return
    the seconds it took. Reads only."""
    started = time.perf_counter()
    with raw_pg_connect(url, autocommit=True) as connection:
        for table in ("customers", "identities", "interactions", "cases"):
            connection.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        connection.execute("SET enable_seqscan = off")
        connection.execute("SET enable_bitmapscan = off")
        for query in (
            "SELECT count(*) FROM customers WHERE id > ''",
            "SELECT count(*) FROM identities WHERE customer_id > ''",
            "SELECT count(*) FROM interactions WHERE customer_id > '' AND channel > ''",
            "SELECT count(*) FROM interactions WHERE customer_id > '' AND occurred_at > 0",
        ):
            connection.execute(query)
    return time.perf_counter() - started


def pg_store_info_path(customers: int, interactions: int) -> Path:
    return OUT / f"pgstore-c{customers}-i{interactions}.json"


def ensure_pg_store(url: str, customers: int, interactions: int) -> tuple[str, dict[str, Any]]:
    """The URL of the PostgreSQL store of this size, built first when the database does
    not hold the expected counts or was copied from another build of the SQLite store;
    and how it was built."""
    url = size_url(url, customers, interactions)
    info_path = pg_store_info_path(customers, interactions)
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    source_info = store_path(customers, interactions).with_suffix(".json")
    current_source = json.loads(source_info.read_text()) if source_info.exists() else None
    counts = reset_pg_store(url)
    same_source = current_source is None or info.get("source_build") == current_source
    if counts == (customers, customers, interactions) and same_source:
        say(
            f"store: PostgreSQL {masked(url)} (cached; {customers:,} customers, "
            f"{interactions:,} interactions; copied in {info.get('total_s', '?')} s)"
        )
        return url, info
    why = f"found customers/identities/interactions {counts}"
    if not same_source:
        why = "the SQLite store was rebuilt since the last copy"
    say(f"store: building the PostgreSQL store in {masked(url)} ({why}) …")
    source = ensure_store(customers, interactions)
    info = _build(url, source)
    info["source_build"] = json.loads(source.with_suffix(".json").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return url, info


def reset_pg_store(url: str) -> tuple[int, int, int] | None:
    """Delete what benchmarks wrote into the store of ``url`` (interactions whose external
    id does not start with ``build-``) and return its (customers, identities,
    interactions) counts; ``None`` when it has no omnikit schema."""
    with raw_pg_connect(url, autocommit=True) as connection:
        exists = connection.execute("SELECT to_regclass('interactions')").fetchone()
        if exists is None or exists[0] is None:
            return None
        deleted = connection.execute(
            "DELETE FROM interactions WHERE external_id IS NULL OR external_id NOT LIKE 'build-%'"
        ).rowcount
        if deleted:
            say(f"store: deleted {deleted:,} interactions written by benchmarks; vacuuming")
            connection.execute("VACUUM (ANALYZE) interactions")
        counts = [
            int(
                connection.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))
                ).fetchone()[0]
            )  # type: ignore[index]
            for t in COUNTED
        ]
    return counts[0], counts[1], counts[2]


def _tables_to_copy(connection: sqlite3.Connection) -> list[str]:
    """The SQLite store's tables with rows, but the schema version, in a safe order."""
    names = [
        str(row[0])
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'omnikit_version'"
        )
    ]
    ordered = [n for n in COPY_ORDER if n in names] + sorted(set(names) - set(COPY_ORDER))
    return [n for n in ordered if connection.execute(f"SELECT 1 FROM {n} LIMIT 1").fetchone()]


def _boolean_columns(connection: psycopg.Connection[Any], table: str) -> list[str]:
    """The columns PostgreSQL keeps as boolean (SQLite as 0/1)."""
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND data_type = 'boolean'",
        (table,),
    )
    return [str(row[0]) for row in rows]


def _build(url: str, source: Path) -> dict[str, Any]:
    started = time.perf_counter()
    with raw_pg_connect(url, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:  # the benchmark's own database: every table in it goes
            connection.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table))
            )
    t0 = time.perf_counter()
    Omnikit(url).close()  # creates the schema through omnikit's migrations
    schema_s = time.perf_counter() - t0
    copied: dict[str, dict[str, float]] = {}
    sqlite_connection = sqlite3.connect(source)
    try:
        with raw_pg_connect(url) as connection:
            connection.execute("SET synchronous_commit TO off")
            for table in _tables_to_copy(sqlite_connection):
                t0 = time.perf_counter()
                columns = [
                    row[1] for row in sqlite_connection.execute(f"PRAGMA table_info({table})")
                ]
                booleans = [columns.index(c) for c in _boolean_columns(connection, table)]
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
                rows = 0
                cursor = connection.cursor()
                with cursor.copy(copy_sql) as copy:
                    query = sqlite_connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
                    for row in query:
                        if booleans:
                            row = list(row)
                            for i in booleans:
                                row[i] = bool(row[i])
                        copy.write_row(row)
                        rows += 1
                connection.commit()
                seconds = time.perf_counter() - t0
                copied[table] = {"rows": rows, "seconds": round(seconds, 2)}
                rate = rows / seconds
                say(f"  {table}: {rows:,} rows copied in {seconds:.1f} s ({rate:,.0f} rows/s)")
    finally:
        sqlite_connection.close()
    t0 = time.perf_counter()
    with raw_pg_connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        size = connection.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()[0]  # type: ignore[index]
        revision = connection.execute("SELECT version_num FROM omnikit_version").fetchone()[0]  # type: ignore[index]
    analyze_s = time.perf_counter() - t0
    total_s = time.perf_counter() - started
    say(f"  VACUUM (ANALYZE) in {analyze_s:.1f} s; {total_s:.1f} s in all; database {size}")
    return {
        "method": (
            "schema by Omnikit(url) (omnikit's migrations); every table with rows "
            f"({', '.join(copied)}) copied row for row from {source.name} with psycopg "
            "COPY FROM STDIN (cursor.copy, write_row) into the indexed tables; then "
            "VACUUM (ANALYZE)"
        ),
        "source": source.name,
        "schema_s": round(schema_s, 2),
        "copied": copied,
        "vacuum_analyze_s": round(analyze_s, 2),
        "total_s": round(total_s, 2),
        "database_size": size,
        "schema_revision": revision,
        "omnikit": _git_revision(),
        "load_at_end": round(os.getloadavg()[0], 2),
    }
