"""Business hours: validation, worked examples, clock changes, JSON, and properties.

``add`` and ``between`` skip whole weeks arithmetically. :class:`ReferenceHours` below
is the slow, obviously correct version they are checked against: it walks local day
by day, interval by interval, turning each wall-clock boundary into an instant with
``datetime`` and ``zoneinfo`` alone. The benchmark (``benchmarks/bench_sla.py``) uses
it as its baseline.
"""

from __future__ import annotations

import copy
import inspect
import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnikit.model.hours
from omnikit.errors import ValidationError
from omnikit.model.hours import WEEKDAYS, BusinessHours, HolidayCalendar

AMS = ZoneInfo("Europe/Amsterdam")
WORKWEEK = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
US = timedelta(microseconds=1)


def ams(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=AMS)


def office(**extra: object) -> BusinessHours:
    return BusinessHours(timezone="Europe/Amsterdam", weekly=WORKWEEK, **extra)


# the reference -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceHours:
    """Business hours the slow way: day by day, interval by interval.

    A boundary ``HH:MM`` on a local day is the first instant at which the local clock
    reads ``HH:MM`` or later: the time itself (its first occurrence when a fall-back
    repeats it) or, when a spring-forward skips it, the minute the clock jumped, found
    by stepping minute by minute.
    """

    zone: ZoneInfo
    weekly: dict[int, list[tuple[int, int]]]
    holidays: frozenset[date]

    @classmethod
    def of(cls, hours: BusinessHours) -> ReferenceHours:
        weekly: dict[int, list[tuple[int, int]]] = {}
        for index, day in enumerate(WEEKDAYS):
            weekly[index] = []
            for text in hours.weekly.get(day, ()):
                start, end = text.split("-")
                weekly[index].append((minutes(start), minutes(end)))
        return cls(ZoneInfo(hours.timezone), weekly, frozenset(hours.holidays))

    def boundary(self, day: date, minute: int) -> datetime:
        wall = datetime.combine(day, time()) + timedelta(minutes=minute)
        instant = wall.replace(tzinfo=self.zone).astimezone(UTC)
        if instant.astimezone(self.zone).replace(tzinfo=None) == wall:
            return instant
        instant = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)  # before the jump
        while instant.astimezone(self.zone).replace(tzinfo=None) < wall:
            instant += timedelta(minutes=1)
        return instant

    def ranges(self, first: date, last: date = date.max) -> Iterator[tuple[datetime, datetime]]:
        """The open ranges of the local days ``first`` to ``last``, in order."""
        day = first
        while day <= last:
            if day not in self.holidays:
                for start, end in self.weekly[day.weekday()]:
                    opens, closes = self.boundary(day, start), self.boundary(day, end)
                    if opens < closes:
                        yield opens, closes
            day += timedelta(days=1)

    def local(self, at: datetime, days: int) -> date:
        return at.astimezone(self.zone).date() + timedelta(days=days)

    def is_open(self, at: datetime) -> bool:
        at = at.astimezone(UTC)  # an ambiguous local time equals no UTC datetime
        ranges = self.ranges(self.local(at, -1), self.local(at, 1))
        return any(opens <= at < closes for opens, closes in ranges)

    def next_open(self, at: datetime) -> datetime:
        at = at.astimezone(UTC)  # an ambiguous local time equals no UTC datetime
        for opens, closes in self.ranges(self.local(at, -1)):
            if at < closes:
                return max(opens, at)
        raise AssertionError("unreachable")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        start = start.astimezone(UTC)
        if not duration:
            return self.next_open(start)
        for opens, closes in self.ranges(self.local(start, -1)):
            if closes > start:
                opens = max(opens, start)
                if duration <= closes - opens:
                    return opens + duration
                duration -= closes - opens
        raise AssertionError("unreachable")

    def between(self, start: datetime, end: datetime) -> timedelta:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        for opens, closes in self.ranges(self.local(start, -1), self.local(end, 1)):
            total += max(timedelta(0), min(closes, end) - max(opens, start))
        return total


def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


# validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"timezone": "Mars/Olympus_Mons", "weekly": {}}, "'Mars/Olympus_Mons'"),
        ({"timezone": "", "weekly": {}}, "timezone ''"),
        ({"timezone": 3600, "weekly": {}}, "timezone 3600"),
        ({"timezone": "UTC", "weekly": {"mon": ["9-17"]}}, "'9-17'"),
        ({"timezone": "UTC", "weekly": {"mon": ["25:00-26:00"]}}, "'25:00-26:00'"),
        ({"timezone": "UTC", "weekly": {"mon": ["09:60-10:00"]}}, "'09:60-10:00'"),
        ({"timezone": "UTC", "weekly": {"mon": ["09:00-24:30"]}}, "'09:00-24:30'"),
        ({"timezone": "UTC", "weekly": {"mon": ["24:00-24:00"]}}, "'24:00-24:00'"),
        ({"timezone": "UTC", "weekly": {"mon": ["09:00-09:00"]}}, "'09:00-09:00'"),
        ({"timezone": "UTC", "weekly": {"mon": ["17:00-09:00"]}}, "'17:00-09:00'"),
        ({"timezone": "UTC", "weekly": {"mon": [(time(9), time(17, 0, 30))]}}, "17, 0, 30"),
        ({"timezone": "UTC", "weekly": {"mon": [(time(17), time(9))]}}, "17, 0"),
        ({"timezone": "UTC", "weekly": {"mon": [540]}}, "540"),
        (
            {"timezone": "UTC", "weekly": {"tue": ["09:00-13:00", "12:00-17:00"]}},
            "'09:00-13:00' and '12:00-17:00' on tue overlap",
        ),
        (
            {"timezone": "UTC", "weekly": {"tue": ["09:00-12:00", "09:00-12:00"]}},
            "'09:00-12:00' and '09:00-12:00' on tue overlap",
        ),
        (
            {"timezone": "UTC", "weekly": {"wed": ["08:00-18:00", "10:00-11:00"]}},
            "'08:00-18:00' and '10:00-11:00' on wed overlap",
        ),
        ({"timezone": "UTC", "weekly": {"mondag": ["09:00-17:00"]}}, "'mondag'"),
        ({"timezone": "UTC", "weekly": {1: ["09:00-17:00"]}}, "1 is not a weekday"),
        ({"timezone": "UTC", "weekly": {"mon": [], "Monday": []}}, "'Monday' is given twice"),
        ({"timezone": "UTC", "weekly": ["09:00-17:00"]}, "['09:00-17:00']"),
        ({"timezone": "UTC", "weekly": {"mon": 9}}, "intervals 9 on mon"),
        (
            {"timezone": "UTC", "weekly": {}, "holidays": [datetime(2026, 12, 25)]},
            "'2026-12-25T00:00:00' is a datetime, not a date",
        ),
        (
            {"timezone": "UTC", "weekly": {}, "holidays": [datetime(2026, 12, 25, tzinfo=UTC)]},
            "'2026-12-25T00:00:00+00:00' is a datetime",
        ),
        ({"timezone": "UTC", "weekly": {}, "holidays": ["christmas"]}, "'christmas'"),
        ({"timezone": "UTC", "weekly": {}, "holidays": ["2026-02-30"]}, "'2026-02-30'"),
        ({"timezone": "UTC", "weekly": {}, "holidays": "2026-12-25"}, "'2026-12-25'"),
        ({"timezone": "UTC"}, "weekly: Field required"),
        ({"timezone": "UTC", "weekly": {}, "opening": "9"}, "opening: Extra inputs"),
    ],
)
def test_bad_hours_name_the_value(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        BusinessHours(**values)
    assert named in str(raised.value)
    with pytest.raises(ValidationError) as raised:
        BusinessHours.model_validate(values)
    assert named in str(raised.value)


def test_a_holiday_calendar_must_share_the_timezone() -> None:
    calendar = HolidayCalendar(timezone="UTC", days=[date(2026, 12, 25)])
    with pytest.raises(ValidationError) as raised:
        office(holidays=calendar)
    assert str(raised.value) == (
        "holiday calendar in timezone 'UTC' does not match business hours timezone "
        "'Europe/Amsterdam'"
    )


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"timezone": "Europe/Amsterdm", "days": []}, "'Europe/Amsterdm'"),
        ({"timezone": "UTC", "days": [datetime(2026, 1, 1, 9)]}, "'2026-01-01T09:00:00'"),
        ({"timezone": "UTC", "days": [20260101]}, "20260101"),
        ({"timezone": "UTC", "days": [], "name": "NL"}, "name: Extra inputs"),
    ],
)
def test_bad_holiday_calendars_name_the_value(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HolidayCalendar(**values)
    assert named in str(raised.value)


def test_bad_json_is_a_validation_error_too() -> None:
    with pytest.raises(ValidationError, match="'9-17'"):
        BusinessHours.model_validate_json('{"timezone": "UTC", "weekly": {"mon": ["9-17"]}}')
    with pytest.raises(ValidationError, match="'Mars'"):
        HolidayCalendar.model_validate_json('{"timezone": "Mars", "days": []}')


@pytest.mark.parametrize("method", ["is_open", "next_open", "add", "between"])
def test_naive_datetimes_are_refused(method: str) -> None:
    naive = datetime(2026, 6, 5, 16)
    args = {
        "is_open": (naive,),
        "next_open": (naive,),
        "add": (naive, timedelta(hours=1)),
        "between": (naive, naive),
    }[method]
    with pytest.raises(ValidationError, match=r"'2026-06-05T16:00:00' is a naive datetime"):
        getattr(office(), method)(*args)


def test_between_refuses_a_naive_end() -> None:
    with pytest.raises(ValidationError, match=r"end '2026-06-05T16:00:00' is a naive"):
        office().between(ams(2026, 6, 5, 9), datetime(2026, 6, 5, 16))


def test_add_refuses_negative_and_non_durations() -> None:
    with pytest.raises(ValidationError, match=r"duration datetime.timedelta\(days=-1, "):
        office().add(ams(2026, 6, 5, 16), timedelta(seconds=-1))
    with pytest.raises(ValidationError, match="must be a timedelta, not int"):
        office().add(ams(2026, 6, 5, 16), 3600)  # type: ignore[arg-type]


def test_hours_that_never_open() -> None:
    closed = BusinessHours(timezone="Europe/Amsterdam", weekly={"sat": []})
    assert closed.model_dump(mode="json")["weekly"] == {}
    start = ams(2026, 6, 5, 16)
    assert not closed.is_open(start)
    assert closed.next_open(start) is None
    assert closed.between(start, start + timedelta(days=30)) == timedelta(0)
    for duration in (timedelta(hours=1), timedelta(0)):
        with pytest.raises(ValidationError, match="no open interval in the week"):
            closed.add(start, duration)


def test_arithmetic_off_the_calendar_is_a_validation_error() -> None:
    late = datetime(9999, 12, 30, tzinfo=UTC)
    with pytest.raises(ValidationError, match="9999-12-30"):
        office().add(late, timedelta(hours=100))


# input forms and the stored form -------------------------------------------------------------


def test_weekly_is_stored_normalised_and_round_trips_through_json() -> None:
    hours = BusinessHours(
        timezone=ZoneInfo("Europe/Amsterdam"),
        weekly={
            "Friday": ["13:00-17:00", " 09:00 - 12:00 "],
            "mon": [(time(9), time(12)), "12:00-17:00"],  # touching: merged
            "sun": [],
            "SAT": "10:00-16:00",
            "thursday": [(time(22), time(0))],  # an end of time(0) is midnight
        },
        holidays=[date(2026, 12, 26), "2026-12-25", date(2026, 12, 25)],
    )
    stored = hours.model_dump(mode="json")
    assert stored == {
        "timezone": "Europe/Amsterdam",
        "weekly": {
            "mon": ["09:00-17:00"],
            "thu": ["22:00-24:00"],
            "fri": ["09:00-12:00", "13:00-17:00"],
            "sat": ["10:00-16:00"],
        },
        "holidays": ["2026-12-25", "2026-12-26"],
    }
    assert list(stored["weekly"]) == ["mon", "thu", "fri", "sat"]
    again = BusinessHours.model_validate(json.loads(json.dumps(stored)))
    assert again == hours and hash(again) == hash(hours)
    assert again.model_dump(mode="json") == stored
    assert BusinessHours.model_validate_json(hours.model_dump_json()) == hours
    assert again.add(ams(2026, 6, 5, 16), timedelta(hours=3)) == ams(2026, 6, 6, 12)


def test_a_holiday_calendar_is_stored_as_its_days() -> None:
    calendar = HolidayCalendar(
        timezone="Europe/Amsterdam", days=[date(2026, 12, 26), date(2026, 12, 25)]
    )
    assert calendar.days == (date(2026, 12, 25), date(2026, 12, 26))
    assert HolidayCalendar.model_validate(calendar.model_dump(mode="json")) == calendar
    hours = office(holidays=calendar)
    assert hours.holidays == calendar.days
    assert hours == office(holidays=["2026-12-26", "2026-12-25"])


def test_hours_are_read_only_and_copies_are_validated() -> None:
    hours = office()
    with pytest.raises(TypeError):
        hours.weekly["sat"] = ("10:00-12:00",)  # type: ignore[index]
    with pytest.raises(pydantic.ValidationError):
        hours.timezone = "UTC"  # type: ignore[misc]
    saturday = hours.model_copy(update={"weekly": {"sat": ["10:00-12:00"]}})
    assert saturday.is_open(ams(2026, 6, 6, 11)) and not saturday.is_open(ams(2026, 6, 5, 11))
    with pytest.raises(ValidationError, match="'10-12'"):
        hours.model_copy(update={"weekly": {"sat": ["10-12"]}})
    assert BusinessHours.trusted(**hours.model_dump()) == hours
    assert hours.model_copy() == hours and hours.model_copy().is_open(ams(2026, 6, 5, 11))
    for copied in (pickle.loads(pickle.dumps(hours)), copy.deepcopy(hours)):
        assert copied == hours and copied.is_open(ams(2026, 6, 5, 11))


def test_the_docs_example_runs() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "hours.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/hours.md", "exec"), {})


