"""Figure 2: ``kit.record_many`` throughput in batches of 1,000 interactions.

Target: at least 0.5x the throughput of raw ``sqlite3`` ``executemany`` of 1,000 rows
per transaction (``BEGIN IMMEDIATE``; ``executemany(INSERT)``; ``COMMIT``) into the same
``interactions`` table, on the same file with the same settings.

Both sides write into a scratch copy of the cached store, to random existing customers,
with the same channel/kind/text mix and unique external ids. The records are prepared
before the clock starts: ``kit.record_many`` gets a list of dicts, the raw side a list of
input tuples, to which it adds inside its timed region what omnikit adds for its
caller (a time-ordered id and the two timestamps). The sides alternate batch by batch
(which side goes first alternates too); the figure is the median batch throughput.

    python benchmarks/bench_record_many.py            # 100k customers / 1M interactions
    python benchmarks/bench_record_many.py --quick    # smoke run
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import (
    DIRECTIONS,
    MESSAGES,
    RAW_INSERT,
    REGION,
    copy_store,
    ensure_store,
    load_customers,
    parse_sizes,
    raw_connect,
    raw_row,
    remove_database,
    report,
    say,
    url_of,
    verdict,
)

from omnikit import Omnikit

BATCH = 1_000
WARMUP_BATCHES = 3
TARGET = 0.5

Input = tuple[str, str, str, str, str, str]
"""customer id, channel, direction, kind, text, external id"""


def make_batches(ids: list[str], count: int, side: str, rng: random.Random) -> list[list[Input]]:
    batches = []
    for b in range(count):
        batch = []
        for i in range(BATCH):
            channel, kind, text = rng.choice(MESSAGES)
            batch.append(
                (rng.choice(ids), channel, rng.choice(DIRECTIONS), kind, text, f"{side}-{b}-{i}")
            )
        batches.append(batch)
    return batches


def as_records(batch: list[Input]) -> list[dict[str, Any]]:
    return [
        {
            "customer": customer,
            "channel": channel,
            "direction": direction,
            "kind": kind,
            "text": text,
            "external_id": external_id,
        }
        for customer, channel, direction, kind, text, external_id in batch
    ]


def main() -> None:
    sizes = parse_sizes(__doc__.splitlines()[0], full_samples=50, quick_samples=5)
    path = copy_store(ensure_store(sizes.customers, sizes.interactions), "write-record-many.db")
    ids = [customer_id for customer_id, _ in load_customers(path)]
    rng = random.Random(2)
    count = WARMUP_BATCHES + sizes.samples
    kit_batches = [as_records(batch) for batch in make_batches(ids, count, "kit", rng)]
    raw_batches = make_batches(ids, count, "raw", rng)

    kit = Omnikit(url_of(path), default_region=REGION)
    with raw_connect(path) as connection:
        cursor = connection.cursor()

        def run_kit(b: int) -> None:
            stored = kit.record_many(kit_batches[b])
            assert len(stored) == BATCH

        def run_raw(b: int) -> None:
            rows = [raw_row(*values) for values in raw_batches[b]]
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(RAW_INSERT, rows)
            assert cursor.rowcount == BATCH
            cursor.execute("COMMIT")

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
    kit.close()
    remove_database(path)

    kit_rate = statistics.median(rates["kit"])
    raw_rate = statistics.median(rates["raw"])
    ratio = kit_rate / raw_rate
    say()
    say(f"figure 2: kit.record_many, batches of {BATCH:,} ({sizes.samples} batches per side)")
    say(f"  kit.record_many        {kit_rate:>10,.0f} rows/s  ({1e6 / kit_rate:6.1f} µs/row)")
    say(f"  raw sqlite3 executemany{raw_rate:>10,.0f} rows/s  ({1e6 / raw_rate:6.1f} µs/row)")
    say(
        f"  ratio                  {ratio:>10.2f}x  target >= {TARGET}x  {verdict(ratio >= TARGET)}"
    )
    say(
        f"  per-batch rows/s: kit {min(rates['kit']):,.0f}-{max(rates['kit']):,.0f}, "
        f"raw {min(rates['raw']):,.0f}-{max(rates['raw']):,.0f}"
    )
    report(
        "record_many",
        sizes,
        {
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
