"""Figure c: aggregate ``kit.record`` throughput of 8 processes at once, against one alone.

Target (PostgreSQL): 8 processes, each making ``--samples`` (N, default 2,000)
``kit.record`` calls into customers of its own with distinct external ids, record at
least 3x as many interactions per second in all as one process doing the same alone.
The same figure for SQLite (a scratch copy of the cached SQLite store in
``benchmarks/out``) is measured next to it; SQLite lets one writer in at a time, so it
has no target and its number is reported as it comes out.

Each process opens its own kit (one connection), records 20 warm-up interactions,
writes a ready file and polls for a go file. When all are ready the parent takes the
time (``CLOCK_MONOTONIC``, one clock for all processes) and creates the go file; each
process reports when it finished. The wall time runs from go to the last finish, the
throughput is all recorded interactions over it. A process still running after
``--timeout`` seconds (default 120) is killed and the run counts as failed. Solo and
concurrent runs alternate (``--rounds 2``: solo, 8, 8, solo); each figure is the median
of its rounds. During every run the script also takes the machine's CPU use from
``/proc/stat`` and the recording processes' own CPU time, to show whether the cores
were the limit.

The PostgreSQL side writes into the cached PostgreSQL store (see ``_pg.py``) and
deletes its rows afterwards.

    python benchmarks/bench_concurrency.py            # 100k customers / 1M interactions
    python benchmarks/bench_concurrency.py --quick    # smoke run (N=200)
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from _common import (
    REGION,
    copy_store,
    ensure_store,
    load_customers,
    parse_options,
    remove_database,
    report,
    say,
    url_of,
    verdict,
)

TARGET = 3.0
WARMUP = 20
POLL_S = 0.0005
READY_TIMEOUT_S = 120.0
BACKENDS = ("postgresql", "sqlite")


# the recording process ------------------------------------------------------------------


def worker(spec_path: str) -> None:
    """One recording process: warm up, report ready, wait for go, record, report."""
    from bench_record import make_inputs

    from omnikit import Omnikit

    spec = json.loads(Path(spec_path).read_text())
    n = spec["n"]
    inputs = make_inputs(spec["customers"], WARMUP + n, spec["prefix"], random.Random(spec["seed"]))
    result: dict[str, Any] = {"done": 0, "error": None}
    with Omnikit(spec["url"], default_region=REGION) as kit:
        record = kit.record

        def run(chunk: list[tuple[str, str, str, str, str, str]]) -> None:
            for customer, channel, direction, kind, text, external_id in chunk:
                record(
                    customer=customer,
                    channel=channel,
                    direction=direction,  # type: ignore[arg-type]
                    kind=kind,
                    text=text,
                    external_id=external_id,
                )
                result["done"] += 1

        run(inputs[:WARMUP])
        result["done"] = 0
        Path(spec["ready"]).touch()
        go = Path(spec["go"])
        while not go.exists():
            time.sleep(POLL_S)
        cpu0 = time.process_time()
        try:
            run(inputs[WARMUP:])
        except Exception as error:  # reported to the parent, which fails the run
            result["error"] = f"{type(error).__name__}: {error}"
        result["finish_ns"] = time.monotonic_ns()
        result["cpu_s"] = time.process_time() - cpu0
    Path(spec["result"]).write_text(json.dumps(result))


# the parent ------------------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from ``/proc/stat``."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # without guest time, which is already in user
    return total - idle, total


def run_once(
    url: str,
    label: str,
    slices: list[list[str]],
    n: int,
    timeout: float,
    directory: Path,
) -> dict[str, Any]:
    """Start ``len(slices)`` recording processes together; return the run's figures."""
    processes = len(slices)
    go = directory / f"{label}.go"
    specs = []
    for p, customers in enumerate(slices):
        spec = {
            "url": url,
            "customers": customers,
            "n": n,
            "seed": zlib.crc32(f"{label}-p{p}".encode()),
            "prefix": f"bench-{label}-p{p}",
            "ready": str(directory / f"{label}-p{p}.ready"),
            "go": str(go),
            "result": str(directory / f"{label}-p{p}.json"),
        }
        path = directory / f"{label}-p{p}.spec.json"
        path.write_text(json.dumps(spec))
        specs.append((spec, path))
    procs = []
    for spec, path in specs:
        log = Path(spec["result"]).with_suffix(".log").open("w")
        procs.append(
            subprocess.Popen(
                [sys.executable, __file__, "--worker", str(path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(Path(spec["ready"]).exists() for spec, _ in specs):
            failed = [p.args for p in procs if p.poll() is not None]
            if failed or time.monotonic() > deadline:
                raise RuntimeError(f"{label}: a process did not get ready; see {directory}")
            time.sleep(0.01)
        load = os.getloadavg()[0]
        busy0, total0 = cpu_ticks()
        go_ns = time.monotonic_ns()
        go.touch()
        deadline = time.monotonic() + timeout
        killed = 0
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                killed += 1
        busy1, total1 = cpu_ticks()
    finally:
        for proc in procs:  # only on an error above: these are our own children
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = []
    for spec, _ in specs:
        path = Path(spec["result"])
        results.append(json.loads(path.read_text()) if path.exists() else None)
    done = sum(r["done"] for r in results if r)
    errors = [r["error"] for r in results if r and r["error"]]
    finished = [r for r in results if r and r.get("finish_ns")]
    ok = not killed and not errors and len(finished) == processes and done == n * processes
    wall_s = (max(r["finish_ns"] for r in finished) - go_ns) / 1e9 if finished else timeout
    if not ok:
        for spec, _ in specs:
            log = Path(spec["result"]).with_suffix(".log")
            tail = log.read_text().strip().splitlines()[-3:] if log.exists() else []
            if tail:
                say(f"  {log.name}: " + " | ".join(tail))
    per_process_s = sorted(round((r["finish_ns"] - go_ns) / 1e9, 3) for r in finished)
    cores = os.cpu_count() or 1
    run = {
        "label": label,
        "processes": processes,
        "per_process": n,
        "recorded": done,
        "wall_s": round(wall_s, 3),
        "rows_per_s": round(done / wall_s) if ok and wall_s else 0,
        "ok": ok,
        "killed": killed,
        "errors": errors[:3],
        "per_process_s": per_process_s,
        "machine_cpu_busy": round((busy1 - busy0) / max(1, total1 - total0), 3),
        "recording_cpu_s": round(sum(r["cpu_s"] for r in finished), 2),
        "recording_cpu_share": round(
            sum(r["cpu_s"] for r in finished) / (wall_s * cores) if ok and wall_s else 0, 3
        ),
        "load_at_go": round(load, 2),
    }
    state = "ok" if ok else f"FAILED (killed {killed}, errors {errors[:1]})"
    say(
        f"  {label:28} {processes} x {n:,}: {done:>6,} in {wall_s:6.2f} s = "
        f"{run['rows_per_s']:>6,}/s  cpu busy {run['machine_cpu_busy']:.0%} "
        f"(recording processes {run['recording_cpu_share']:.0%})  load {load:.1f}  {state}"
    )
    return run


def measure(
    backend: str,
    url: str,
    ids: list[str],
    n: int,
    processes: int,
    rounds: int,
    timeout: float,
    directory: Path,
) -> dict[str, Any]:
    """Solo and concurrent runs, alternating (solo, N, N, solo, …); the figures."""
    ids = list(ids)
    random.Random(7).shuffle(ids)
    slots = rounds * (1 + processes)
    per_slot = max(1, min(200, len(ids) // slots))
    slot = 0

    def next_slices(count: int) -> list[list[str]]:
        nonlocal slot
        out = []
        for _ in range(count):
            out.append(ids[slot * per_slot : (slot + 1) * per_slot])
            slot += 1
        return out

    say(f"{backend}: {per_slot} customers of its own per process")
    runs: dict[str, list[dict[str, Any]]] = {"solo": [], "concurrent": []}
    for r in range(rounds):
        order = ("solo", "concurrent") if r % 2 == 0 else ("concurrent", "solo")
        for mode in order:
            count = 1 if mode == "solo" else processes
            label = f"{backend}-r{r}-{mode}"
            runs[mode].append(run_once(url, label, next_slices(count), n, timeout, directory))
    all_ok = all(run["ok"] for mode in runs.values() for run in mode)
    solo = statistics.median(run["rows_per_s"] for run in runs["solo"])
    concurrent = statistics.median(run["rows_per_s"] for run in runs["concurrent"])
    ratio = concurrent / solo if solo and all_ok else 0.0
    return {
        "solo_rows_per_s": round(solo),
        "concurrent_rows_per_s": round(concurrent),
        "ratio": round(ratio, 3),
        "all_runs_ok": all_ok,
        "runs": runs,
    }


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return
    from _pg import add_pg_option, ensure_pg_store, reset_pg_store, server_info, unreachable

    def options(parser: Any) -> None:
        add_pg_option(parser)
        parser.add_argument("--processes", type=int, default=8, help="concurrent processes (8)")
        parser.add_argument("--rounds", type=int, default=2, help="solo/concurrent rounds (2)")
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds per run (120)")
        parser.add_argument(
            "--backends",
            default=",".join(BACKENDS),
            help="comma-separated: postgresql, sqlite (default both)",
        )

    sizes, args = parse_options(
        __doc__.splitlines()[0], full_samples=2_000, quick_samples=200, configure=options
    )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    n = sizes.samples
    figures: dict[str, Any] = {}
    postgresql: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="omnikit-concurrency-") as tmp:
        directory = Path(tmp)
        if "postgresql" in backends:
            problem = unreachable(args.pg_url)
            if problem:
                raise SystemExit(f"no PostgreSQL at the --pg-url ({problem})")
            url, _ = ensure_pg_store(args.pg_url, sizes.customers, sizes.interactions)
            postgresql = server_info(url)
            from _pg import raw_pg_connect

            with raw_pg_connect(url, autocommit=True) as connection:
                ids = [str(r[0]) for r in connection.execute("SELECT id FROM customers")]
            try:
                figures["postgresql"] = measure(
                    "postgresql", url, ids, n, args.processes, args.rounds, args.timeout, directory
                )
            finally:
                reset_pg_store(url)
        if "sqlite" in backends:
            source = ensure_store(sizes.customers, sizes.interactions)
            path = copy_store(source, "write-concurrency.db")
            try:
                ids = [customer_id for customer_id, _ in load_customers(path)]
                figures["sqlite"] = measure(
                    "sqlite",
                    url_of(path),
                    ids,
                    n,
                    args.processes,
                    args.rounds,
                    args.timeout,
                    directory,
                )
            finally:
                remove_database(path)

    say()
    say(
        f"figure c: {args.processes} processes x {n:,} kit.record calls at once vs 1 process "
        f"alone ({args.rounds} rounds each; {os.cpu_count()} CPUs shared with the database)"
    )
    say(f"  {'':12}{'1 process':>12}{f'{args.processes} processes':>15}{'ratio':>8}")
    passed = None
    for backend, f in figures.items():
        target = ""
        if backend == "postgresql":
            passed = f["ratio"] >= TARGET
            target = f"  target >= {TARGET:.0f}x  {verdict(passed)}"
        say(
            f"  {backend:12}{f['solo_rows_per_s']:>10,}/s{f['concurrent_rows_per_s']:>13,}/s"
            f"{f['ratio']:>7.2f}x{target}"
            + ("" if f["all_runs_ok"] else "  (a run failed or was killed)")
        )
    report(
        "concurrency",
        sizes,
        {
            "postgresql": postgresql,
            "processes": args.processes,
            "per_process": n,
            "rounds": args.rounds,
            "timeout_s": args.timeout,
            "figures": figures,
            "ratio": figures["postgresql"]["ratio"] if "postgresql" in figures else None,
            "target": f"postgresql: {args.processes} processes >= {TARGET}x one process",
            "pass": bool(passed),
        },
    )


if __name__ == "__main__":
    main()
