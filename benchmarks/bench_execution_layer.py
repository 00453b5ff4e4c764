"""SQLAlchemy's execution layer against the DB-API cursor: one insert and commit per row.

Backs (or corrects) the claim in ``store/sql.py`` and ``docs/architecture.md`` that
SQLAlchemy's ``Connection.execute`` cost about 180 µs per insert and commit where the
cursor cost about 30 µs. Per row, on the same file with the same settings (omnikit's
own connection setup: WAL, ``synchronous=NORMAL``, ``secure_delete=ON``, foreign keys
on, its busy timeout):

- **sqlalchemy**: SQLAlchemy Core, ``with engine.begin() as conn:
  conn.execute(insert(interactions), params)``; the engine is SQLAlchemy's documented
  recipe for controlling SQLite transactions (driver autocommit, a ``begin`` event
  issuing ``BEGIN IMMEDIATE``), its default pool keeping the connection;
- **cursor**: a plain ``sqlite3`` connection's cursor, ``BEGIN IMMEDIATE``; the same
  ``INSERT`` with the same named parameters; ``COMMIT``;
- **omnikit store** (context): ``with kit.store.transaction(write=True) as tx:
  tx.insert_interaction(interaction)``, what ``kit.record`` does after validating
  (its insert has ``ON CONFLICT DO NOTHING``).

The parameters (a dict of the 16 columns, a new id each) are built before the clock
starts. The rows go into a scratch copy of the cached store (random existing customers).
The sides take turns in 20 rounds (rotating which goes first); each figure is the median
of the per-round microseconds per row.

    python benchmarks/bench_execution_layer.py            # 100k customers / 1M interactions
    python benchmarks/bench_execution_layer.py --quick    # 1k / 10k: little disk work
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import (
    DIRECTIONS,
    INTERACTION_COLUMNS,
    MESSAGES,
    REGION,
    configure_sqlite,
    copy_store,
    ensure_store,
    load_customers,
    parse_sizes,
    raw_connect,
    remove_database,
    report,
    say,
    url_of,
)
from sqlalchemy import create_engine, event, insert

from omnikit import Omnikit
from omnikit._ids import new_id
from omnikit.model import Direction, Interaction
from omnikit.store.schema import interactions

ROUNDS = 20
NAMED_INSERT = (
    f"INSERT INTO interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in INTERACTION_COLUMNS)})"
)


def make_params(ids: list[str], count: int, side: str, rng: random.Random) -> list[dict[str, Any]]:
    now = time.time_ns() // 1000
    rows = []
    for i in range(count):
        channel, kind, text = rng.choice(MESSAGES)
        row: dict[str, Any] = dict.fromkeys(INTERACTION_COLUMNS)
        row.update(
            id=new_id(),
            customer_id=rng.choice(ids),
            channel=channel,
            direction=rng.choice(DIRECTIONS),
            kind=kind,
            occurred_at=now,
            recorded_at=now,
            text=text,
            external_id=f"bench-{side}-{i}",
        )
        rows.append(row)
    return rows


def as_interaction(row: dict[str, Any]) -> Interaction:
    from omnikit._time import from_micros

    return Interaction.trusted(
        **{
            **row,
            "direction": Direction(row["direction"]),
            "occurred_at": from_micros(row["occurred_at"]),
            "recorded_at": from_micros(row["recorded_at"]),
            "attachments": (),
            "purpose": (),
            "metadata": {},
        }
    )


def sqlalchemy_engine(url: str) -> Any:
    """SQLAlchemy's recipe for SQLite transactions, with omnikit's file settings."""
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        configure_sqlite(dbapi_connection)  # driver autocommit and omnikit's settings

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def main() -> None:
    sizes = parse_sizes(__doc__.splitlines()[0], full_samples=10_000, quick_samples=2_000)
    path = copy_store(ensure_store(sizes.customers, sizes.interactions), "write-execution.db")
    ids = [customer_id for customer_id, _ in load_customers(path)]
    rng = random.Random(5)
    per_round = max(1, sizes.samples // ROUNDS)
    warmup = min(200, per_round)
    total = warmup + per_round * ROUNDS
    inputs = {side: make_params(ids, total, side, rng) for side in ("sa", "cursor", "store")}
    store_inputs = [as_interaction(row) for row in inputs["store"]]

    engine = sqlalchemy_engine(url_of(path))
    statement = insert(interactions)
    kit = Omnikit(url_of(path), default_region=REGION)
    try:
        with raw_connect(path) as connection:
            cursor = connection.cursor()

            def run_sa(chunk: list[dict[str, Any]]) -> None:
                begin = engine.begin
                for params in chunk:
                    with begin() as conn:
                        conn.execute(statement, params)

            def run_cursor(chunk: list[dict[str, Any]]) -> None:
                execute = cursor.execute
                for params in chunk:
                    execute("BEGIN IMMEDIATE")
                    execute(NAMED_INSERT, params)
                    execute("COMMIT")

            def run_store(chunk: list[Interaction]) -> None:
                transaction = kit.store.transaction
                for interaction in chunk:
                    with transaction(write=True) as tx:
                        tx.insert_interaction(interaction)

            sides: dict[str, tuple[Callable[[Any], None], list[Any]]] = {
                "sqlalchemy": (run_sa, inputs["sa"]),
                "cursor": (run_cursor, inputs["cursor"]),
                "store": (run_store, store_inputs),
            }
            for run, side_inputs in sides.values():
                run(side_inputs[:warmup])
            us: dict[str, list[float]] = {name: [] for name in sides}
            names = list(sides)
            for r in range(ROUNDS):
                for name in names[r % 3 :] + names[: r % 3]:
                    run, side_inputs = sides[name]
                    chunk = side_inputs[warmup + r * per_round : warmup + (r + 1) * per_round]
                    start = time.perf_counter_ns()
                    run(chunk)
                    us[name].append((time.perf_counter_ns() - start) / 1000 / len(chunk))
            stored = connection.execute(
                "SELECT count(*) FROM interactions WHERE external_id LIKE 'bench-%'"
            ).fetchone()[0]
    finally:
        kit.close()
        engine.dispose()
        remove_database(path)
    assert stored == 3 * total, (stored, total)

    medians = {name: statistics.median(values) for name, values in us.items()}
    extra = medians["sqlalchemy"] - medians["cursor"]
    say()
    say(
        f"execution layer: one insert + commit per row, {ROUNDS} rounds of {per_round:,} rows, "
        f"store {sizes.customers:,} customers / {sizes.interactions:,} interactions"
    )
    for label, name in (
        ("SQLAlchemy Core conn.execute in engine.begin()", "sqlalchemy"),
        ("DB-API cursor: BEGIN IMMEDIATE/INSERT/COMMIT", "cursor"),
        ("context: omnikit store transaction + insert", "store"),
    ):
        values = us[name]
        say(
            f"  {label:48}{medians[name]:8.1f} µs/row  (rounds {min(values):.0f}-{max(values):.0f})"
        )
    say(
        f"  SQLAlchemy - cursor: {extra:.1f} µs per row; "
        f"ratio {medians['sqlalchemy'] / medians['cursor']:.2f}x"
    )
    report(
        "execution_layer",
        sizes,
        {
            "rounds": ROUNDS,
            "rows_per_round": per_round,
            "sqlalchemy_us_per_row": round(medians["sqlalchemy"], 1),
            "cursor_us_per_row": round(medians["cursor"], 1),
            "store_us_per_row": round(medians["store"], 1),
            "sqlalchemy_minus_cursor_us": round(extra, 1),
            "ratio": round(medians["sqlalchemy"] / medians["cursor"], 3),
            "target": "none: backs the 180 us vs 30 us claim in store/sql.py",
            "pass": True,
            "round_us": {name: [round(v, 1) for v in values] for name, values in us.items()},
        },
    )


if __name__ == "__main__":
    main()
