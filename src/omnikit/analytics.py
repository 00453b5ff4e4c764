"""``kit.analytics``: how often, through which channels and for what purpose customers
make contact, how they move between channels, and how each channel performs.

Every figure is aggregated by the store in SQL (:mod:`omnikit.store.aggregates`), on
SQLite and PostgreSQL alike; Python receives one row per group. Results are
:class:`Rows` of typed, immutable rows with ``to_csv()``, ``to_pandas()`` and
``to_polars()``.

Periods: ``start`` and ``end`` are timezone-aware datetimes (``end`` exclusive) or
dates (a whole day each, ``end`` inclusive): ``contacts(date(2026, 1, 1),
date(2026, 3, 31))`` is the first quarter. Days, weeks (from Monday) and months are
those of ``timezone`` (an IANA name, default ``"UTC"``): with
``timezone="Europe/Amsterdam"`` a date is an Amsterdam calendar day, and a contact at
23:30 UTC on 1 January counts on 2 January. A *contact* is an inbound or outbound
interaction; internal notes are not contacts.
"""

from __future__ import annotations

import csv
import importlib
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload
from zoneinfo import ZoneInfo

from omnikit._time import from_micros, to_micros
from omnikit.errors import MissingDependencyError, ValidationError
from omnikit.model._base import Model
from omnikit.model.hours import _zone_name
from omnikit.store import aggregates

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = [
    "DIMENSIONS",
    "Analytics",
    "ChannelPath",
    "ChannelPerformance",
    "ContactCount",
    "Rows",
    "Switch",
    "Switches",
]

DIMENSIONS = ("channel", "purpose", "kind", "agent")
"""What ``contacts`` can count by, besides the period."""

Every = Literal["day", "week", "month"]
_EVERY = ("day", "week", "month")
_EPOCH = date(1970, 1, 1)

RowT = TypeVar("RowT", bound=Model)


class ContactCount(Model):
    """Contacts in one period for one combination of the ``by`` dimensions.

    A dimension not counted by is ``None``; so is the purpose of contacts without one.
    A contact with several purpose tags counts once under each.
    """

    period: date | None
    """The first day of the period (``None`` when not counted by period)."""
    channel: str | None = None
    purpose: str | None = None
    kind: str | None = None
    agent: str | None = None
    contacts: int
    """Inbound plus outbound interactions."""
    customers: int
    """Distinct customers among them."""
    inbound: int
    outbound: int


class Switch(Model):
    """How often a contact on ``from_channel`` was followed by the same customer's (or
    case's) next contact on ``to_channel`` (the same channel counts too: it is the
    diagonal of the matrix)."""

    from_channel: str
    to_channel: str
    count: int


class ChannelPath(Model):
    """A journey's channels in order, with repeats collapsed: ``webshop → phone →
    email``; how many journeys took it, and by how many customers (or cases)."""

    channels: tuple[str, ...]
    journeys: int
    customers: int

    def __str__(self) -> str:
        return " → ".join(self.channels)


class ChannelPerformance(Model):
    """How one channel performed in the period.

    Contact figures count the channel's contacts in the period. Case figures count the
    cases opened in the period whose first contact was on the channel (``Case.channel``).
    A rate is ``None`` when nothing could be counted (no cases, no tracked messages).
    """

    channel: str | None
    """``None`` for cases opened without a channel."""
    contacts: int
    inbound: int
    outbound: int
    customers: int
    cases: int
    first_response_p50: timedelta | None
    """Median time from opening a case to the business's first outbound contact on it;
    business time where the case's service level recorded it."""
    first_response_p90: timedelta | None
    resolution_p50: timedelta | None
    """Median time from opening a case to its resolution, for resolved cases."""
    resolution_p90: timedelta | None
    first_contact_resolution: float | None
    """Share of resolved cases resolved with one inbound contact and never reopened."""
    repeat_contact_rate: float | None
    """Share of inbound contacts followed by another inbound contact of the customer,
    on any channel, within ``repeat_within`` (default 7 days)."""
    reopen_rate: float | None
    """Share of the cases that were reopened after resolution."""
    sla_attainment: float | None
    """Share of the cases with a service level that never breached it."""
    delivery_rate: float | None
    """Share of outbound messages with a delivery status that were delivered (or read)."""
    failure_rate: float | None
    """Share of outbound messages with a delivery status that failed."""
    cost: float | None
    """``contacts`` times the configured cost per contact (``None`` when not set)."""
    cost_per_contact: float | None


