"""Figure 4: ``kit.customer_card(customer_id)`` latency.

Targets, at 100k customers / 1M interactions: p99 at most 2 ms, and at most 10x a raw
``sqlite3`` query of the same 20 newest rows::

    SELECT * FROM interactions WHERE customer_id = ? ORDER BY occurred_at DESC, id DESC
    LIMIT 20

(``fetchall()`` on a plain connection to the same file with the same settings). The
10x target is checked on p99 against the raw query's p99; the p50 ratio is reported
next to it.

Every sample picks a random existing customer (independently for each side); the sides
take turns in blocks of 50 calls, rotating which goes first, so that all see the same
machine noise. For context only, a third measurement runs the five statements the card
runs (follow merges, the customer with its identities, 20 newest interactions, open
cases, per-channel summary) raw in one read transaction, without building any objects:
the gap between it and the card is omnikit's Python.

    python benchmarks/bench_card.py            # 100k customers / 1M interactions
    python benchmarks/bench_card.py --quick    # smoke run
"""

from __future__ import annotations

import random
import sqlite3

from _common import (
    REGION,
    ensure_store,
    interleave,
    load_customers,
    parse_sizes,
    raw_connect,
    report,
    say,
    summary_us,
    url_of,
    verdict,
)

from omnikit import Omnikit

P99_LIMIT_US = 2_000.0
TARGET = 10.0
WARMUP = 1_000
LIMIT = 20
BLOCK = 50

RECENT = (
    "SELECT * FROM interactions WHERE customer_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 20"
)
CARD_QUERIES = (
    "SELECT merged_into FROM customers WHERE id = ?",
    "SELECT * FROM customers LEFT OUTER JOIN identities ON identities.customer_id = customers.id "
    "WHERE customers.id = ? ORDER BY identities.first_seen_at, identities.id",
    RECENT,
    "SELECT * FROM cases WHERE customer_id = ? AND status IN ('new', 'open', 'pending') "
    "ORDER BY created_at DESC, id DESC LIMIT 1000",
    "SELECT channel, count(*), max(occurred_at) FROM interactions WHERE customer_id = ? "
    "GROUP BY channel ORDER BY max(occurred_at) DESC, channel",
)
"""The statements a card runs, as omnikit issues them: follow merges, the customer with
its identities (one joined query), the newest interactions, open cases, the summary."""


def card_queries(connection: sqlite3.Connection) -> tuple[str, ...]:
    """``CARD_QUERIES``; without the merge step on a store older than schema 0002 (to
    compare older commits), whose cards did not follow merges."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(customers)")}
    return CARD_QUERIES if "merged_into" in columns else CARD_QUERIES[1:]


def raw_card(
    connection: sqlite3.Connection, queries: tuple[str, ...], customer_id: str
) -> list[list[tuple[object, ...]]]:
    connection.execute("BEGIN")
    try:
        return [connection.execute(sql, (customer_id,)).fetchall() for sql in queries]
    finally:
        connection.execute("COMMIT")


def main() -> None:
    sizes = parse_sizes(__doc__.splitlines()[0], full_samples=10_000, quick_samples=500)
    path = ensure_store(sizes.customers, sizes.interactions)
    ids = [customer_id for customer_id, _ in load_customers(path)]
    rng = random.Random(4)

    def samples() -> list[str]:
        return [rng.choice(ids) for _ in range(sizes.samples)]

    with Omnikit(url_of(path), default_region=REGION) as kit, raw_connect(path) as connection:
        card = kit.customer_card
        query = connection.execute
        queries = card_queries(connection)
        for _ in range(WARMUP):
            card(rng.choice(ids))
            query(RECENT, (rng.choice(ids),)).fetchall()
            raw_card(connection, queries, rng.choice(ids))
        card_ids = [rng.choice(ids) for _ in range(sizes.samples)]
        runs = interleave(
            {
                "card": (lambda customer_id: card(customer_id, limit=LIMIT), card_ids),
                "raw": (lambda customer_id: query(RECENT, (customer_id,)).fetchall(), samples()),
                "raw_card": (
                    lambda customer_id: raw_card(connection, queries, customer_id),
                    samples(),
                ),
            },
            BLOCK,
        )
    card_ns, shown = runs["card"]
    raw_ns, fetched = runs["raw"]
    raw_card_ns = runs["raw_card"][0]
    assert [c.customer.id for c in shown] == card_ids
    rows = sum(len(r) for r in fetched)

    kit_s = summary_us(card_ns)
    raw_s = summary_us(raw_ns)
    raw_card_s = summary_us(raw_card_ns)
    ratio_p99 = kit_s["p99_us"] / raw_s["p99_us"]
    ratio_p50 = kit_s["p50_us"] / raw_s["p50_us"]
    ok_abs = kit_s["p99_us"] <= P99_LIMIT_US
    ok_ratio = ratio_p99 <= TARGET
    say()
    say(
        f"figure 4: kit.customer_card, {sizes.customers:,} customers / "
        f"{sizes.interactions:,} interactions, {sizes.samples:,} random customers per side "
        f"({rows / sizes.samples:.1f} rows per raw query on average)"
    )
    say(f"  {'':40}{'p50 µs':>9}{'p99 µs':>9}")
    for label, s in (
        ("kit.customer_card", kit_s),
        ("raw sqlite3: 20 newest rows", raw_s),
        (f"context: the card's {len(queries)} statements, raw", raw_card_s),
    ):
        say(f"  {label:40}{s['p50_us']:>9.1f}{s['p99_us']:>9.1f}")
    say(f"  p99 {kit_s['p99_us']:.0f} µs  target <= {P99_LIMIT_US:.0f} µs  {verdict(ok_abs)}")
    say(
        f"  ratio p99 {ratio_p99:.2f}x  target <= {TARGET:.0f}x  {verdict(ok_ratio)}"
        f"   (ratio p50 {ratio_p50:.2f}x)"
    )
    report(
        "card",
        sizes,
        {
            "customer_card": kit_s,
            "raw_recent_20": raw_s,
            "context_raw_card_queries": raw_card_s,
            "context_statements": len(queries),
            "avg_rows_per_customer_query": round(rows / sizes.samples, 2),
            "ratio_p99": round(ratio_p99, 3),
            "ratio_p50": round(ratio_p50, 3),
            "target": f"p99 <= {P99_LIMIT_US:.0f} us and p99 <= {TARGET:.0f}x raw p99",
            "pass_p99_abs": ok_abs,
            "pass_ratio": ok_ratio,
            "pass": ok_abs and ok_ratio,
        },
    )


if __name__ == "__main__":
    main()
