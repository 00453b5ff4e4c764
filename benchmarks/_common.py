"""Shared helpers for the benchmark scripts: options, the cached store, raw connections,
statistics and the result report.

The store every benchmark reads is built once per size and cached as
``benchmarks/out/store-c{customers}-i{interactions}.db`` (``benchmarks/out/`` is
ignored by git). It is built through omnikit's public API: customers with
``kit.customers.identify`` (one call per customer, each a Dutch mobile number written
``06 1000 0042``), interactions with ``kit.record_many`` in batches of 5,000 spread over
a year, random customers, channels and directions. Delete the file to rebuild it.

The raw baselines use a plain ``sqlite3`` connection on the same file, set up by
omnikit's own connection setup (WAL, ``synchronous=NORMAL``, ``secure_delete=ON``,
foreign keys on, the same busy timeout), so that a ratio measures omnikit's own
overhead and nothing else.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from omnikit import Omnikit
from omnikit.errors import StoreError
from omnikit.store.sqlite import _configure  # omnikit's connection setup, for the baselines

OUT = Path(os.environ.get("OMNIKIT_BENCH_OUT") or Path(__file__).resolve().parent / "out")
"""Where stores and results go; ``OMNIKIT_BENCH_OUT`` moves them (to a RAM disk, say)."""

FULL_CUSTOMERS = 100_000
FULL_INTERACTIONS = 1_000_000
QUICK_CUSTOMERS = 1_000
QUICK_INTERACTIONS = 10_000

BUILD_BATCH = 5_000
"""Interactions per ``kit.record_many`` call while building the store."""

REGION = "NL"

LOAD_AT_START = os.getloadavg()
"""The 1-minute load average when the benchmark started: other work on the machine."""
STARTED = datetime.now(UTC)

# (channel, kind, text) of the interactions the builder and the write benchmarks record.
MESSAGES: tuple[tuple[str, str, str], ...] = (
    ("whatsapp", "message", "Hi, where is my order 10023? It was due yesterday."),
    ("sms", "message", "Your parcel is on its way and arrives tomorrow between 9 and 12."),
    ("email", "message", "Thank you for your return; the refund follows within 5 days."),
    ("phone", "call", "Asked about delivery costs to Belgium; explained the rates."),
    ("webchat", "message", "Can I change the delivery address of my order?"),
    ("store", "visit", "Picked up a repaired coffee machine at the Utrecht store."),
)
DIRECTIONS = ("inbound", "inbound", "outbound")


# options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    customers: int
    interactions: int
    samples: int
    quick: bool


def parse_sizes(description: str, full_samples: int, quick_samples: int) -> Sizes:
    """The common command line: ``--customers``, ``--interactions``, ``--samples``, ``--quick``."""
    return parse_options(description, full_samples, quick_samples)[0]


def parse_options(
    description: str,
    full_samples: int,
    quick_samples: int,
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[Sizes, argparse.Namespace]:
    """``parse_sizes`` plus the options ``configure`` adds; returns both."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--customers", type=int, help=f"customers in the store (default {FULL_CUSTOMERS:,})"
    )
    parser.add_argument(
        "--interactions",
        type=int,
        help=f"interactions in the store (default {FULL_INTERACTIONS:,})",
    )
    parser.add_argument(
        "--samples", type=int, help=f"measurements per side (default {full_samples:,})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_CUSTOMERS:,} customers, {QUICK_INTERACTIONS:,} interactions, "
        f"{quick_samples:,} samples (explicit options still win)",
    )
    if configure is not None:
        configure(parser)
    args = parser.parse_args()
    quick = bool(args.quick)
    sizes = Sizes(
        customers=args.customers or (QUICK_CUSTOMERS if quick else FULL_CUSTOMERS),
        interactions=args.interactions or (QUICK_INTERACTIONS if quick else FULL_INTERACTIONS),
        samples=args.samples or (quick_samples if quick else full_samples),
        quick=quick,
    )
    return sizes, args


# the store ---------------------------------------------------------------------------------


def phone_of(k: int) -> str:
    """The phone number of the ``k``-th customer as an application receives it:
    a Dutch mobile number in national format (``06 1000 0042``), region NL."""
    n = 10_000_000 + k
    return f"06 {n // 10_000:04d} {n % 10_000:04d}"