class Rows(Sequence[RowT], Generic[RowT]):
    """Typed result rows: a sequence, with ``to_csv()``, ``to_dicts()``,
    ``to_pandas()`` and ``to_polars()``."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, rows: Sequence[RowT], columns: Sequence[str]) -> None:
        self._rows = list(rows)
        self._columns = tuple(columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """The field names, in order: the CSV header and the data frame's columns."""
        return self._columns

    @overload
    def __getitem__(self, index: int) -> RowT: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[RowT]: ...
    def __getitem__(self, index: int | slice) -> RowT | Sequence[RowT]:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[RowT]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self._rows)} rows: {', '.join(self._columns)}>"

    def to_dicts(self) -> list[dict[str, Any]]:
        """Each row as a dict of its fields."""
        return [{name: getattr(row, name) for name in self._columns} for row in self._rows]

    def to_csv(self, path: str | Path | None = None) -> str:
        """The rows as CSV with a header (UTF-8, ``\\n`` line ends); also written to
        ``path`` when given. Dates are ISO 8601, durations are seconds, paths are
        channels joined by ``>``, a missing value is empty."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self._columns)
        for record in self.to_dicts():
            writer.writerow(_csv_value(record[name]) for name in self._columns)
        content = out.getvalue()
        if path is not None:
            Path(path).write_text(content, encoding="utf-8")
        return content

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` of the rows (durations as ``timedelta64``).

        Raises ``MissingDependencyError`` when pandas is not installed.
        """
        pandas = _optional("pandas", "to_pandas()")
        return pandas.DataFrame(self.to_dicts(), columns=list(self._columns))

    def to_polars(self) -> Any:
        """A ``polars.DataFrame`` of the rows (durations as ``Duration``).

        Raises ``MissingDependencyError`` when polars is not installed.
        """
        polars = _optional("polars", "to_polars()")
        records = [
            {key: list(value) if isinstance(value, tuple) else value for key, value in r.items()}
            for r in self.to_dicts()
        ]
        if not records:
            return polars.DataFrame(schema=list(self._columns))
        return polars.DataFrame(records, schema=list(self._columns), orient="row")


class Switches(Rows[Switch]):
    """The channel-to-channel switches: rows of (from, to, count), and the matrix."""

    __slots__ = ()

    @property
    def total(self) -> int:
        """The number of consecutive-contact pairs counted."""
        return sum(row.count for row in self)

    def matrix(self) -> dict[str, dict[str, int]]:
        """``matrix()[from_channel][to_channel]``: how often one followed the other."""
        result: dict[str, dict[str, int]] = {}
        for row in self:
            result.setdefault(row.from_channel, {})[row.to_channel] = row.count
        return result


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ">".join(map(str, value))
    return value


