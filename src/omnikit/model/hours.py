"""Business hours: when a queue is staffed, in its own timezone, and how much business
time lies between two instants.

A queue's configuration holds a :class:`BusinessHours` (stored as JSON); a case's SLA
due time is ``hours.add(opened_at, sla)`` and the business time a case has waited is
``hours.between(opened_at, now)``. Everything here is pure: datetimes in, datetimes out.

Intervals are local wall-clock times in the hours' timezone. A boundary ``HH:MM`` on a
day means the first instant at which the local clock reads ``HH:MM`` or later: a time
that a spring-forward skips means the moment the clock jumps (``02:30`` on 29 March
2026 in Amsterdam is 03:00 CEST), and a time that a fall-back repeats means its first
occurrence. An interval across a clock change is measured in real elapsed time:
``01:00-05:00`` holds 3 hours on the spring-forward Sunday and 5 on the fall-back one.
A holiday closes its whole local day.

``add`` and ``between`` do not walk day by day: they skip whole weeks arithmetically
(business time per weekday and per week is computed once per instance), subtract the
holidays in the skipped span through prefix sums over the sorted holidays, correct
for the days on which the clock changes, and walk at most the last week (with any
holidays in it). A 2,000-hour SLA over a year of Monday-to-Friday hours with ten
holidays takes about 13-20 µs on the benchmark machine (``benchmarks/bench_sla.py``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import PrivateAttr, ValidationInfo, field_serializer, field_validator

from omnikit._time import from_micros, require_utc, to_micros
from omnikit.errors import ValidationError
from omnikit.model._base import Model

__all__ = ["WEEKDAYS", "BusinessHours", "HolidayCalendar", "Weekday"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"""A weekday as ``weekly`` keys name it."""

WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The weekdays in order, Monday first (``date.weekday()`` order)."""

_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_KEYS: dict[str, Weekday] = {
    **{day: day for day in WEEKDAYS},
    **dict(zip(_FULL_NAMES, WEEKDAYS, strict=True)),
}

