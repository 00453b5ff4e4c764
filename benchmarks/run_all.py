"""Run every figure's benchmark ``--runs`` times and summarise the runs.

Each run is a fresh process (so omnikit's normalisation cache starts empty), and the
benchmarks take turns (figure 1, 2, 3, 4, a, b, c, then again), so that a burst of other
work on the machine hits one run of each rather than every run of one. The summary
shows, per figure, every run's result and the median run. Other options (``--quick``,
``--customers`` …) are passed on to each benchmark; ``--pg-url`` only to the PostgreSQL
ones, which are skipped, saying why, when no PostgreSQL server answers there.

    python benchmarks/run_all.py --runs 3
    python benchmarks/run_all.py --runs 1 --quick
    python benchmarks/run_all.py --runs 3 --only pg_card --pg-url postgresql://…
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import OUT, say

DEFAULT_PG_URL = "postgresql://omnikit:omnikit@127.0.0.1/omnikit_bench"
"""As in ``_pg.py``, repeated so that the SQLite figures run without psycopg."""

HERE = Path(__file__).resolve().parent
SCRIPTS = {
    "record": "bench_record.py",
    "record_many": "bench_record_many.py",
    "identify": "bench_identify.py",
    "card": "bench_card.py",
    "pg_record_many": "bench_pg_record_many.py",
    "pg_card": "bench_pg_card.py",
    "concurrency": "bench_concurrency.py",
    "execution_layer": "bench_execution_layer.py",
    "notify": "bench_notify.py",
    "outbox": "bench_outbox.py",
}
POSTGRES = ("pg_record_many", "pg_card", "concurrency")
QUIET = 0.15
"""``--wait-quiet``: the share of all CPUs that counts as idle."""
"""The benchmarks that need a PostgreSQL server (``--pg-url``)."""


def line(r: dict[str, Any]) -> str:
    """One run of one figure, in a line."""
    name = r["benchmark"]
    if name in ("record", "record_many", "pg_record_many"):
        return f"kit {r['kit_rows_per_s']:>7,} rows/s  raw {r['raw_rows_per_s']:>7,} rows/s"
    if name == "identify":
        u, c, b = (r["identify_uncached"], r["identify_cached"], r["baseline_parse_format"])
        return (
            f"uncached p50 {u['p50_us']:6.1f} µs  cached p50 {c['p50_us']:6.1f} µs  "
            f"baseline p50 {b['p50_us']:5.1f} µs"
        )
    if name in ("card", "pg_card"):
        k, w = r["customer_card"], r["raw_recent_20"]
        return (
            f"card p50/p99 {k['p50_us']:6.1f}/{k['p99_us']:7.1f} µs  "
            f"raw p50/p99 {w['p50_us']:5.1f}/{w['p99_us']:7.1f} µs"
        )
    if name == "notify":
        k, w = r["notify"], r["raw_notify"]
        return (
            f"notify p50/p99 {k['p50_us']:6.1f}/{k['p99_us']:7.1f} µs  "
            f"raw p50/p99 {w['p50_us']:5.1f}/{w['p99_us']:7.1f} µs"
        )
    if name == "outbox":
        drain, bare = statistics.median(r["drain_per_s"]), statistics.median(r["bare_per_s"])
        return f"worker {drain:>7,.0f} messages/s  bare loop {bare:>7,.0f} messages/s"
    if name == "concurrency":
        return "  ".join(
            f"{backend} 1: {f['solo_rows_per_s']:,}/s {r['processes']}: "
            f"{f['concurrent_rows_per_s']:,}/s ({f['ratio']:.2f}x)"
            for backend, f in r["figures"].items()
        )
    return (
        f"sqlalchemy {r['sqlalchemy_us_per_row']:6.1f} µs/row  cursor "
        f"{r['cursor_us_per_row']:6.1f} µs/row  store {r['store_us_per_row']:6.1f} µs/row"
    )


def figure_of(result: dict[str, Any]) -> tuple[str, float]:
    """The number each figure is judged on, and what it is."""
    name = result["benchmark"]
    if name == "identify":
        return "ratio", float(result["ratio_p50_uncached"])
    if name == "card":
        return "ratio", float(result["ratio_p99"])
    if name == "pg_card":
        return "p99 ms", float(result["customer_card"]["p99_us"]) / 1000
    if name == "notify":
        return "p99 ms", float(result["notify"]["p99_us"]) / 1000
    return "ratio", float(result["ratio"] or 0)


def postgres_problem(url: str) -> str | None:
    """Why the PostgreSQL benchmarks cannot run, or ``None``."""
    try:
        from _pg import masked, unreachable
    except ImportError as error:  # psycopg not installed
        return f"cannot import psycopg ({error}); install omnikit[postgres]"
    problem = unreachable(url)
    return None if problem is None else f"no PostgreSQL reachable at {masked(url)} ({problem})"


def cpu_busy(seconds: float) -> float:
    """The share of all CPUs busy over the next ``seconds``, from ``/proc/stat``."""

    def ticks() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        total = sum(fields[:8])
        return total - fields[3] - fields[4], total

    busy0, total0 = ticks()
    time.sleep(seconds)
    busy1, total1 = ticks()
    return (busy1 - busy0) / max(1, total1 - total0)


def wait_quiet(limit_s: float) -> None:
    """Wait up to ``limit_s`` seconds for the machine's CPUs to be idle (under
    ``QUIET`` busy over two seconds), so that other work does not run alongside."""
    if limit_s <= 0 or not Path("/proc/stat").exists():
        return
    deadline = time.monotonic() + limit_s
    busy = cpu_busy(2)
    while busy > QUIET:
        if time.monotonic() > deadline:
            say(f"(the machine is still {busy:.0%} busy after {limit_s:.0f} s; running anyway)")
            return
        busy = cpu_busy(2)
    say(f"(machine {busy:.0%} busy before starting)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=list(SCRIPTS), action="append")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OMNIKIT_BENCH_POSTGRES_URL") or DEFAULT_PG_URL,
        help="PostgreSQL database for figures a-c (default: $OMNIKIT_BENCH_POSTGRES_URL "
        f"or {DEFAULT_PG_URL})",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help=f"before each benchmark, wait up to SECONDS for the CPUs to be under {QUIET:.0%} "
        "busy (a shared machine); default 0: do not wait",
    )
    args, passed = parser.parse_known_args()
    names = args.only or list(SCRIPTS)
    if any(name in POSTGRES for name in names):
        problem = postgres_problem(args.pg_url)
        if problem:
            skipped = [name for name in names if name in POSTGRES]
            say(f"skipping {', '.join(skipped)}: {problem}")
            say("  (start PostgreSQL or pass --pg-url / set OMNIKIT_BENCH_POSTGRES_URL)")
            names = [name for name in names if name not in POSTGRES]
    history = OUT / "history.jsonl"
    start = sum(1 for _ in history.open()) if history.exists() else 0
    for run in range(1, args.runs + 1):
        for name in names:
            extra = ["--pg-url", args.pg_url] if name in POSTGRES else []
            say(f"\n### run {run}/{args.runs}: {SCRIPTS[name]} {' '.join(passed)}")
            wait_quiet(args.wait_quiet)
            subprocess.run([sys.executable, str(HERE / SCRIPTS[name]), *passed, *extra], check=True)
    results = [json.loads(text) for text in history.read_text().splitlines()[start:]]
    say(
        "\n### summary (ratio: figures 1, 2, a kit/raw throughput; 3 p50 uncached/baseline; "
        "4 card p99/raw p99; c 8 processes/1 process on PostgreSQL; execution layer "
        "SQLAlchemy/cursor; outbox worker/bare loop)"
    )
    for name in names:
        runs = [r for r in results if r["benchmark"] == name]
        if not runs:
            continue
        for r in runs:
            m = r["machine"]
            what, value = figure_of(r)
            say(
                f"  {name:15} {line(r)}  {what} {value:5.2f}  "
                f"{'PASS' if r['pass'] else 'FAIL'}  load {m['load_at_start']:.1f}"
            )
        what = figure_of(runs[0])[0]
        median = statistics.median(figure_of(r)[1] for r in runs)
        say(f"  {name:15} median {what} over {len(runs)} run(s): {median:.2f}")


if __name__ == "__main__":
    main()
