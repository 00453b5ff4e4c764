"""``omnikit import``: a CSV file imported with identity resolution, against a raw
``executemany`` of the same rows into the ``interactions`` table.

Target: the import's throughput at least 0.25x the raw insert's, on the same kind of
store (an SQLite file, or the PostgreSQL database of ``--url``).

The file has ``--rows`` rows (1,000,000) for ``--customers`` customers (rows / 10),
each row a Dutch mobile number written ``06 1000 0042``, a channel, direction, kind
and text from the usual mix, an ISO 8601 time with offset and a unique external id,
in random order; the first row of each customer creates them. The import side runs
``omnikit.importer.import_file`` (what ``omnikit import`` runs) on an empty store:
reading and checking the file, normalising every number, resolving the customers in
batches of 1,000, creating the new ones and recording the interactions. The raw side
starts from a store that already holds the same customers (inserted before the
clock starts) and times only ``BEGIN; executemany(INSERT) of 1,000 rows; COMMIT``
for the same rows, ids and instants generated inside the timed region as in the other
write benchmarks. Each side runs once on a store of its own; the ratio is import
throughput / raw throughput.

    python benchmarks/bench_import.py                         # 1M rows on SQLite
    python benchmarks/bench_import.py --rows 100000           # a quicker run
    python benchmarks/bench_import.py --url postgresql://omnikit:omnikit@127.0.0.1/omnikit_bench
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    DIRECTIONS,
    MESSAGES,
    OUT,
    RAW_INSERT,
    Sizes,
    phone_of,
    raw_connect,
    raw_row,
    remove_database,
    report,
    say,
    verdict,
)

from omnikit import Omnikit
from omnikit.importer import import_file

TARGET = 0.25
BATCH = 1_000


def make_file(path: Path, rows: int, customers: int) -> list[tuple[int, str, str, str, str, str]]:
    """Write the CSV file; return its rows as (customer index, channel, direction, kind,
    text, external id)."""
    rng = random.Random(9)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    data = []
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(
            ["phone", "channel", "direction", "kind", "occurred_at", "text", "external_id"]
        )
        for n in range(rows):
            k = n if n < customers else rng.randrange(customers)
            channel, kind, text = rng.choice(MESSAGES)
            direction = rng.choice(DIRECTIONS)
            when = start + timedelta(seconds=rng.randrange(365 * 86_400))
            external_id = f"imp-{n}"
            out.writerow(
                [phone_of(k), channel, direction, kind, when.isoformat(), text, external_id]
            )
            data.append((k, channel, direction, kind, text, external_id))
    return data


def run_import(url: str, path: Path) -> tuple[float, Any]:
    with Omnikit(url, default_region="NL") as kit:
        started = time.perf_counter()
        result = import_file(kit, path)
        took = time.perf_counter() - started
    return took, result


def customer_rows(customers: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    now = time.time_ns() // 1000
    ids = [f"00000000-0000-7000-8000-{k:012d}" for k in range(customers)]
    return ids, [(i, None, None, "{}", now, now, None, None) for i in ids]


def run_raw_sqlite(path: Path, data: list[Any], customers: int) -> float:
    Omnikit(f"sqlite:///{path}").close()  # the schema
    ids, people = customer_rows(customers)
    with raw_connect(path) as connection:
        cursor = connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        cursor.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", people)
        cursor.execute("COMMIT")
        started = time.perf_counter()
        for at in range(0, len(data), BATCH):
            rows = [raw_row(ids[k], *rest) for k, *rest in data[at : at + BATCH]]
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(RAW_INSERT, rows)
            cursor.execute("COMMIT")
        return time.perf_counter() - started


def run_raw_postgres(url: str, data: list[Any], customers: int) -> float:
    from _pg import PG_RAW_INSERT, raw_pg_connect

    ids, people = customer_rows(customers)
    with raw_pg_connect(url) as connection:
        cursor = connection.cursor()
        cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", people)
        connection.commit()
        started = time.perf_counter()
        for at in range(0, len(data), BATCH):
            rows = [raw_row(ids[k], *rest) for k, *rest in data[at : at + BATCH]]
            cursor.executemany(PG_RAW_INSERT, rows)
            connection.commit()
        return time.perf_counter() - started


def empty_postgres(url: str) -> None:
    from _pg import raw_pg_connect

    Omnikit(url).close()  # the schema
    with raw_pg_connect(url, autocommit=True) as connection:
        connection.execute(
            "TRUNCATE outbox, consents, preferences, subscriptions, case_events, "
            "interactions, cases, identities, customer_events, merges, customers CASCADE"
        )
        connection.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the file")
    parser.add_argument("--customers", type=int, help="customers (default: rows / 10)")
    parser.add_argument(
        "--url", help="a PostgreSQL database to run in (emptied!); default: SQLite files"
    )
    args = parser.parse_args()
    customers = args.customers or max(1, args.rows // 10)
    OUT.mkdir(parents=True, exist_ok=True)
    source = OUT / f"import-{args.rows}.csv"
    say(f"writing {args.rows:,} rows for {customers:,} customers to {source}")
    data = make_file(source, args.rows, customers)
    if args.url:
        backend = "postgresql"
        empty_postgres(args.url)
        raw_took = run_raw_postgres(args.url, data, customers)
        empty_postgres(args.url)
        import_took, result = run_import(args.url, source)
        empty_postgres(args.url)
    else:
        backend = "sqlite"
        raw_path, import_path = OUT / "import-raw.db", OUT / "import-kit.db"
        for path in (raw_path, import_path):
            remove_database(path)
        raw_took = run_raw_sqlite(raw_path, data, customers)
        import_took, result = run_import(f"sqlite:///{import_path}", source)
        for path in (raw_path, import_path):
            remove_database(path)
    source.unlink()
    assert result.imported == args.rows and result.customers_created == customers, result
    kit_rate = args.rows / import_took
    raw_rate = args.rows / raw_took
    ratio = kit_rate / raw_rate
    say()
    say(f"omnikit import, {args.rows:,} rows, {customers:,} customers, {backend}")
    say(f"  import_file            {kit_rate:>10,.0f} rows/s  ({import_took:6.1f} s)")
    say(f"  raw executemany        {raw_rate:>10,.0f} rows/s  ({raw_took:6.1f} s)")
    say(
        f"  ratio                  {ratio:>10.2f}x  target >= {TARGET}x  {verdict(ratio >= TARGET)}"
    )
    report(
        f"import_{backend}",
        Sizes(customers=customers, interactions=args.rows, samples=1, quick=False),
        {
            "backend": backend,
            "rows": args.rows,
            "customers": customers,
            "import_s": round(import_took, 2),
            "raw_s": round(raw_took, 2),
            "import_rows_per_s": round(kit_rate),
            "raw_rows_per_s": round(raw_rate),
            "ratio": round(ratio, 3),
            "target": f">= {TARGET}x",
            "pass": ratio >= TARGET,
        },
    )


if __name__ == "__main__":
    main()