_INTERVAL = re.compile(r"\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_MINUTE = 60_000_000
_DAY = 86_400_000_000
_UNIX_DAY = date(1970, 1, 1).toordinal()
_NAIVE_EPOCH = datetime(1970, 1, 1)
_BLOCK_BITS = 9
"""Clock changes are looked up per block of 2**9 = 512 local days (see _clock_change_days)."""


# validation ----------------------------------------------------------------------------------


class _Checked(Model):
    """A model every way of building which validates and raises omnikit's ValidationError.

    pydantic wraps an error raised in a validator into its own ``ValidationError``; the
    constructors here unwrap it, so that callers see only omnikit's error tree.
    """

    def __init__(self, **data: Any) -> None:
        with _translated(type(self).__name__):
            pydantic.BaseModel.__init__(self, **data)  # translated here, not by Model

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a dict, such as one read back from JSON) into an instance."""
        with _translated(cls.__name__):
            return super().model_validate(obj, *args, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate a JSON document into an instance."""
        with _translated(cls.__name__):
            return super().model_validate_json(json_data, *args, **kwargs)

    @classmethod
    def model_validate_strings(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """Validate a dict of strings into an instance."""
        with _translated(cls.__name__):
            return super().model_validate_strings(obj, *args, **kwargs)

    @classmethod
    def trusted(cls, **values: Any) -> Self:
        """Validate anyway: these models compute their look-up tables while validating."""
        return cls.model_validate(values)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with ``update``, a new instance validated from the changed values."""
        if update:
            return self.model_validate({**self.model_dump(), **update})
        return super().model_copy(deep=deep)


@contextmanager
def _translated(model: str) -> Iterator[None]:
    try:
        yield
    except pydantic.ValidationError as error:
        messages = []
        for detail in error.errors():
            cause = detail.get("ctx", {}).get("error")
            if isinstance(cause, ValidationError):
                messages.append(str(cause))
            else:
                where = ".".join(str(part) for part in detail["loc"]) or model
                messages.append(f"{model} {where}: {detail['msg']} (got {detail['input']!r})")
        raise ValidationError("; ".join(messages)) from None


def _zone_name(value: object) -> str:
    if isinstance(value, ZoneInfo) and value.key:
        return value.key
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        else:
            return value
    raise ValidationError(
        f"timezone {value!r} is not a known IANA timezone name (such as 'Europe/Amsterdam')"
    )


def _days(value: object, what: str) -> tuple[date, ...]:
    """Sorted distinct local calendar days; a datetime is refused, not truncated."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"{what} {value!r} must be a list of dates")
    days = set()
    for item in value:
        if isinstance(item, datetime):
            raise ValidationError(
                f"{what} {item.isoformat()!r} is a datetime, not a date: a holiday is a "
                "whole local calendar day, such as date(2026, 12, 25)"
            )
        if isinstance(item, date):
            days.add(item)
        elif isinstance(item, str) and _ISO_DATE.fullmatch(item):
            try:
                days.add(date.fromisoformat(item))
            except ValueError:
                raise ValidationError(f"{what} {item!r} is not a calendar date") from None
        else:
            raise ValidationError(
                f"{what} {item!r} is not a date: use date(2026, 12, 25) or '2026-12-25'"
            )
    return tuple(sorted(days))


def _minutes(value: object, day: str) -> tuple[int, int]:
    """An interval as (start, end) minutes of the day; the end may be 1440 (24:00)."""
    if isinstance(value, str):
        match = _INTERVAL.fullmatch(value)
        if not match:
            raise ValidationError(
                f"interval {value!r} on {day} is not 'HH:MM-HH:MM' (such as '09:00-17:00')"
            )
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
            raise ValidationError(
                f"interval {value!r} on {day} is not a time of day: hours run 00-23 and "
                "minutes 00-59; only an end may be '24:00'"
            )
        start, end = h1 * 60 + m1, h2 * 60 + m2
    elif (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(part, time) for part in value)
    ):
        first, last = value
        if any(part.second or part.microsecond or part.tzinfo for part in value):
            raise ValidationError(
                f"interval {value!r} on {day} must be naive times in whole minutes"
            )
        start = first.hour * 60 + first.minute
        end = last.hour * 60 + last.minute or 1440  # an end of time(0) is midnight: 24:00
    else:
        raise ValidationError(
            f"interval {value!r} on {day} is neither 'HH:MM-HH:MM' nor a (time, time) pair"
        )
    if end <= start:
        raise ValidationError(
            f"interval {value!r} on {day} is empty or ends before it starts; an interval "
            "cannot run past midnight: split it, as '22:00-24:00' and next day '00:00-06:00'"
        )
    return start, end


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _weekly(value: object) -> dict[Weekday, tuple[str, ...]]:
    """Normalise a weekly schedule: keys ``mon``..``sun`` in order, closed days left out,
    intervals sorted as ``HH:MM-HH:MM`` with touching intervals merged."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"weekly {value!r} must map weekdays to intervals, such as {{'mon': ['09:00-17:00']}}"
        )
    by_day: dict[Weekday, tuple[str, object]] = {}
    for key, intervals in value.items():
        day = _DAY_KEYS.get(key.lower()) if isinstance(key, str) else None
        if day is None:
            raise ValidationError(
                f"{key!r} is not a weekday: use 'mon'..'sun' or 'monday'..'sunday'"
            )
        if day in by_day:
            raise ValidationError(f"weekday {key!r} is given twice (also as {by_day[day][0]!r})")
        by_day[day] = (key, intervals)
    weekly: dict[Weekday, tuple[str, ...]] = {}
    for day in WEEKDAYS:
        if day not in by_day:
            continue
        intervals = by_day[day][1]
        if isinstance(intervals, str):
            intervals = [intervals]
        if not isinstance(intervals, Iterable):
            raise ValidationError(f"intervals {intervals!r} on {day} must be a list")
        parsed = sorted(((_minutes(item, day), item) for item in intervals), key=lambda p: p[0])
        merged: list[list[int]] = []
        for index, ((start, end), item) in enumerate(parsed):
            if merged and start < merged[-1][1]:
                raise ValidationError(
                    f"intervals {parsed[index - 1][1]!r} and {item!r} on {day} overlap"
                )
            if merged and start == merged[-1][1]:
                merged[-1][1] = end  # touching intervals are one interval
            else:
                merged.append([start, end])
        if merged:
            weekly[day] = tuple(f"{_hhmm(start)}-{_hhmm(end)}" for start, end in merged)
    return weekly


# the models ----------------------------------------------------------------------------------


class HolidayCalendar(_Checked):
    """Days on which a business is closed, as local calendar days of one timezone.

    Shared by the business hours of several queues; each must be in the same timezone,
    since 25 December in Amsterdam is not the same span of time as in New York.
    ``days`` are stored sorted and without duplicates.
    """

    timezone: str
    """An IANA timezone name, such as ``"Europe/Amsterdam"``."""
    days: tuple[date, ...] = ()

    @field_validator("timezone", mode="before")
    @classmethod
    def _check_timezone(cls, value: object) -> str:
        return _zone_name(value)

    @field_validator("days", mode="before")
    @classmethod
    def _check_days(cls, value: object) -> tuple[date, ...]:
        return _days(value, "holiday")


class BusinessHours(_Checked):
    """Weekly opening hours in a timezone, with holidays; business-time arithmetic.

    ``weekly`` maps weekdays (``"mon"``..``"sun"``, or ``"monday"``..``"sunday"``, any
    case) to intervals, each ``"HH:MM-HH:MM"`` or a pair of naive ``datetime.time``
    (an end of ``time(0)`` means midnight at the end of the day). Days not named are
    closed; ``"24:00"`` ends a day. An interval cannot cross midnight: write
    ``"22:00-24:00"`` on one day and ``"00:00-06:00"`` on the next. Overlapping
    intervals are an error; touching ones (``"09:00-12:00"``, ``"12:00-17:00"``) are
    merged. ``weekly`` is stored normalised and read-only: keys in week order, closed
    days left out, intervals sorted, so the JSON form is stable.

    ``holidays`` is a list of dates (or ISO strings) or a :class:`HolidayCalendar` in
    the same timezone; it is stored as a sorted tuple of dates. A week with no hours at
    all is allowed: such hours are never open.

    Every method takes timezone-aware datetimes and returns aware UTC ones; bad input
    raises :class:`omnikit.errors.ValidationError`. The instances are frozen and
    round-trip through ``model_dump(mode="json")`` and ``model_validate``.
    """

    timezone: str
    """An IANA timezone name, such as ``"Europe/Amsterdam"``; a ``ZoneInfo`` is accepted."""
    weekly: Mapping[Weekday, tuple[str, ...]]
    holidays: tuple[date, ...] = ()

    _plan: _Plan = PrivateAttr()

    @field_validator("timezone", mode="before")
    @classmethod
    def _check_timezone(cls, value: object) -> str:
        return _zone_name(value)

    @field_validator("weekly", mode="before")
    @classmethod
    def _check_weekly(cls, value: object) -> dict[Weekday, tuple[str, ...]]:
        return _weekly(value)

    @field_validator("weekly", mode="after")
    @classmethod
    def _freeze_weekly(
        cls, value: Mapping[Weekday, tuple[str, ...]]
    ) -> Mapping[Weekday, tuple[str, ...]]:
        return MappingProxyType(dict(value))

    @field_serializer("weekly")
    def _dump_weekly(self, value: Mapping[Weekday, tuple[str, ...]]) -> dict[str, list[str]]:
        return {day: list(intervals) for day, intervals in value.items()}

    @field_validator("holidays", mode="before")
    @classmethod
    def _check_holidays(cls, value: object, info: ValidationInfo) -> tuple[date, ...]:
        if isinstance(value, HolidayCalendar):
            timezone = info.data.get("timezone")
            if timezone is not None and value.timezone != timezone:
                raise ValidationError(
                    f"holiday calendar in timezone {value.timezone!r} does not match "
                    f"business hours timezone {timezone!r}"
                )
            return value.days
        return _days(value, "holiday")

    def model_post_init(self, context: Any, /) -> None:
        """Compute the look-up tables that ``add`` and ``between`` use."""
        self._plan = _Plan(self.timezone, self.weekly, self.holidays)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessHours):
            return NotImplemented
        return (self.timezone, self.weekly, self.holidays) == (
            other.timezone,
            other.weekly,
            other.holidays,
        )

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(self.weekly.items()), self.holidays))

    # A mappingproxy neither pickles nor deep-copies: pickle the JSON form (unpickling
    # validates it and rebuilds the tables), and let a deep copy be the instance itself,
    # as for any immutable value.
    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self).model_validate, (self.model_dump(mode="json"),))

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        return self

    def _tables(self) -> _Plan:
        # self._plan goes through pydantic's __getattr__: 2-3 µs on the benchmark
        # machine, against 0.1 µs for this.
        private = self.__pydantic_private__
        assert private is not None
        plan: _Plan = private["_plan"]
        return plan

    @classmethod
    def always(cls) -> BusinessHours:
        """Open around the clock, every day, in UTC: for a queue without hours.

        ``add(start, duration)`` is then ``start + duration`` and ``between(a, b)`` is
        ``b - a``, in elapsed time (as UTC datetimes add). The same instance is returned
        every time.
        """
        return _always()

    def is_open(self, at: datetime) -> bool:
        """Whether the business is open at the aware datetime ``at``.

        Raises ValidationError for a naive datetime.
        """
        x = to_micros(require_utc(at, "at"))
        with _CalendarEdge(at):
            return self._tables().is_open(x)

    def next_open(self, at: datetime) -> datetime | None:
        """The first open instant at or after ``at`` (``at`` itself when open), in UTC.

        None when the week has no hours at all. Raises ValidationError for a naive
        datetime.
        """
        x = to_micros(require_utc(at, "at"))
        with _CalendarEdge(at):
            found = self._tables().next_open(x)
            return None if found is None else from_micros(found)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of business time has passed after ``start``
        (an SLA due time), in UTC.

        It is the earliest such instant, so a duration that ends exactly at closing
        time gives the closing time. A zero duration gives the first open instant at or
        after ``start``. Raises ValidationError for a naive ``start``, a negative
        duration, or hours that are never open (there is no due time).
        """
        x = to_micros(require_utc(start, "start"))
        if not isinstance(duration, timedelta):
            raise ValidationError(f"duration must be a timedelta, not {type(duration).__name__}")
        if duration < timedelta(0):
            raise ValidationError(
                f"duration {duration!r} is negative: business time only runs forward"
            )
        plan = self._tables()
        if plan.week == 0:
            raise ValidationError(
                f"business hours in {self.timezone!r} have no open interval in the week, "
                f"so {duration!r} of business time never passes"
            )
        r = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
        with _CalendarEdge(start):
            found = plan.add(x, r) if r else plan.next_open(x)
            assert found is not None  # the week has hours
            return from_micros(found)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The business time in ``[start, end)``; zero when ``end`` is not after
        ``start``. Raises ValidationError for naive datetimes."""
        a = to_micros(require_utc(start, "start"))
        b = to_micros(require_utc(end, "end"))
        with _CalendarEdge(start):
            return timedelta(microseconds=self._tables().between(a, b))


@cache
def _always() -> BusinessHours:
    return BusinessHours(timezone="UTC", weekly={day: ["00:00-24:00"] for day in WEEKDAYS})


class _CalendarEdge:
    """Arithmetic that runs off either end of ``datetime``'s calendar is a bad input.

    A class rather than ``@contextmanager``: about 1 µs less on every call.
    """

    __slots__ = ("at",)

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: object
    ) -> None:
        if isinstance(error, OverflowError | ValueError) and not isinstance(error, ValidationError):
            raise ValidationError(
                f"{self.at.isoformat()!r} and the business time after it do not fit "
                "between the years 1 and 9999"
            ) from None


# the arithmetic ------------------------------------------------------------------------------
#
# Instants are integer microseconds since the Unix epoch (UTC); local wall-clock times
# are microseconds since 1970-01-01 00:00 on the local calendar; a local day is its
# proleptic ordinal (date.toordinal). A local day is "regular" when the UTC offset at
# its midnight equals the one at the next midnight: its intervals then map to UTC by
# one constant offset and hold exactly their wall-clock length. The other days (those
# on which the clock changes, about two a year) are mapped boundary by boundary.


def _us(offset: timedelta | None) -> int:
    assert offset is not None  # ZoneInfo always has an offset
    return (offset.days * 86_400 + offset.seconds) * 1_000_000 + offset.microseconds


@lru_cache(maxsize=4096)
def _clock_change_days(zone: ZoneInfo, block: int) -> tuple[int, ...]:
    """The local days of ``block`` (512 days from ordinal ``block * 512``) whose UTC
    offset at midnight differs from the one at the next midnight, in order.

    This finds every day on which the offset changes, assuming the offset changes at
    most once a day (true of every zone in the tz database); a zone is probed once per
    512 days (about 0.2 ms), and the answer kept.
    """
    first = max(block << _BLOCK_BITS, 1)
    last = min((block + 1) << _BLOCK_BITS, date.max.toordinal())
    offset = zone.utcoffset
    days = []
    before = offset(datetime.fromordinal(first))
    for day in range(first, last):
        after = offset(datetime.fromordinal(day + 1))
        if after != before:
            days.append(day)
        before = after
    return tuple(days)


def _local_to_utc(zone: ZoneInfo, local: int) -> int:
    """The first instant at which the local clock reads ``local`` or later."""
    naive = _NAIVE_EPOCH + timedelta(microseconds=local)
    first = _us(zone.utcoffset(naive))
    second = _us(zone.utcoffset(naive.replace(fold=1)))
    if first >= second:  # a time that exists: once, or twice (then its first occurrence)
        return local - first
    # The clock skipped this time: the answer is the instant it jumped, in (low, high].
    low, high = local - second, local - first
    while high - low > 1:
        middle = (low + high) // 2
        wall = middle + _us(from_micros(middle).astimezone(zone).utcoffset())
        if wall >= local:
            high = middle
        else:
            low = middle
    return high


class _Plan:
    """The look-up tables of one BusinessHours and the arithmetic over them."""

    __slots__ = (
        "always",
        "changed",
        "day_total",
        "holiday_prefix",
        "holiday_set",
        "holidays",
        "intervals",
        "prefix",
        "week",
        "zone",
    )

    def __init__(
        self, timezone: str, weekly: Mapping[Weekday, tuple[str, ...]], holidays: tuple[date, ...]
    ) -> None:
        self.zone = ZoneInfo(timezone)
        intervals: list[tuple[tuple[int, int], ...]] = []
        for weekday in WEEKDAYS:
            minutes = (_minutes(text, weekday) for text in weekly.get(weekday, ()))
            intervals.append(tuple((s * _MINUTE, e * _MINUTE) for s, e in minutes))
        self.intervals = tuple(intervals)
        self.day_total = tuple(sum(e - s for s, e in ranges) for ranges in self.intervals)
        self.week = sum(self.day_total)
        prefix = [0]
        for index in range(14):
            prefix.append(prefix[-1] + self.day_total[index % 7])
        self.prefix = tuple(prefix)
        self.holidays = tuple(day.toordinal() for day in holidays)
        self.holiday_set = frozenset(self.holidays)
        holiday_prefix = [0]
        for ordinal in self.holidays:
            holiday_prefix.append(holiday_prefix[-1] + self.day_total[(ordinal + 6) % 7])
        self.holiday_prefix = tuple(holiday_prefix)
        self.always = not holidays and all(ranges == ((0, _DAY),) for ranges in self.intervals)
        # The UTC ranges of the days on which the clock changes, once computed.
        self.changed: dict[int, tuple[tuple[int, int], ...]] = {}

    # days

    def is_clock_change(self, day: int) -> bool:
        return day in _clock_change_days(self.zone, day >> _BLOCK_BITS)

    def clock_changes(self, first: int, end: int) -> Iterator[int]:
        """The days in ``[first, end)`` on which the clock changes."""
        for block in range(first >> _BLOCK_BITS, ((end - 1) >> _BLOCK_BITS) + 1):
            for day in _clock_change_days(self.zone, block):
                if first <= day < end:
                    yield day

    def start_of(self, day: int) -> int:
        """The instant local ``day`` begins."""
        return _local_to_utc(self.zone, (day - _UNIX_DAY) * _DAY)

    def day_of(self, x: int) -> int:
        """The local day whose span ``[start_of(day), start_of(day + 1))`` holds ``x``."""
        day = from_micros(x).astimezone(self.zone).toordinal()
        # That is the local date, and the answer except, perhaps, next to a clock change:
        # a clock set back across midnight would show the date of a day that has ended.
        change = self.is_clock_change
        if change(day - 1) or change(day) or change(day + 1):
            while x < self.start_of(day):
                day -= 1
            while x >= self.start_of(day + 1):
                day += 1
        return day

    def ranges(self, day: int) -> tuple[tuple[int, int], ...]:
        """The open ranges of local ``day`` as UTC ``(start, end)``, in order."""
        if day in self.holiday_set:
            return ()
        intervals = self.intervals[(day + 6) % 7]
        if not intervals:
            return ()
        local = (day - _UNIX_DAY) * _DAY
        if self.is_clock_change(day):
            found = self.changed.get(day)
            if found is None:
                zone = self.zone
                mapped = (
                    (_local_to_utc(zone, local + s), _local_to_utc(zone, local + e))
                    for s, e in intervals
                )
                found = self.changed[day] = tuple((s, e) for s, e in mapped if s < e)
            return found
        base = local - _us(self.zone.utcoffset(datetime.fromordinal(day)))
        return tuple((base + s, base + e) for s, e in intervals)

    def business_of(self, day: int) -> int:
        """The business time of local ``day``."""
        if day in self.holiday_set:
            return 0
        if self.is_clock_change(day):
            return sum(e - s for s, e in self.ranges(day))
        return self.day_total[(day + 6) % 7]

    def business_days(self, first: int, end: int) -> int:
        """The business time of the local days ``[first, end)``, without walking them."""
        if end <= first:
            return 0
        count = end - first
        weekday = (first + 6) % 7
        total = (count // 7) * self.week
        total += self.prefix[weekday + count % 7] - self.prefix[weekday]
        holidays = self.holidays
        total -= (
            self.holiday_prefix[bisect_left(holidays, end)]
            - self.holiday_prefix[bisect_left(holidays, first)]
        )
        for day in self.clock_changes(first, end):
            if day not in self.holiday_set:
                total += self.business_of(day) - self.day_total[(day + 6) % 7]
        return total

    # queries

    def is_open(self, x: int) -> bool:
        if self.always:
            return True
        return any(s <= x < e for s, e in self.ranges(self.day_of(x)))

    def next_open(self, x: int) -> int | None:
        if self.week == 0:
            return None
        if self.always:
            return x
        day = self.day_of(x)
        while True:
            for s, e in self.ranges(day):
                if x < e:
                    return max(s, x)
            day += 1

    def add(self, x: int, r: int) -> int:
        """The earliest instant at which ``r`` > 0 of business time has passed after ``x``."""
        if self.always:
            return x + r
        day = self.day_of(x)
        for s, e in self.ranges(day):
            if e > x:
                s = max(s, x)
                if r <= e - s:
                    return s + r
                r -= e - s
        day += 1
        # Skip whole weeks, leaving at most a week's worth to walk. Holidays in a skipped
        # span leave more to go: skip again. A fall-back inside an interval can make a
        # span hold more than r: then skip fewer weeks.
        week = self.week
        while (weeks := (r - 1) // week) > 0:
            span = self.business_days(day, day + 7 * weeks)
            while span >= r and weeks:
                weeks -= (span - r) // week + 1
                span = self.business_days(day, day + 7 * weeks) if weeks > 0 else 0
            if weeks <= 0:
                break
            r -= span
            day += 7 * weeks
        while True:
            business = self.business_of(day)
            if r <= business:
                for s, e in self.ranges(day):
                    if r <= e - s:
                        return s + r
                    r -= e - s
            r -= business
            day += 1

    def between(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        if self.always:
            return b - a
        first, last = self.day_of(a), self.day_of(b)
        if first == last:
            return sum(max(0, min(e, b) - max(s, a)) for s, e in self.ranges(first))
        total = sum(e - max(s, a) for s, e in self.ranges(first) if e > a)
        total += self.business_days(first + 1, last)
        return total + sum(min(e, b) - s for s, e in self.ranges(last) if s < b)