def test_public_names_are_documented() -> None:
    assert inspect.getdoc(omnikit.model.hours)
    for name in omnikit.model.hours.__all__:
        value = getattr(omnikit.model.hours, name)
        if inspect.isclass(value):
            assert inspect.getdoc(value), name
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and callable(member):
                    assert inspect.getdoc(member), f"{name}.{attribute}"
    for method in ("always", "is_open", "next_open", "add", "between"):
        assert inspect.getdoc(getattr(BusinessHours, method)), method


# worked examples -----------------------------------------------------------------------------


def test_is_open_and_next_open_over_a_weekend_and_a_holiday() -> None:
    hours = office(holidays=[date(2026, 6, 8)])  # Monday 8 June 2026 (Whit Monday)
    friday = ams(2026, 6, 5, 16, 59, 59)
    assert hours.is_open(ams(2026, 6, 5, 9))
    assert hours.is_open(friday)
    assert not hours.is_open(ams(2026, 6, 5, 17))  # the end is not open
    assert not hours.is_open(ams(2026, 6, 5, 8, 59))
    assert not hours.is_open(ams(2026, 6, 6, 12))  # Saturday
    assert not hours.is_open(ams(2026, 6, 8, 12))  # the holiday
    assert hours.next_open(friday) == friday.astimezone(UTC)
    assert hours.next_open(ams(2026, 6, 5, 17)) == ams(2026, 6, 9, 9)
    assert hours.next_open(ams(2026, 6, 5, 3)) == ams(2026, 6, 5, 9)
    result = hours.next_open(datetime(2026, 6, 5, 20, tzinfo=UTC))
    assert result == datetime(2026, 6, 9, 7, tzinfo=UTC) and result.tzinfo is UTC