def store_path(customers: int, interactions: int) -> Path:
    return OUT / f"store-c{customers}-i{interactions}.db"


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def ensure_store(customers: int, interactions: int) -> Path:
    """The cached store of this size, built first when it is not there yet."""
    path = store_path(customers, interactions)
    if path.exists():
        info = json.loads(path.with_suffix(".json").read_text())
        say(
            f"store: {path.name} (cached; built in {info['total_s']:.0f} s at omnikit "
            f"{info.get('omnikit', '?')})"
        )
        try:  # upgrades the schema when this omnikit is newer, as any application would
            Omnikit(url_of(path)).close()
        except StoreError as error:
            raise SystemExit(
                f"the cached store {path} cannot be opened by this omnikit ({error}); "
                "delete it (and its .json) to rebuild it"
            ) from None
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    remove_database(building)
    say(f"store: building {path.name} …")
    info = _build(building, customers, interactions)
    with raw_connect(building) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    remove_database(building, keep_main=True)
    building.rename(path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return path


def _build(path: Path, customers: int, interactions: int) -> dict[str, Any]:
    rng = random.Random(20_240_601)
    started = time.perf_counter()
    with Omnikit(url_of(path), default_region=REGION) as kit:
        ids: list[str] = []
        t0 = time.perf_counter()
        for k in range(customers):
            ids.append(kit.customers.identify(phone=phone_of(k), name=f"Customer {k}").id)
            if (k + 1) % 20_000 == 0:
                say(f"  {k + 1:,} customers")
        customers_s = time.perf_counter() - t0
        say(
            f"  customers: {customers:,} kit.customers.identify calls in {customers_s:.1f} s "
            f"({customers_s / customers * 1e6:.0f} µs each)"
        )
        end = datetime(2025, 6, 1, tzinfo=UTC)
        year_us = 365 * 86_400 * 1_000_000
        t0 = time.perf_counter()
        done = 0
        while done < interactions:
            batch = []
            for i in range(done, min(done + BUILD_BATCH, interactions)):
                channel, kind, text = rng.choice(MESSAGES)
                batch.append(
                    {
                        "customer": rng.choice(ids),
                        "channel": channel,
                        "direction": rng.choice(DIRECTIONS),
                        "kind": kind,
                        "text": text,
                        "occurred_at": end - timedelta(microseconds=rng.randrange(year_us)),
                        "external_id": f"build-{i}",
                    }
                )
            kit.record_many(batch)
            done += len(batch)
            if done % 200_000 == 0:
                say(f"  {done:,} interactions")
        interactions_s = time.perf_counter() - t0
        say(
            f"  interactions: {interactions:,} via kit.record_many (batches of {BUILD_BATCH:,}) "
            f"in {interactions_s:.1f} s ({interactions / interactions_s:,.0f} rows/s)"
        )
    return {
        "customers": customers,
        "interactions": interactions,
        "customers_method": "kit.customers.identify, one call per customer",
        "customers_s": round(customers_s, 2),
        "identify_create_us": round(customers_s / customers * 1e6, 1),
        "interactions_method": f"kit.record_many, batches of {BUILD_BATCH}",
        "interactions_s": round(interactions_s, 2),
        "total_s": round(time.perf_counter() - started, 2),
        "omnikit": _git_revision(),
        "load_at_end": round(os.getloadavg()[0], 2),
    }


def remove_database(path: Path, *, keep_main: bool = False) -> None:
    """Remove an SQLite file and its ``-wal``/``-shm`` companions."""
    for suffix in ("-wal", "-shm") if keep_main else ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def copy_store(source: Path, name: str) -> Path:
    """A scratch copy of a (checkpointed) store for benchmarks that write."""
    target = OUT / name
    remove_database(target)
    shutil.copyfile(source, target)
    return target


def load_customers(path: Path) -> list[tuple[str, str]]:
    """``(customer id, phone as written)`` of every customer in the store."""
    with raw_connect(path) as connection:
        rows = connection.execute(
            "SELECT customer_id, raw FROM identities WHERE kind = 'phone' ORDER BY customer_id"
        ).fetchall()
    return [(str(customer_id), str(raw)) for customer_id, raw in rows]


@contextmanager
def raw_connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain ``sqlite3`` connection in autocommit mode with omnikit's file settings.

    The settings are applied by omnikit's own connection setup
    (``omnikit.store.sqlite._configure``), so that a baseline always runs with exactly
    the settings omnikit runs with; ``sqlite_settings`` reads them back for the report.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        configure_sqlite(connection)
        yield connection
    finally:
        connection.close()


def configure_sqlite(connection: sqlite3.Connection) -> None:
    """Give a plain ``sqlite3`` connection omnikit's settings (driver autocommit too)."""
    _configure(connection, memory=False)


SQLITE_SETTINGS = (
    "journal_mode",
    "synchronous",
    "secure_delete",
    "foreign_keys",
    "busy_timeout",
    "page_size",
    "cache_size",
)


def sqlite_settings(connection: sqlite3.Connection) -> dict[str, Any]:
    """The settings that matter for the figures, as the connection reports them."""
    return {name: connection.execute(f"PRAGMA {name}").fetchone()[0] for name in SQLITE_SETTINGS}


INTERACTION_COLUMNS = (
    "id",
    "customer_id",
    "channel",
    "direction",
    "kind",
    "occurred_at",
    "recorded_at",
    "text",
    "subject",
    "attachments",
    "external_id",
    "case_id",
    "agent",
    "purpose",
    "status",
    "metadata",
)
RAW_INSERT = (
    f"INSERT INTO interactions ({', '.join(INTERACTION_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INTERACTION_COLUMNS[:11])}, NULL, NULL, NULL, NULL, NULL)"
)
"""The raw baselines' insert: every column named, the eleven a message fills as
positional parameters, the other five (case, agent, purpose, status, metadata) NULL as
omnikit stores them for such a record; no conflict clause."""

_raw_ids = itertools.count()


def raw_row(
    customer: str, channel: str, direction: str, kind: str, text: str, external_id: str
) -> tuple[object, ...]:
    """One row for ``RAW_INSERT`` with what omnikit fills in for its caller: a
    time-ordered 36-character id (as omnikit's UUIDv7 ids are) and the two instants."""
    row_id = str(uuid.UUID(int=time.time_ns() << 64 | next(_raw_ids)))
    now = time.time_ns() // 1000
    return (row_id, customer, channel, direction, kind, now, now, text, None, None, external_id)


# measuring -----------------------------------------------------------------------------------


def interleave(
    sides: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]], block: int
) -> dict[str, tuple[list[int], list[Any]]]:
    """Time each side's function once per input, one call per sample.

    The sides take turns in blocks of ``block`` calls (each block round in a rotated
    order), so that all see the same machine noise while each still runs in the steady
    state of a loop of its own calls. Returns per side the nanosecond samples and the
    return values, in input order.
    """
    clock = time.perf_counter_ns
    names = list(sides)
    out: dict[str, tuple[list[int], list[Any]]] = {name: ([], []) for name in names}
    longest = max(len(inputs) for _, inputs in sides.values())
    for round_, start in enumerate(range(0, longest, block)):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            function, inputs = sides[name]
            samples, results = out[name]
            for value in inputs[start : start + block]:
                t0 = clock()
                result = function(value)
                samples.append(clock() - t0)
                results.append(result)
    return out


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p90, p99, mean and max of nanosecond samples, in microseconds."""
    us = [s / 1000 for s in samples_ns]
    return {
        "n": len(us),
        "p50_us": round(percentile(us, 50), 2),
        "p90_us": round(percentile(us, 90), 2),
        "p99_us": round(percentile(us, 99), 2),
        "mean_us": round(statistics.fmean(us), 2),
        "max_us": round(max(us), 2),
    }


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "load_at_start": round(LOAD_AT_START[0], 2),
        "load_at_end": round(os.getloadavg()[0], 2),
        "omnikit": _git_revision(),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": version("SQLAlchemy"),
        "phonenumbers": version("phonenumbers"),
        "pydantic": version("pydantic"),
        "sqlite_settings": _omnikit_sqlite_settings(),
        "cpu_probe_ms": cpu_probe_ms(),
    }


def cpu_probe_ms() -> float:
    """A fixed piece of pure Python (best of five, in ms): on a shared virtual machine the
    speed of the CPU itself varies, and this shows by how much between runs."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for i in range(200_000):
            total += i * i
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def _omnikit_sqlite_settings() -> dict[str, Any]:
    """The settings omnikit (and so every raw baseline) gives an SQLite file connection."""
    with tempfile.TemporaryDirectory() as directory, raw_connect(Path(directory) / "s.db") as c:
        return sqlite_settings(c)


