"""Figure a: ``kit.record_many`` throughput on PostgreSQL, batches of 1,000 interactions.

Target: at least 0.5x the throughput of raw ``psycopg`` inserting the same rows into the
same ``interactions`` table, 1,000 rows per transaction: a plain connection
(``psycopg.connect(url)``), ``cursor.executemany(INSERT …, rows)``, then ``commit()``.
psycopg 3 runs ``executemany`` in pipeline mode, as it does for omnikit, whose store
calls ``executemany`` on the driver's cursor too.

Both sides write into the cached PostgreSQL store (100k customers, 1M interactions; see
``_pg.py``), to random existing customers, with the same channel/kind/text mix and
unique external ids; the rows are deleted again afterwards. The records are prepared
before the clock starts: ``kit.record_many`` gets a list of dicts, the raw side a list
of input tuples, to which it adds inside its timed region what omnikit adds for its
caller (a time-ordered id and the two timestamps). The sides alternate batch by batch
(which side goes first alternates too); the figure is the median batch throughput.
The raw insert has no conflict clause; omnikit's is ``ON CONFLICT DO NOTHING``.

    python benchmarks/bench_pg_record_many.py            # 100k customers / 1M interactions
    python benchmarks/bench_pg_record_many.py --quick    # smoke run
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from _common import parse_options, raw_row, report, say, verdict
from _pg import (
    PG_RAW_INSERT,
    add_pg_option,
    ensure_pg_store,
    raw_pg_connect,
    reset_pg_store,
    server_info,
)
from bench_record_many import BATCH, WARMUP_BATCHES, as_records, make_batches

from omnikit import Omnikit

TARGET = 0.5


def main() -> None:
    sizes, args = parse_options(
        __doc__.splitlines()[0], full_samples=50, quick_samples=5, configure=add_pg_option
    )
    url, built = ensure_pg_store(args.pg_url, sizes.customers, sizes.interactions)
    with raw_pg_connect(url, autocommit=True) as connection:
        ids = [str(r[0]) for r in connection.execute("SELECT id FROM customers ORDER BY id")]
    rng = random.Random(2)
    count = WARMUP_BATCHES + sizes.samples
    kit_batches = [as_records(batch) for batch in make_batches(ids, count, "bench-kit", rng)]
    raw_batches = make_batches(ids, count, "bench-raw", rng)

    try:
        with Omnikit(url) as kit, raw_pg_connect(url) as connection:
            cursor = connection.cursor()

            def run_kit(b: int) -> None:
                stored = kit.record_many(kit_batches[b])
                assert len(stored) == BATCH

            def run_raw(b: int) -> None:
                rows = [raw_row(*values) for values in raw_batches[b]]
                cursor.executemany(PG_RAW_INSERT, rows)
                connection.commit()

            sides: dict[str, Callable[[int], None]] = {"kit": run_kit, "raw": run_raw}
            for b in range(WARMUP_BATCHES):
                run_raw(b)
                run_kit(b)
            rates: dict[str, list[float]] = {"kit": [], "raw": []}
            for b in range(WARMUP_BATCHES, count):
                for side in ("raw", "kit") if b % 2 == 0 else ("kit", "raw"):
                    start = time.perf_counter_ns()
                    sides[side](b)
                    rates[side].append(BATCH / ((time.perf_counter_ns() - start) / 1e9))
            stored = connection.execute(
                "SELECT count(*) FROM interactions WHERE external_id LIKE 'bench-%'"
            ).fetchone()
            connection.commit()
        assert stored is not None and stored[0] == 2 * count * BATCH, stored
        postgresql = server_info(url)
    finally:
        reset_pg_store(url)

    kit_rate = statistics.median(rates["kit"])
    raw_rate = statistics.median(rates["raw"])
    ratio = kit_rate / raw_rate
    say()
    say(
        f"figure a: kit.record_many on PostgreSQL, batches of {BATCH:,} "
        f"({sizes.samples} batches per side)"
    )
    say(f"  kit.record_many         {kit_rate:>10,.0f} rows/s  ({1e6 / kit_rate:6.1f} µs/row)")
    say(f"  raw psycopg executemany {raw_rate:>10,.0f} rows/s  ({1e6 / raw_rate:6.1f} µs/row)")
    say(
        f"  ratio                   {ratio:>10.2f}x  target >= {TARGET}x  "
        f"{verdict(ratio >= TARGET)}"
    )
    say(
        f"  per-batch rows/s: kit {min(rates['kit']):,.0f}-{max(rates['kit']):,.0f}, "
        f"raw {min(rates['raw']):,.0f}-{max(rates['raw']):,.0f}"
    )
    report(
        "pg_record_many",
        sizes,
        {
            "postgresql": postgresql,
            "store_build": built,
            "batch": BATCH,
            "batches_per_side": sizes.samples,
            "kit_rows_per_s": round(kit_rate),
            "raw_rows_per_s": round(raw_rate),
            "kit_us_per_row": round(1e6 / kit_rate, 2),
            "raw_us_per_row": round(1e6 / raw_rate, 2),
            "ratio": round(ratio, 3),
            "target": f">= {TARGET}x",
            "pass": ratio >= TARGET,
            "kit_batch_rates": [round(x) for x in rates["kit"]],
            "raw_batch_rates": [round(x) for x in rates["raw"]],
        },
    )


if __name__ == "__main__":
    main()
