"""Figure 3: ``kit.customers.identify(phone=...)`` of a known customer.

Target: p50 at most 3x the p50 of ``phonenumbers.parse`` + ``phonenumbers.format_number
(E164)`` alone, measured in the same run on distinct numbers of the same form.

omnikit caches phone normalisation (LRU caches in ``omnikit.identity``: ``_phone_key``
for look-ups, which identify uses, and ``_phone`` for ``normalize_phone``), so a number
seen before skips the parse. The comparison with the target uses identify on numbers
whose normalisation is NOT cached: both caches are cleared after warming up and every
measured call uses a customer's number for the first time. The cached case (numbers
normalised once before with ``phone_key``, so that only the normalisation is cached,
not the store's pages) is reported too, as is a second baseline that adds
``phonenumbers.is_valid_number``, which omnikit calls on a number it is about to store
or did not find (a known customer's number skips it).

Each sample times one call with ``time.perf_counter_ns``. Uncached identify, cached
identify and the baselines take turns in blocks of 50 calls (rotating which goes
first), each on its own set of the store's numbers (the cached set normalised once
beforehand), so all see the same machine noise and the baseline parses no number
twice.

    python benchmarks/bench_identify.py            # 100k customers / 1M interactions
    python benchmarks/bench_identify.py --quick    # smoke run
"""

from __future__ import annotations

import random
import time

import phonenumbers
from _common import (
    REGION,
    ensure_store,
    interleave,
    load_customers,
    parse_sizes,
    report,
    say,
    summary_us,
    url_of,
    verdict,
)

from omnikit import Omnikit
from omnikit.identity import _phone, _phone_key, phone_key

TARGET = 3.0
WARMUP = 1_000
BLOCK = 50
E164 = phonenumbers.PhoneNumberFormat.E164


def parse_format(raw: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(raw, REGION), E164)


def parse_validate_format(raw: str) -> str:
    number = phonenumbers.parse(raw, REGION)
    assert phonenumbers.is_valid_number(number)
    return phonenumbers.format_number(number, E164)


def main() -> None:
    sizes = parse_sizes(__doc__.splitlines()[0], full_samples=10_000, quick_samples=200)
    path = ensure_store(sizes.customers, sizes.interactions)
    age_h = (time.time() - path.with_suffix(".json").stat().st_mtime) / 3600
    if age_h > 20:  # identify writes last_seen_at once a day: then it is no longer a read
        say(
            f"WARNING: the store was built {age_h:.0f} h ago; identify may write the "
            "identities' last_seen_at (once a day) and measure a write. Delete the store "
            "(and its .json) to rebuild it."
        )
    customers = load_customers(path)
    random.Random(3).shuffle(customers)
    warmup = min(WARMUP, len(customers) // 10)
    n = sizes.samples
    if warmup + 3 * n > len(customers):
        raise SystemExit(f"--samples {n} needs {warmup + 3 * n:,} customers in the store")
    warm = customers[:warmup]
    uncached_set = customers[warmup : warmup + n]
    cached_set = customers[warmup + n : warmup + 2 * n]
    baseline_numbers = [raw for _, raw in customers[warmup + 2 * n : warmup + 3 * n]]

    with Omnikit(url_of(path), default_region=REGION) as kit:
        identify = kit.customers.identify
        for customer_id, raw in warm:
            assert identify(phone=raw).id == customer_id
            parse_format(raw)
            parse_validate_format(raw)
        _phone.cache_clear()
        _phone_key.cache_clear()
        for _, raw in cached_set:  # normalised once: cached, but their rows stay unread
            phone_key(raw, REGION)

        runs = interleave(
            {
                "uncached": (lambda raw: identify(phone=raw).id, [r for _, r in uncached_set]),
                "cached": (lambda raw: identify(phone=raw).id, [r for _, r in cached_set]),
                "baseline": (parse_format, baseline_numbers),
                "reference": (parse_validate_format, baseline_numbers),
            },
            BLOCK,
        )
        info = _phone_key.cache_info()
        checked = _phone.cache_info()
    # every uncached number missed the cache once, every cached one missed once and hit once
    assert info.misses == 2 * n and info.hits == n, info
    assert checked.misses == checked.hits == 0, checked  # no validity check: all were known
    assert runs["uncached"][1] == [c for c, _ in uncached_set], "identify found someone else"
    assert runs["cached"][1] == [c for c, _ in cached_set], "identify found someone else"
    uncached_ns, cached_ns = runs["uncached"][0], runs["cached"][0]
    base_ns, valid_ns = runs["baseline"][0], runs["reference"][0]

    base = summary_us(base_ns)
    valid = summary_us(valid_ns)
    uncached = summary_us(uncached_ns)
    cached = summary_us(cached_ns)
    ratio = uncached["p50_us"] / base["p50_us"]
    cached_ratio = cached["p50_us"] / base["p50_us"]
    say()
    say(
        f"figure 3: kit.customers.identify(phone=...) of a known customer, "
        f"{sizes.customers:,} customers, {sizes.samples:,} samples"
    )
    say(f"  {'':44}{'p50 µs':>9}{'p99 µs':>9}")
    for label, s in (
        ("identify, normalisation NOT cached", uncached),
        ("identify, normalisation cached", cached),
        ("baseline: parse + format_number(E164)", base),
        ("reference: parse + is_valid + format", valid),
    ):
        say(f"  {label:44}{s['p50_us']:>9.1f}{s['p99_us']:>9.1f}")
    say(
        f"  ratio p50 uncached/baseline {ratio:.2f}x  target <= {TARGET}x  "
        f"{verdict(ratio <= TARGET)}   (cached/baseline {cached_ratio:.2f}x)"
    )
    report(
        "identify",
        sizes,
        {
            "identify_uncached": uncached,
            "identify_cached": cached,
            "baseline_parse_format": base,
            "reference_parse_validate_format": valid,
            "ratio_p50_uncached": round(ratio, 3),
            "ratio_p50_cached": round(cached_ratio, 3),
            "target": f"p50 uncached <= {TARGET}x baseline p50",
            "pass": ratio <= TARGET,
        },
    )


if __name__ == "__main__":
    main()
