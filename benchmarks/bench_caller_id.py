"""Caller ID: ``kit.caller_id(number)`` of a known number, card included.

Target, at 100k customers / 1M interactions on SQLite: p99 at most 2 ms. Printed next
to it, in the same run and in turns of 50 calls, the raw baseline: a plain ``sqlite3``
look-up of the identity by its E.164 value followed by the five queries a card needs
(customer, identities, 20 newest interactions, open cases, per-channel summary), with
the number already normalised. Every sample is a random customer's number as the
phone system passes it (national format, ``06 1000 0042``) — the normalisation cache
is cleared first, so each number is parsed once in the measured run.

    python benchmarks/bench_caller_id.py            # 100k customers / 1M interactions
    python benchmarks/bench_caller_id.py --quick    # smoke run
"""

from __future__ import annotations

import random

import phonenumbers
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
from omnikit.identity import _phone

P99_LIMIT_US = 2_000.0
BLOCK = 50

RAW_QUERIES = (
    "SELECT * FROM customers WHERE id = ?",
    "SELECT * FROM identities WHERE customer_id = ? ORDER BY first_seen_at, id",
    "SELECT * FROM interactions WHERE customer_id = ? ORDER BY occurred_at DESC, id DESC LIMIT 20",
    "SELECT * FROM cases WHERE customer_id = ? AND status IN ('new', 'open', 'pending') "
    "ORDER BY created_at DESC, id DESC LIMIT 1000",
    "SELECT channel, count(*), max(occurred_at) FROM interactions WHERE customer_id = ? "
    "GROUP BY channel ORDER BY max(occurred_at) DESC, channel",
)


def main() -> None:
    sizes = parse_sizes(__doc__ or "", full_samples=10_000, quick_samples=500)
    path = ensure_store(sizes.customers, sizes.interactions)
    people = load_customers(path)
    rng = random.Random(7)
    picks = [rng.choice(people) for _ in range(sizes.samples)]
    e164 = {raw: phonenumbers.format_number(phonenumbers.parse(raw, REGION), 0) for _, raw in picks}
    with Omnikit(url_of(path), default_region=REGION) as kit, raw_connect(path) as raw:

        def omnikit_side(number: str) -> str:
            return kit.caller_id(number).status

        def raw_side(number: str) -> str:
            row = raw.execute(
                "SELECT customer_id FROM identities WHERE kind = 'phone' AND scope = '' "
                "AND value = ?",
                (e164[number],),
            ).fetchone()
            raw.execute("BEGIN")
            for query in RAW_QUERIES:
                raw.execute(query, (row[0],)).fetchall()
            raw.execute("COMMIT")
            return "known"

        for _, number in picks[:200]:  # warm up both sides on numbers not measured
            omnikit_side(number)
            raw_side(number)
        _phone.cache_clear()
        numbers = [number for _, number in picks]
        out = interleave({"caller_id": (omnikit_side, numbers), "raw": (raw_side, numbers)}, BLOCK)
    assert set(out["caller_id"][1]) == {"known"}, "every sampled number is a known customer"
    kit_us, raw_us = summary_us(out["caller_id"][0]), summary_us(out["raw"][0])
    ok = kit_us["p99_us"] <= P99_LIMIT_US
    say(f"caller_id: {sizes.customers:,} customers, {sizes.interactions:,} interactions")
    say("                                   p50 µs   p99 µs")
    say(f"  kit.caller_id (card included)  {kit_us['p50_us']:8.1f} {kit_us['p99_us']:8.1f}")
    say(f"  raw look-up + 5 card queries   {raw_us['p50_us']:8.1f} {raw_us['p99_us']:8.1f}")
    say(
        f"  p99 {kit_us['p99_us']:.0f} µs  target <= {P99_LIMIT_US:.0f} µs  {verdict(ok)}   "
        f"(ratio p99 {kit_us['p99_us'] / raw_us['p99_us']:.1f}x raw)"
    )
    report(
        "caller_id",
        sizes,
        {"caller_id": kit_us, "raw": raw_us, "target_p99_us": P99_LIMIT_US, "pass": ok},
    )


if __name__ == "__main__":
    main()