def _git_revision() -> str:
    """The commit of the omnikit checkout, with ``+dirty`` when ``src/`` has changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+dirty" if dirty else head


# reporting -----------------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(name: str, sizes: Sizes, result: dict[str, Any]) -> None:
    """Print the machine line, store ``result`` as ``out/result-{name}-c…-i….json`` and
    append it to ``out/history.jsonl`` (every run, for comparing repeated runs)."""
    result = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "sizes": sizes.__dict__,
        "machine": machine(),
        "started": STARTED.isoformat(timespec="seconds"),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        **result,
    }
    m = result["machine"]
    say(
        f"machine: nproc={m['nproc']} python {m['python']} sqlite {m['sqlite']} "
        f"SQLAlchemy {m['sqlalchemy']} phonenumbers {m['phonenumbers']} "
        f"omnikit {m['omnikit']}; load {m['load_at_start']:.2f} -> {m['load_at_end']:.2f}; "
        f"cpu probe {m['cpu_probe_ms']:.1f} ms"
        + (
            f"; PostgreSQL SELECT 1 p50 {result['postgresql']['select1_p50_us']:.0f} µs"
            if result.get("postgresql")
            else ""
        )
    )
    OUT.mkdir(parents=True, exist_ok=True)
    suffix = f"-c{sizes.customers}-i{sizes.interactions}"
    (OUT / f"result-{name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    with (OUT / "history.jsonl").open("a") as history:
        history.write(json.dumps(result) + "\n")
