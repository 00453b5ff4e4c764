"""SLA due times: ``BusinessHours.add(start, 2,000 business hours)``.

Target: p50 at most 50 µs (p99 reported) for a duration of about a year of business
time: Europe/Amsterdam, Monday to Friday 09:00-17:00, ten holidays a year in 2026-2029
(the Dutch public holidays and Christmas Eve), 2,000 hours (50 weeks of 40 hours, which with the
holidays ends a good year later, across two or three clock changes).

Baseline, in the same run: the day-by-day reference walker of ``tests/test_hours.py``
(``ReferenceHours``, which the property tests check ``add`` against) computing the same
due times from the same starts; every due time it computes is checked to be equal to
omnikit's. ``between(start, due)`` is measured too, on the same starts.

Starts are random instants in 2026 (any weekday and time, either side of the clock
changes), one per sample. Each sample times one call with ``time.perf_counter_ns``;
the sides take turns in blocks of 50 calls, rotating which goes first. The first call
of the process is reported on its own: it finds the clock changes of the years it
touches (once per 512 days of a zone, then cached), which later calls reuse.

    python benchmarks/bench_sla.py            # 20,000 samples, 400 for the baseline
    python benchmarks/bench_sla.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from _common import Sizes, interleave, report, say, summary_us, verdict

from omnikit.model.hours import BusinessHours

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_hours import ReferenceHours  # the baseline lives with the tests

TARGET_US = 50.0
DURATION = timedelta(hours=2_000)
WARMUP = 200
BLOCK = 50
FULL_SAMPLES, QUICK_SAMPLES = 20_000, 1_000
BASELINE_SHARE = 50
"""The baseline is about 200x slower: it gets one sample for every 50 of omnikit's."""

DUTCH_HOLIDAYS = """
New Year, Good Friday, Easter Monday, King's Day, Liberation Day, Ascension Day,
Whit Monday, Christmas Eve, Christmas Day, Boxing Day
2026-01-01 2026-04-03 2026-04-06 2026-04-27 2026-05-05
2026-05-14 2026-05-25 2026-12-24 2026-12-25 2026-12-26
2027-01-01 2027-03-26 2027-03-29 2027-04-27 2027-05-05
2027-05-06 2027-05-17 2027-12-24 2027-12-25 2027-12-26
2028-01-01 2028-04-14 2028-04-17 2028-04-27 2028-05-05
2028-05-25 2028-06-05 2028-12-24 2028-12-25 2028-12-26
2029-01-01 2029-03-30 2029-04-02 2029-04-27 2029-05-05
2029-05-10 2029-05-21 2029-12-24 2029-12-25 2029-12-26
"""
HOLIDAYS = [date.fromisoformat(word) for word in DUTCH_HOLIDAYS.split() if word[:2] == "20"]
HOURS = BusinessHours(
    timezone="Europe/Amsterdam",
    weekly={day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=HOLIDAYS,
)


def parse() -> tuple[int, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=int, help=f"measurements of add (default {FULL_SAMPLES:,})"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_SAMPLES:,} samples"
    )
    args = parser.parse_args()
    return args.samples or (QUICK_SAMPLES if args.quick else FULL_SAMPLES), bool(args.quick)


def main() -> None:
    samples, quick = parse()
    rng = random.Random(2026)
    year = int(timedelta(days=365) / timedelta(microseconds=1))

    def instant() -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(year))

    t0 = time.perf_counter_ns()
    HOURS.add(instant(), DURATION)
    first_us = (time.perf_counter_ns() - t0) / 1000

    reference = ReferenceHours.of(HOURS)
    for _ in range(WARMUP):
        start = instant()
        HOURS.add(start, DURATION)
        HOURS.between(start, start + timedelta(days=400))
    for _ in range(WARMUP // BASELINE_SHARE):
        reference.add(instant(), DURATION)

    starts = [instant() for _ in range(samples)]
    baseline_starts = starts[: max(samples // BASELINE_SHARE, 20)]
    dues = [HOURS.add(start, DURATION) for start in starts]
    pairs = list(zip(starts, dues, strict=True))
    runs = interleave(
        {
            "add": (lambda start: HOURS.add(start, DURATION), starts),
            "between": (lambda pair: HOURS.between(*pair), pairs),
            "baseline": (lambda start: reference.add(start, DURATION), baseline_starts),
        },
        BLOCK,
    )
    assert runs["add"][1] == dues
    assert runs["baseline"][1] == dues[: len(baseline_starts)], "the reference disagrees"
    assert all(elapsed == DURATION for elapsed in runs["between"][1])
    span_days = [(due - start) / timedelta(days=1) for start, due in pairs]

    add = summary_us(runs["add"][0])
    between = summary_us(runs["between"][0])
    base = summary_us(runs["baseline"][0])
    ok = add["p50_us"] <= TARGET_US
    say()
    say(
        f"SLA due time: BusinessHours.add(start, {DURATION / timedelta(hours=1):,.0f} business "
        f"hours), Mon-Fri 09:00-17:00 Europe/Amsterdam, {len(HOLIDAYS)} holidays in "
        f"2026-2029; due {min(span_days):.0f}-{max(span_days):.0f} days after the start"
    )
    say(f"  {'':44}{'n':>7}{'p50 µs':>10}{'p99 µs':>10}")
    for label, s in (
        ("add", add),
        ("between(start, due)", between),
        ("baseline: day-by-day reference add", base),
    ):
        say(f"  {label:44}{s['n']:>7,}{s['p50_us']:>10.1f}{s['p99_us']:>10.1f}")
    ratio = base["p50_us"] / add["p50_us"]
    say(f"  first call of the process (fills the clock-change cache): {first_us:.0f} µs")
    say(
        f"  add p50 {add['p50_us']:.1f} µs, p99 {add['p99_us']:.1f} µs; target p50 <= "
        f"{TARGET_US:.0f} µs  {verdict(ok)}   (baseline/add p50 {ratio:,.0f}x; "
        f"between p50 {between['p50_us']:.1f} µs)"
    )
    report(
        "sla",
        Sizes(customers=0, interactions=0, samples=samples, quick=quick),
        {
            "add": add,
            "between": between,
            "baseline_reference_add": base,
            "first_call_us": round(first_us, 1),
            "ratio_p50_baseline_over_add": round(ratio, 1),
            "target": f"add p50 <= {TARGET_US:.0f} µs",
            "pass": ok,
        },
    )


if __name__ == "__main__":
    main()
