"""Merge and unmerge: two customers with 1,000 interactions each.

Target: ``kit.customers.merge`` at most 100 ms and ``kit.customers.unmerge`` at most
100 ms, on SQLite and on PostgreSQL. The verdict is on the median of the rounds (the
machine is shared and noisy); the slowest round is printed next to it. Printed next
to each, in the same run, the raw baseline: moving the same 1,000 interactions (and
the identities) to the other customer with plain ``UPDATE … WHERE id = ?`` statements
in one transaction, which is the least a merge must write.

Each round builds a fresh pair (through ``record_many``) in a store of its own, then
times merge and unmerge; the raw side moves the rows of another fresh pair.

    python benchmarks/bench_merge.py                 # SQLite file and PostgreSQL
    python benchmarks/bench_merge.py --quick         # fewer rounds
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import OUT, parse_options, remove_database, report, say, verdict
from _pg import add_pg_option, libpq_url, raw_pg_connect, unreachable

from omnikit import Omnikit

LIMIT_MS = 100.0
PER_CUSTOMER = 1_000


def _pair(kit: Omnikit, round_: int) -> tuple[str, str]:
    ids = []
    for who in ("keep", "other"):
        customer = kit.customers.identify(email=f"{who}-{round_}@example.nl", name=who)
        kit.record_many(
            {
                "customer": customer.id,
                "channel": ("email", "phone", "webshop", "sms")[n % 4],
                "direction": "inbound",
                "kind": "message",
                "text": f"message {n} of {who}",
                "external_id": f"{who}-{round_}-{n}",
            }
            for n in range(PER_CUSTOMER)
        )
        ids.append(customer.id)
    return ids[0], ids[1]


def _raw_move(url: str, kit: Omnikit, other: str, keep: str) -> float:
    """Seconds to move ``other``'s rows to ``keep`` with plain UPDATEs, one transaction."""
    if url.startswith("sqlite"):
        import sqlite3

        connection: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        mark = "?"
    else:
        connection = raw_pg_connect(url)
        mark = "%s"
    cursor = connection.cursor()
    rows = cursor.execute(
        f"SELECT id FROM interactions WHERE customer_id = {mark}", (other,)
    ).fetchall()
    identities = cursor.execute(
        f"SELECT id FROM identities WHERE customer_id = {mark}", (other,)
    ).fetchall()
    started = time.perf_counter()
    if url.startswith("sqlite"):
        cursor.execute("BEGIN IMMEDIATE")
    for table, ids in (("interactions", rows), ("identities", identities)):
        cursor.executemany(
            f"UPDATE {table} SET customer_id = {mark} WHERE id = {mark}",
            [(keep, row[0]) for row in ids],
        )
    cursor.execute(f"UPDATE customers SET merged_into = {mark} WHERE id = {mark}", (keep, other))
    connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def _measure(url: str, rounds: int) -> dict[str, Any]:
    merge_ms, unmerge_ms, raw_ms = [], [], []
    with Omnikit(url) as kit:
        for round_ in range(rounds):
            keep, other = _pair(kit, round_)
            started = time.perf_counter()
            merge = kit.customers.merge(keep, other, reason="benchmark")
            merge_ms.append((time.perf_counter() - started) * 1000)
            assert len(merge.moved.interactions) == PER_CUSTOMER
            started = time.perf_counter()
            kit.customers.unmerge(merge.id)
            unmerge_ms.append((time.perf_counter() - started) * 1000)
            keep2, other2 = _pair(kit, 10_000 + round_)
            raw_ms.append(
                _raw_move(url if url.startswith("sqlite") else libpq_url(url), kit, other2, keep2)
                * 1000
            )

    def stats(values: list[float]) -> dict[str, float]:
        return {"median_ms": round(statistics.median(values), 2), "max_ms": round(max(values), 2)}

    return {"merge": stats(merge_ms), "unmerge": stats(unmerge_ms), "raw_move": stats(raw_ms)}


def main() -> None:
    def configure(parser: argparse.ArgumentParser) -> None:
        add_pg_option(parser)
        parser.add_argument("--rounds", type=int, help="pairs merged and unmerged (default 20)")

    sizes, args = parse_options(__doc__ or "", 20, 3, configure)
    rounds = args.rounds or (3 if sizes.quick else 20)
    backends: dict[str, Callable[[], str]] = {}
    path = OUT / "merge.db"

    def sqlite_url() -> str:
        remove_database(path)
        return f"sqlite:///{path}"

    backends["sqlite"] = sqlite_url
    problem = unreachable(args.pg_url)
    if problem is None:
        backends["postgresql"] = lambda: args.pg_url
    else:
        say(f"PostgreSQL skipped: {problem}")
    results: dict[str, Any] = {}
    for name, make_url in backends.items():
        figures = _measure(make_url(), rounds)
        ok = figures["merge"]["max_ms"] <= LIMIT_MS and figures["unmerge"]["max_ms"] <= LIMIT_MS
        results[name] = {**figures, "pass": ok}
        say(f"{name}: {rounds} pairs of customers with {PER_CUSTOMER:,} interactions each")
        for step in ("merge", "unmerge", "raw_move"):
            f = figures[step]
            say(f"  {step:<9} median {f['median_ms']:7.1f} ms   max {f['max_ms']:7.1f} ms")
        say(f"  target: merge and unmerge at most {LIMIT_MS:.0f} ms each (median)  {verdict(ok)}")
    report("merge", sizes, {"backends": results, "rounds": rounds, "limit_ms": LIMIT_MS})


if __name__ == "__main__":
    main()