class Analytics:
    """``kit.analytics``: contact volumes, channel switches and paths, and channel
    performance, aggregated in the store."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit
        self._costs: dict[str, float] = {}

    # settings ---------------------------------------------------------------------------

    @property
    def costs(self) -> Mapping[str, float]:
        """The cost of one contact per channel, as set by ``set_costs``."""
        return dict(self._costs)

    def set_costs(self, costs: Mapping[str, float]) -> None:
        """Set the cost of one contact per channel (in your currency), e.g.
        ``{"phone": 4.80, "email": 1.10}``; ``channel_performance`` then reports cost
        and cost per contact. Channels left out have no cost figures.

        Raises ``UnknownChannelError`` for a channel the kit does not know and
        ``ValidationError`` for a cost that is not a finite number ≥ 0.
        """
        checked: dict[str, float] = {}
        for channel, cost in costs.items():
            channel_id = self._kit.channels.get(channel).id
            if (
                isinstance(cost, bool)
                or not isinstance(cost, int | float)
                or not math.isfinite(cost)
                or cost < 0
            ):
                raise ValidationError(
                    f"cost {cost!r} for channel {channel_id!r} must be a number of at least 0"
                )
            checked[channel_id] = float(cost)
        self._costs = checked

    # queries ----------------------------------------------------------------------------

    def contacts(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        by: Sequence[str] | str = ("channel", "purpose"),
        every: Every | None = "day",
        timezone: str = "UTC",
    ) -> Rows[ContactCount]:
        """Contacts per period (``every`` day, week or month of ``timezone``;
        ``None``: the whole period at once) and per ``by`` (any of ``"channel"``,
        ``"purpose"``, ``"kind"``, ``"agent"``): counts, distinct customers, inbound
        and outbound.

        Raises ``ValidationError`` for a bad period, an unknown dimension, ``every`` or
        ``timezone``.
        """
        zone = _zone(timezone)
        low, high = _period(start, end, zone)
        dims = _dimensions(by)
        if every is not None and every not in _EVERY:
            raise ValidationError(f"every {every!r} is not one of 'day', 'week', 'month', None")
        params: dict[str, Any] = {"start": low, "end": high}
        months: list[date] = []
        shifts: list[tuple[int, int]] = []
        if every == "month":
            months = _months(_local(low, zone).date(), _local(high - 1, zone).date())
            for n, first in enumerate(months[1:], start=1):
                params[f"m{n}"] = to_micros(datetime.combine(first, time(), zone))
        elif every is not None:
            shifts = _offsets(zone, low, high)
            params["o0"] = shifts[0][1]
            for n, (since, offset) in enumerate(shifts[1:], start=1):
                params[f"s{n}"] = since
                params[f"o{n}"] = offset
        name = f"contacts:{','.join(dims)}:{every}:{len(months)}:{len(shifts)}"
        sql = aggregates.contact_counts(dims, every, len(months), len(shifts))
        with self._kit.store.transaction() as tx:
            found = tx.aggregate(name, sql, params)
        rows = []
        for record in found:
            period, *values = record
            keys = dict(zip(dims, values[: len(dims)], strict=True))
            contacts, customers, inbound, outbound = values[len(dims) :]
            rows.append(
                ContactCount.trusted(
                    period=_period_start(every, int(period), months),
                    channel=keys.get("channel"),
                    purpose=keys.get("purpose"),
                    kind=keys.get("kind"),
                    agent=keys.get("agent"),
                    contacts=int(contacts),
                    customers=int(customers),
                    inbound=int(inbound),
                    outbound=int(outbound),
                )
            )
        return Rows(rows, tuple(ContactCount.model_fields))

    def switches(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        within: timedelta = timedelta(days=7),
        per: Literal["customer", "case"] = "customer",
        timezone: str = "UTC",
    ) -> Switches:
        """The channel-to-channel matrix: for each pair of consecutive contacts of one
        customer (``per="case"``: of one case) in the period, at most ``within`` apart,
        the channel of the first and of the second.

        Raises ``ValidationError`` for a bad period, ``within``, ``per`` or
        ``timezone`` (which says what a date means).
        """
        low, high = _period(start, end, _zone(timezone))
        params = {"start": low, "end": high, "within": _within(within)}
        with self._kit.store.transaction() as tx:
            found = tx.aggregate(f"switches:{_per(per)}", aggregates.switches(per), params)
        rows = [
            Switch.trusted(from_channel=a, to_channel=b, count=int(count)) for a, b, count in found
        ]
        return Switches(rows, tuple(Switch.model_fields))

    def paths(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        within: timedelta = timedelta(days=7),
        top: int = 20,
        min_steps: int = 2,
        per: Literal["customer", "case"] = "customer",
        timezone: str = "UTC",
    ) -> Rows[ChannelPath]:
        """The ``top`` most common journeys' channel paths, most common first.

        A journey is a run of one customer's (``per="case"``: one case's) contacts in
        the period, each at most ``within`` after the one before; its path is its
        channels in order with repeats collapsed (web shop, web shop, phone → ``webshop
        → phone``). Paths with fewer than ``min_steps`` channels are left out (1 keeps
        single-channel journeys).

        Raises ``ValidationError`` for a bad period, ``within``, ``top``, ``min_steps``,
        ``per`` or ``timezone`` (which says what a date means).
        """
        low, high = _period(start, end, _zone(timezone))
        params = {
            "start": low,
            "end": high,
            "within": _within(within),
            "top": _positive(top, "top"),
            "min_steps": _positive(min_steps, "min_steps"),
        }
        with self._kit.store.transaction() as tx:
            found = tx.aggregate(f"paths:{_per(per)}", aggregates.paths(per), params)
        rows = [
            ChannelPath.trusted(
                channels=tuple(path.split(",")), journeys=int(n), customers=int(who)
            )
            for path, n, who in found
        ]
        return Rows(rows, tuple(ChannelPath.model_fields))

    def channel_performance(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        repeat_within: timedelta = timedelta(days=7),
        timezone: str = "UTC",
    ) -> Rows[ChannelPerformance]:
        """Per channel: volume, first-response and resolution time (p50, p90),
        first-contact resolution, repeat contacts within ``repeat_within``, reopens,
        SLA attainment, outbound delivery and failure, and cost where configured
        (``set_costs``). See ``ChannelPerformance`` for each figure's definition.

        Raises ``ValidationError`` for a bad period, ``repeat_within`` or ``timezone``
        (which says what a date means).
        """
        low, high = _period(start, end, _zone(timezone))
        repeat = _within(repeat_within, "repeat_within")
        params = {"start": low, "end": high, "repeat": repeat, "end_repeat": high + repeat}
        case_params = {"start": low, "end": high}
        with self._kit.store.transaction() as tx:
            contacts = tx.aggregate(
                "performance:contacts", aggregates.contact_performance(), params
            )
            cases = tx.aggregate("performance:cases", aggregates.case_performance(), case_params)
        by_channel: dict[str | None, dict[str, Any]] = {}
        for channel, total, inbound, outbound, customers, tracked, ok, failed, repeats in contacts:
            by_channel[channel] = {
                "contacts": int(total),
                "inbound": int(inbound),
                "outbound": int(outbound),
                "customers": int(customers),
                "delivery_rate": _rate(ok, tracked),
                "failure_rate": _rate(failed, tracked),
                "repeat_contact_rate": _rate(repeats, inbound),
            }
        for record in cases:
            channel, n, fr50, fr90, rs50, rs90, resolved, first, reopened, with_sla, met = record
            by_channel.setdefault(channel or None, {}).update(
                {
                    "cases": int(n),
                    "first_response_p50": _duration(fr50),
                    "first_response_p90": _duration(fr90),
                    "resolution_p50": _duration(rs50),
                    "resolution_p90": _duration(rs90),
                    "first_contact_resolution": _rate(first, resolved),
                    "reopen_rate": _rate(reopened, n),
                    "sla_attainment": _rate(met, with_sla),
                }
            )
        rows = []
        for channel in sorted(by_channel, key=lambda c: (c is None, c or "")):
            figures = by_channel[channel]
            count = figures.get("contacts", 0)
            cost = None if channel is None else self._costs.get(channel)
            rows.append(
                ChannelPerformance.trusted(
                    channel=channel,
                    contacts=count,
                    inbound=figures.get("inbound", 0),
                    outbound=figures.get("outbound", 0),
                    customers=figures.get("customers", 0),
                    cases=figures.get("cases", 0),
                    first_response_p50=figures.get("first_response_p50"),
                    first_response_p90=figures.get("first_response_p90"),
                    resolution_p50=figures.get("resolution_p50"),
                    resolution_p90=figures.get("resolution_p90"),
                    first_contact_resolution=figures.get("first_contact_resolution"),
                    repeat_contact_rate=figures.get("repeat_contact_rate"),
                    reopen_rate=figures.get("reopen_rate"),
                    sla_attainment=figures.get("sla_attainment"),
                    delivery_rate=figures.get("delivery_rate"),
                    failure_rate=figures.get("failure_rate"),
                    cost=None if cost is None else cost * count,
                    cost_per_contact=cost,
                )
            )
        return Rows(rows, tuple(ChannelPerformance.model_fields))


# checks and conversions -------------------------------------------------------------------


def _optional(package: str, needed_by: str) -> Any:
    """The module ``package``; ``MissingDependencyError`` naming ``needed_by`` and the
    install command when it is not installed."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingDependencyError(
            f"{needed_by} needs {package}: pip install {package}"
        ) from None