def test_friday_afternoon_plus_two_hours_is_monday_morning() -> None:
    friday = ams(2026, 6, 5, 16)
    due = office().add(friday, timedelta(hours=2))
    assert due == ams(2026, 6, 8, 10) and due.tzinfo is UTC
    assert office(holidays=[date(2026, 6, 8)]).add(friday, timedelta(hours=2)) == ams(
        2026, 6, 9, 10
    )
    assert office().add(friday, timedelta(hours=1)) == ams(2026, 6, 5, 17)  # closing time
    assert office().add(friday, timedelta(0)) == friday
    assert office().add(ams(2026, 6, 6, 12), timedelta(0)) == ams(2026, 6, 8, 9)
    assert office().between(friday, ams(2026, 6, 8, 10)) == timedelta(hours=2)
    assert office(holidays=[date(2026, 6, 8)]).between(friday, ams(2026, 6, 9, 10)) == timedelta(
        hours=2
    )
    assert office().between(ams(2026, 6, 8, 10), friday) == timedelta(0)


def test_a_lunch_break_and_a_week_of_holidays() -> None:
    hours = BusinessHours(
        timezone="Europe/Amsterdam",
        weekly={**WORKWEEK, "tue": ["09:00-12:00", "13:00-17:00"]},
        holidays=[date(2026, 12, 24) + timedelta(days=k) for k in range(8)],  # to 31 Dec
    )
    assert hours.add(ams(2026, 6, 9, 11), timedelta(hours=2)) == ams(2026, 6, 9, 14)
    assert hours.between(ams(2026, 6, 9, 8), ams(2026, 6, 9, 20)) == timedelta(hours=7)
    # Wednesday 23 December 16:00 + 2 h: one hour that day, then closed until Friday
    # 1 January 2027.
    assert hours.add(ams(2026, 12, 23, 16), timedelta(hours=2)) == ams(2027, 1, 1, 10)
    # 52 weeks of 39 hours from Monday 1 June 2026: without holidays that ends on Friday
    # 28 May 2027 at 17:00; the holidays took 47 hours (Thu 8, Fri 8, Mon 8, Tue 7,
    # Wed 8, Thu 8), which the next week (39) and Monday 7 June (8) make up.
    year = 52 * timedelta(hours=39)
    assert hours.add(ams(2026, 6, 1, 9), year) == ams(2027, 6, 7, 17)
    assert hours.between(ams(2026, 6, 1, 9), ams(2027, 6, 7, 17)) == year
    assert ReferenceHours.of(hours).add(ams(2026, 6, 1, 9), year) == ams(2027, 6, 7, 17)


