"""Where omnikit spends its time on the four benchmarked paths, by ``cProfile``.

For each path it prints the own time (``tottime``) summed by where the code lives
(the ``sqlite3`` driver's C methods, SQLAlchemy, pydantic, phonenumbers, omnikit, the
standard library) and the top functions. cProfile slows Python code more than C code,
so read the shares as a guide, and the benchmarks for the figures.

    python benchmarks/profile_hot_paths.py                 # all paths, full-size store
    python benchmarks/profile_hot_paths.py --quick card    # one path, small store
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
from collections import defaultdict
from collections.abc import Callable

from _common import (
    DIRECTIONS,
    FULL_CUSTOMERS,
    FULL_INTERACTIONS,
    MESSAGES,
    QUICK_CUSTOMERS,
    QUICK_INTERACTIONS,
    REGION,
    copy_store,
    ensure_store,
    load_customers,
    remove_database,
    say,
    url_of,
)

from omnikit import Omnikit
from omnikit.identity import _phone, _phone_key

PATHS = ("record", "record_many", "identify", "identify_cached", "card")


def area(filename: str, function: str) -> str:
    """Which library a profiled function belongs to."""
    if filename == "~":
        if "sqlite3" in function:
            return "sqlite3 driver (C: SQL execution)"
        return "builtins (C)"
    for marker, name in (
        ("/sqlalchemy/", "SQLAlchemy"),
        ("/pydantic", "pydantic"),
        ("/phonenumbers/", "phonenumbers"),
        ("/omnikit/", "omnikit"),
        ("/email_validator/", "email-validator"),
    ):
        if marker in filename:
            return name
    return "standard library"


def profile(label: str, run: Callable[[], object], calls: int, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    raw_stats: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw_stats = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _, function), (_, _, tottime, _, _) in raw_stats.items():
        by_area[area(filename, function)] += tottime
        total += tottime
    say()
    say(f"== {label}: {calls:,} calls, {total / calls * 1e6:.1f} µs per call under cProfile")
    for name, seconds in sorted(by_area.items(), key=lambda item: -item[1]):
        say(f"   {seconds / total:6.1%}  {seconds / calls * 1e6:7.1f} µs/call  {name}")
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", choices=[*PATHS, []], help="default: all")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--interactions", type=int)
    parser.add_argument("--samples", type=int, help="calls per path (default 5,000)")
    parser.add_argument("--quick", action="store_true", help="small store, 500 calls")
    parser.add_argument("--top", type=int, default=15, help="functions listed per path")
    args = parser.parse_args()
    customers = args.customers or (QUICK_CUSTOMERS if args.quick else FULL_CUSTOMERS)
    interactions = args.interactions or (QUICK_INTERACTIONS if args.quick else FULL_INTERACTIONS)
    samples = args.samples or (500 if args.quick else 5_000)
    paths = args.paths or list(PATHS)

    source = ensure_store(customers, interactions)
    path = copy_store(source, "profile.db")
    people = load_customers(path)
    rng = random.Random(5)
    rng.shuffle(people)
    ids = [customer_id for customer_id, _ in people]

    def records(count: int, tag: str) -> list[dict[str, str]]:
        out = []
        for i in range(count):
            channel, kind, text = rng.choice(MESSAGES)
            out.append(
                {
                    "customer": rng.choice(ids),
                    "channel": channel,
                    "direction": rng.choice(DIRECTIONS),
                    "kind": kind,
                    "text": text,
                    "external_id": f"profile-{tag}-{i}",
                }
            )
        return out

    with Omnikit(url_of(path), default_region=REGION) as kit:
        for warm in records(200, "warm"):
            kit.record(**warm)  # type: ignore[arg-type]
        for customer_id, raw in people[:200]:
            kit.customer_card(customer_id)
            kit.customers.identify(phone=raw)
        if "record" in paths:
            batch = records(samples, "record")
            profile(
                "kit.record",
                lambda: [kit.record(**r) for r in batch],  # type: ignore[arg-type]
                samples,
                args.top,
            )
        if "record_many" in paths:
            batches = [records(1_000, f"many{b}") for b in range(max(1, samples // 1_000))]
            profile(
                "kit.record_many (per row, batches of 1,000)",
                lambda: [kit.record_many(b) for b in batches],
                len(batches) * 1_000,
                args.top,
            )
        phones = [raw for _, raw in people[200 : 200 + samples]]
        if "identify" in paths:
            _phone.cache_clear()
            _phone_key.cache_clear()
            profile(
                "kit.customers.identify, normalisation not cached",
                lambda: [kit.customers.identify(phone=raw) for raw in phones],
                len(phones),
                args.top,
            )
        if "identify_cached" in paths:
            for raw in phones:
                kit.customers.identify(phone=raw)
            profile(
                "kit.customers.identify, normalisation cached",
                lambda: [kit.customers.identify(phone=raw) for raw in phones],
                len(phones),
                args.top,
            )
        if "card" in paths:
            chosen = [rng.choice(ids) for _ in range(samples)]
            profile(
                "kit.customer_card",
                lambda: [kit.customer_card(customer_id) for customer_id in chosen],
                samples,
                args.top,
            )
    remove_database(path)


if __name__ == "__main__":
    main()