def _zone(value: object) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA timezone name; ``ValidationError`` otherwise."""
    return ZoneInfo(_zone_name(value))


def _local(micros: int, zone: ZoneInfo) -> datetime:
    return from_micros(micros).astimezone(zone)


def _offset(micros: int, zone: ZoneInfo) -> int:
    """``zone``'s offset from UTC at the instant ``micros``, in microseconds."""
    offset = _local(micros, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset // timedelta(microseconds=1)


def _offsets(zone: ZoneInfo, low: int, high: int) -> list[tuple[int, int]]:
    """``zone``'s offsets from UTC during ``[low, high)``: ``(since, offset)`` pairs,
    the first since ``low``, each later one from the exact instant it took effect.

    Offsets change a few times a year (daylight saving time), so a day-by-day walk
    finds each change and a binary search its microsecond.
    """
    shifts = [(low, _offset(low, zone))]
    at = low
    while at < high:
        step = min(at + aggregates.DAY, high - 1)
        if _offset(step, zone) == shifts[-1][1]:
            at = step + 1 if step == high - 1 else step
            continue
        before, after = at, step  # the offset changes in (before, after]
        while after - before > 1:
            middle = (before + after) // 2
            if _offset(middle, zone) == shifts[-1][1]:
                before = middle
            else:
                after = middle
        shifts.append((after, _offset(after, zone)))
        at = after
    return shifts


def _instant(value: object, name: str, zone: ZoneInfo, *, end: bool) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(f"{name} {value.isoformat()} is naive; give a timezone")
        return to_micros(value)
    if isinstance(value, date):
        day = value + timedelta(days=1) if end else value
        return to_micros(datetime.combine(day, time(), zone))
    raise ValidationError(f"{name} {value!r} must be a date or a timezone-aware datetime")


def _period(start: object, end: object, zone: ZoneInfo) -> tuple[int, int]:
    low = _instant(start, "start", zone, end=False)
    high = _instant(end, "end", zone, end=True)
    if low > high:
        raise ValidationError(f"start {start} is after end {end}")
    if low == high:
        raise ValidationError(f"the period from {start} to {end} is empty")
    return low, high


def _dimensions(by: object) -> tuple[str, ...]:
    names = (by,) if isinstance(by, str) else by
    if not isinstance(names, Sequence):
        raise ValidationError(f"by {by!r} must be a dimension name or a sequence of them")
    dims: list[str] = []
    for name in names:
        if name not in DIMENSIONS:
            raise ValidationError(
                f"unknown dimension {name!r}: choose from {', '.join(map(repr, DIMENSIONS))}"
            )
        if name in dims:
            raise ValidationError(f"dimension {name!r} is given twice")
        dims.append(name)
    return tuple(dims)


def _within(value: object, name: str = "within") -> int:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(f"{name} {value!r} must be a positive timedelta")
    return value // timedelta(microseconds=1)


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} {value!r} must be a whole number of at least 1")
    return value


def _per(per: object) -> str:
    if per not in ("customer", "case"):
        raise ValidationError(f"per {per!r} is not one of 'customer', 'case'")
    return str(per)


def _months(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s to ``last``'s."""
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _period_start(every: str | None, period: int, months: list[date]) -> date | None:
    if every == "day":
        return _EPOCH + timedelta(days=period)
    if every == "week":
        return _EPOCH + timedelta(days=7 * period - 3)
    if every == "month":
        return months[period]
    return None


def _rate(part: object, whole: object) -> float | None:
    total = int(whole or 0)  # type: ignore[call-overload]
    return None if total == 0 else int(part or 0) / total  # type: ignore[call-overload]


def _duration(micros: object) -> timedelta | None:
    if micros is None:
        return None
    return timedelta(microseconds=round(float(micros)))  # type: ignore[arg-type]