def test_always_open() -> None:
    hours = BusinessHours.always()
    assert hours is BusinessHours.always()
    assert hours.timezone == "UTC" and list(hours.weekly) == list(WEEKDAYS)
    start = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    duration = timedelta(days=400, microseconds=7)
    assert hours.add(start, duration) == start + duration
    # In elapsed time: Python's aware arithmetic in Amsterdam would be wall-clock time.
    assert hours.add(start.astimezone(AMS), duration) == start + duration
    assert hours.between(start, start + timedelta(hours=5)) == timedelta(hours=5)
    assert hours.is_open(start) and hours.next_open(start) == start


# clock changes (Europe/Amsterdam: 29 March 2026 02:00 CET -> 03:00 CEST; 25 October 2026
# 03:00 CEST -> 02:00 CET) ------------------------------------------------------------------


def test_a_workweek_across_spring_forward() -> None:
    hours = office()
    friday = ams(2026, 3, 27, 16)  # CET, 15:00 UTC
    due = hours.add(friday, timedelta(hours=2))
    assert due == ams(2026, 3, 30, 10) == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert hours.between(ams(2026, 3, 27, 9), ams(2026, 4, 3, 9)) == timedelta(hours=40)
    assert hours.add(ams(2026, 3, 27, 9), timedelta(hours=40)) == ams(2026, 4, 2, 17)
    assert hours.next_open(ams(2026, 3, 29, 2, 30)) == datetime(2026, 3, 30, 7, tzinfo=UTC)


