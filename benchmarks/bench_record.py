"""Figure 1: ``kit.record`` throughput, one call (one transaction) per interaction.

Target: at least 0.5x the throughput of raw ``sqlite3`` inserting the same rows into
the same ``interactions`` table with one commit per row (``BEGIN IMMEDIATE``;
``INSERT``; ``COMMIT``), on the same file with the same settings.

Both sides write into a scratch copy of the cached store (so the table already holds
``--interactions`` rows and the foreign key is checked against ``--customers``
customers), to random existing customers, with the same channel/kind/text mix and a
unique external id. The raw side makes what omnikit makes for the caller inside its
timed loop: a time-ordered 36-character id and the two timestamps. The sides run in
alternating rounds (which side goes first alternates too) so that both see the same
machine noise; the figure is the median of the per-round throughputs.

    python benchmarks/bench_record.py            # 100k customers / 1M interactions
    python benchmarks/bench_record.py --quick    # smoke run
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

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

ROUNDS = 20
TARGET = 0.5

Input = tuple[str, str, str, str, str, str]
"""customer id, channel, direction, kind, text, external id"""


def make_inputs(ids: list[str], count: int, side: str, rng: random.Random) -> list[Input]:
    inputs = []
    for i in range(count):
        channel, kind, text = rng.choice(MESSAGES)
        inputs.append(
            (rng.choice(ids), channel, rng.choice(DIRECTIONS), kind, text, f"{side}-{i:08d}")
        )
    return inputs


def main() -> None:
    sizes = parse_sizes(__doc__.splitlines()[0], full_samples=20_000, quick_samples=1_000)
    path = copy_store(ensure_store(sizes.customers, sizes.interactions), "write-record.db")
    ids = [customer_id for customer_id, _ in load_customers(path)]
    rng = random.Random(1)
    per_round = max(1, sizes.samples // ROUNDS)
    warmup = min(500, per_round)
    kit_inputs = make_inputs(ids, warmup + per_round * ROUNDS, "kit", rng)
    raw_inputs = make_inputs(ids, warmup + per_round * ROUNDS, "raw", rng)

    kit = Omnikit(url_of(path), default_region=REGION)
    with raw_connect(path) as connection:
        cursor = connection.cursor()

        def run_kit(chunk: list[Input]) -> None:
            record = kit.record
            for customer, channel, direction, kind, text, external_id in chunk:
                record(
                    customer=customer,
                    channel=channel,
                    direction=direction,  # type: ignore[arg-type]
                    kind=kind,
                    text=text,
                    external_id=external_id,
                )

        def run_raw(chunk: list[Input]) -> None:
            execute = cursor.execute
            for customer, channel, direction, kind, text, external_id in chunk:
                row = raw_row(customer, channel, direction, kind, text, external_id)
                execute("BEGIN IMMEDIATE")
                execute(RAW_INSERT, row)
                execute("COMMIT")

        run_raw(raw_inputs[:warmup])
        run_kit(kit_inputs[:warmup])
        rates: dict[str, list[float]] = {"kit": [], "raw": []}
        sides: dict[str, tuple[Callable[[list[Input]], None], list[Input]]] = {
            "kit": (run_kit, kit_inputs),
            "raw": (run_raw, raw_inputs),
        }
        for r in range(ROUNDS):
            for side in ("raw", "kit") if r % 2 == 0 else ("kit", "raw"):
                run, inputs = sides[side]
                chunk = inputs[warmup + r * per_round : warmup + (r + 1) * per_round]
                start = time.perf_counter_ns()
                run(chunk)
                rates[side].append(len(chunk) / ((time.perf_counter_ns() - start) / 1e9))
        stored = connection.execute(
            "SELECT count(*) FROM interactions WHERE external_id LIKE 'kit-%'"
        ).fetchone()[0]
    kit.close()
    remove_database(path)
    assert stored == len(kit_inputs), (stored, len(kit_inputs))

    kit_rate = statistics.median(rates["kit"])
    raw_rate = statistics.median(rates["raw"])
    ratio = kit_rate / raw_rate
    say()
    say(f"figure 1: kit.record, one call per interaction ({ROUNDS} rounds of {per_round:,})")
    say(f"  kit.record            {kit_rate:>10,.0f} rows/s  ({1e6 / kit_rate:6.1f} µs/row)")
    say(f"  raw sqlite3, 1 commit {raw_rate:>10,.0f} rows/s  ({1e6 / raw_rate:6.1f} µs/row)")
    say(f"  ratio                 {ratio:>10.2f}x  target >= {TARGET}x  {verdict(ratio >= TARGET)}")
    say(
        f"  per-round rows/s: kit {min(rates['kit']):,.0f}-{max(rates['kit']):,.0f}, "
        f"raw {min(rates['raw']):,.0f}-{max(rates['raw']):,.0f}"
    )
    report(
        "record",
        sizes,
        {
            "rounds": ROUNDS,
            "rows_per_round": per_round,
            "kit_rows_per_s": round(kit_rate),
            "raw_rows_per_s": round(raw_rate),
            "kit_us_per_row": round(1e6 / kit_rate, 1),
            "raw_us_per_row": round(1e6 / raw_rate, 1),
            "ratio": round(ratio, 3),
            "target": f">= {TARGET}x",
            "pass": ratio >= TARGET,
            "kit_round_rates": [round(x) for x in rates["kit"]],
            "raw_round_rates": [round(x) for x in rates["raw"]],
        },
    )


if __name__ == "__main__":
    main()
