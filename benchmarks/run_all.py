"""Run every figure's benchmark ``--runs`` times and summarise the runs.

Each run is a fresh process (so omnikit's normalisation cache starts empty), and the
benchmarks take turns (figure 1, 2, 3, 4, then again), so that a burst of other work
on the machine hits one run of each rather than every run of one. The summary shows,
per figure, every run's ratio and the median run. Other options (``--quick``,
``--customers`` …) are passed on to each benchmark.

    python benchmarks/run_all.py --runs 3
    python benchmarks/run_all.py --runs 1 --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import OUT, say

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "record": "bench_record.py",
    "record_many": "bench_record_many.py",
    "identify": "bench_identify.py",
    "card": "bench_card.py",
}


def line(r: dict[str, Any]) -> str:
    """One run of one figure, in a line."""
    name = r["benchmark"]
    if name in ("record", "record_many"):
        return f"kit {r['kit_rows_per_s']:>7,} rows/s  raw {r['raw_rows_per_s']:>7,} rows/s"
    if name == "identify":
        u, c, b = (r["identify_uncached"], r["identify_cached"], r["baseline_parse_format"])
        return (
            f"uncached p50 {u['p50_us']:6.1f} µs  cached p50 {c['p50_us']:6.1f} µs  "
            f"baseline p50 {b['p50_us']:5.1f} µs"
        )
    k, w = r["customer_card"], r["raw_recent_20"]
    return (
        f"card p50/p99 {k['p50_us']:6.1f}/{k['p99_us']:7.1f} µs  "
        f"raw p50/p99 {w['p50_us']:5.1f}/{w['p99_us']:7.1f} µs"
    )


def ratio_of(result: dict[str, Any]) -> float:
    key = {"identify": "ratio_p50_uncached", "card": "ratio_p99"}.get(result["benchmark"])
    return float(result[key or "ratio"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=list(SCRIPTS), action="append")
    args, passed = parser.parse_known_args()
    names = args.only or list(SCRIPTS)
    history = OUT / "history.jsonl"
    start = sum(1 for _ in history.open()) if history.exists() else 0
    for run in range(1, args.runs + 1):
        for name in names:
            say(f"\n### run {run}/{args.runs}: {SCRIPTS[name]} {' '.join(passed)}")
            subprocess.run([sys.executable, str(HERE / SCRIPTS[name]), *passed], check=True)
    results = [json.loads(text) for text in history.read_text().splitlines()[start:]]
    say("\n### summary (ratio: figures 1-2 kit/raw throughput, 3 p50 uncached/baseline, 4 p99)")
    for name in names:
        runs = [r for r in results if r["benchmark"] == name]
        for r in runs:
            m = r["machine"]
            say(
                f"  {name:12} {line(r)}  ratio {ratio_of(r):5.2f}  "
                f"{'PASS' if r['pass'] else 'FAIL'}  load {m['load_at_start']:.1f}"
            )
        median = statistics.median(ratio_of(r) for r in runs)
        say(f"  {name:12} median ratio over {len(runs)} run(s): {median:.2f}")


if __name__ == "__main__":
    main()