def test_a_workweek_across_fall_back() -> None:
    hours = office()
    friday = ams(2026, 10, 23, 16)  # CEST, 14:00 UTC
    due = hours.add(friday, timedelta(hours=2))
    assert due == ams(2026, 10, 26, 10) == datetime(2026, 10, 26, 9, tzinfo=UTC)
    assert hours.between(ams(2026, 10, 23, 9), ams(2026, 10, 30, 9)) == timedelta(hours=40)
    assert hours.add(ams(2026, 10, 19, 9), timedelta(hours=80)) == ams(2026, 10, 30, 17)


def test_an_interval_across_the_clock_change_is_measured_in_real_time() -> None:
    night = BusinessHours(timezone="Europe/Amsterdam", weekly={"sun": ["01:00-05:00"]})
    spring = (ams(2026, 3, 28, 12), ams(2026, 3, 30, 12))
    autumn = (ams(2026, 10, 24, 12), ams(2026, 10, 26, 12))
    assert night.between(*spring) == timedelta(hours=3)
    assert night.between(*autumn) == timedelta(hours=5)
    assert night.add(spring[0], timedelta(hours=3)) == datetime(2026, 3, 29, 3, tzinfo=UTC)
    assert night.add(autumn[0], timedelta(hours=5)) == datetime(2026, 10, 25, 4, tzinfo=UTC)
    # The repeated hour 02:00-03:00 is open both times round.
    assert night.is_open(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 02:30 CEST
    assert night.is_open(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET


def test_a_boundary_the_clock_skips_is_the_moment_it_jumps() -> None:
    hours = BusinessHours(timezone="Europe/Amsterdam", weekly={"sun": ["02:30-04:00"]})
    assert hours.next_open(ams(2026, 3, 28, 12)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert hours.between(ams(2026, 3, 28, 12), ams(2026, 3, 30)) == timedelta(hours=1)
    skipped = BusinessHours(timezone="Europe/Amsterdam", weekly={"sun": ["02:00-03:00"]})
    assert skipped.between(ams(2026, 3, 28, 12), ams(2026, 3, 30)) == timedelta(0)
    assert skipped.next_open(ams(2026, 3, 28, 12)) == datetime(2026, 4, 5, 0, tzinfo=UTC)
    # On the fall-back Sunday 02:00-03:00 lasts from the first 02:00 to the only 03:00.
    assert skipped.between(ams(2026, 10, 24), ams(2026, 10, 26)) == timedelta(hours=2)


def test_a_clock_change_at_midnight() -> None:
    # America/Santiago: 4 April 2026 at 24:00 -03 the clock goes back to 23:00 -04, so
    # 4 April's last hour comes twice; 6 September 2026 starts at 01:00 -03, as the clock
    # jumps from 24:00 -04.
    zone = ZoneInfo("America/Santiago")
    hours = BusinessHours(
        timezone="America/Santiago", weekly={day: ["22:00-24:00"] for day in WEEKDAYS}
    )
    saturday = datetime(2026, 4, 4, 21, tzinfo=zone)
    assert hours.between(saturday, saturday + timedelta(hours=6)) == timedelta(hours=3)
    assert hours.is_open(datetime(2026, 4, 5, 2, 30, tzinfo=UTC))  # 23:30 -03
    assert hours.is_open(datetime(2026, 4, 5, 3, 30, tzinfo=UTC))  # 23:30 -04
    assert not hours.is_open(datetime(2026, 4, 5, 4, 0, tzinfo=UTC))  # 00:00 -04
    assert hours.add(saturday, timedelta(hours=3)) == datetime(2026, 4, 5, 4, tzinfo=UTC)
    september = datetime(2026, 9, 5, 12, tzinfo=zone)
    assert hours.between(september, september + timedelta(days=1)) == timedelta(hours=2)
    assert hours.add(september, timedelta(hours=2)) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    week = saturday + timedelta(days=7)
    assert hours.between(saturday, week) == ReferenceHours.of(hours).between(saturday, week)


# properties against the reference ------------------------------------------------------------

ZONES = (
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "UTC",
    "Australia/Lord_Howe",  # moves by 30 minutes
    "America/Santiago",  # changes at midnight
)
FIRST, LAST = date(2024, 1, 1), date(2027, 12, 31)


def _clock_changes(name: str) -> list[date]:
    zone, day, found = ZoneInfo(name), FIRST, []
    while day < LAST:
        following = day + timedelta(days=1)
        noon = datetime.combine(day, time(12), zone).utcoffset()
        if noon != datetime.combine(following, time(12), zone).utcoffset():
            found.append(following)
        day = following
    return found


CHANGES = {name: _clock_changes(name) for name in ZONES}


@st.composite
def intervals(draw: st.DrawFn) -> list[str]:
    """A day's intervals: sorted, apart, on half hours mostly (so that they often start
    or end at 02:00, 02:30 and 03:00), sometimes on any minute."""
    point = st.one_of(st.integers(0, 48).map(lambda k: k * 30), st.integers(0, 1440))
    points = sorted(draw(st.lists(point, max_size=6, unique=True)))
    pairs = zip(points[0::2], points[1::2], strict=False)
    return [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in pairs]


def week_of(hours: BusinessHours) -> timedelta:
    """The wall-clock length of the week's intervals."""
    total = 0
    for day in hours.weekly.values():
        for text in day:
            start, end = text.split("-")
            total += minutes(end) - minutes(start)
    return timedelta(minutes=total)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessHours, datetime]:
    """Random hours in one of ZONES, with holidays near a start that is often within
    a few days of a clock change."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    weekly = {day: draw(intervals()) for day in draw(st.sets(st.sampled_from(WEEKDAYS)))}
    if draw(st.booleans()) and CHANGES[name]:
        around = datetime.combine(draw(st.sampled_from(CHANGES[name])), time(), zone)
        start = around + timedelta(minutes=draw(st.integers(-4 * 1440, 3 * 1440)))
    else:
        start = draw(
            st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31), timezones=st.just(zone))
        )
    start += draw(st.sampled_from([0, 0, 1, 999_999])) * US
    local = start.astimezone(zone).date()
    holidays = draw(st.lists(st.integers(-3, 400).map(lambda k: local + timedelta(days=k))))
    hours = BusinessHours(timezone=name, weekly=weekly, holidays=holidays)
    return hours, start.astimezone(draw(st.sampled_from([UTC, zone])))


def durations(week: timedelta) -> st.SearchStrategy[timedelta]:
    """Up to a year of business time; often a whole number of half hours."""
    half_hours = int(2 * week / timedelta(minutes=30))
    return st.one_of(
        st.integers(0, 52 * week // US).map(lambda us: us * US),
        st.integers(0, half_hours).map(lambda k: k * timedelta(minutes=30)),
    )


PROPERTIES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(st.data())
def test_add_matches_the_reference(data: st.DataObject) -> None:
    hours, start = data.draw(cases())
    week = week_of(hours)
    if not week:
        with pytest.raises(ValidationError):
            hours.add(start, timedelta(hours=1))
        return
    duration = data.draw(durations(week))
    due = hours.add(start, duration)
    assert due == ReferenceHours.of(hours).add(start, duration)
    assert due.tzinfo is UTC
    assert hours.between(start, due) == duration
    if duration:  # the due time is open, or the end of an interval
        assert hours.is_open(due) or (hours.is_open(due - US) and not hours.is_open(due))
    shorter = data.draw(st.integers(0, duration // US)) * US
    assert hours.add(start, shorter) <= due


@PROPERTIES
@given(st.data())
def test_between_is_open_and_next_open_match_the_reference(data: st.DataObject) -> None:
    hours, start = data.draw(cases())
    reference = ReferenceHours.of(hours)
    end = start + data.draw(st.integers(-(10**9), 400 * 86_400 * 10**6)) * US
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    assert hours.between(start, end) == reference.between(start, end)
    assert hours.is_open(start) == reference.is_open(start)
    if week_of(hours):
        assert hours.next_open(start) == reference.next_open(start)
    else:
        assert hours.next_open(start) is None
    middle = start + (end - start) / 3
    if start <= middle <= end:  # business time adds up over consecutive spans
        assert hours.between(start, end) == hours.between(start, middle) + hours.between(
            middle, end
        )
