"""kit.analytics: contacts, switches, paths and channel performance, on every backend."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnikit import (
    BusinessHours,
    CaseStatus,
    ChannelPath,
    Interaction,
    MissingDependencyError,
    Omnikit,
    OmnikitError,
    Queue,
    Rows,
    SlaPolicy,
    UnknownChannelError,
    ValidationError,
)

JAN_5 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
Q1 = (date(2026, 1, 1), date(2026, 3, 31))


class Clock:
    def __init__(self) -> None:
        self.at = JAN_5

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kit(store_url: str, clock: Clock) -> Iterator[Omnikit]:
    with Omnikit(store_url, default_region="NL", clock=clock) as kit:
        yield kit


def contact(
    kit: Omnikit,
    who: str,
    channel: str,
    at: datetime,
    *,
    direction: str = "inbound",
    purpose: str | list[str] = (),  # type: ignore[assignment]
    kind: str = "message",
    case: str | None = None,
    agent: str | None = None,
) -> Interaction:
    return kit.record(
        customer=who,
        channel=channel,
        direction=direction,  # type: ignore[arg-type]
        kind=kind,
        occurred_at=at,
        purpose=purpose,
        case=case,
        agent=agent,
    )


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# contacts --------------------------------------------------------------------------------


def test_contacts_count_per_day_channel_and_purpose(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    eva = kit.customers.identify(email="eva@example.nl").id
    contact(kit, jan, "webshop", JAN_5, purpose="order", kind="order")
    contact(kit, jan, "phone", JAN_5 + hours(2), purpose=["delivery", "order"], kind="call")
    contact(kit, eva, "phone", JAN_5 + hours(3), purpose="delivery", kind="call")
    contact(kit, jan, "email", JAN_5 + hours(4), direction="outbound")
    contact(kit, eva, "email", JAN_5 + timedelta(days=1), direction="internal", kind="note")

    rows = kit.analytics.contacts(*Q1)
    assert [(r.period, r.channel, r.purpose, r.contacts, r.customers) for r in rows] == [
        (date(2026, 1, 5), "email", None, 1, 1),
        (date(2026, 1, 5), "phone", "delivery", 2, 2),
        (date(2026, 1, 5), "phone", "order", 1, 1),
        (date(2026, 1, 5), "webshop", "order", 1, 1),
    ]  # the internal note is not a contact; two purpose tags count under each
    email = rows[0]
    assert (email.inbound, email.outbound, email.kind, email.agent) == (0, 1, None, None)


def test_contacts_by_other_dimensions_and_without_periods(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    contact(kit, jan, "phone", JAN_5, kind="call", agent="ann")
    contact(kit, jan, "phone", JAN_5 + hours(1), kind="call", agent="ann", direction="outbound")
    contact(kit, jan, "email", JAN_5 + timedelta(days=3), agent="bob")

    by_agent = kit.analytics.contacts(*Q1, by="agent", every=None)
    assert [(r.period, r.agent, r.contacts, r.inbound, r.outbound) for r in by_agent] == [
        (None, "ann", 2, 1, 1),
        (None, "bob", 1, 1, 0),
    ]
    by_kind = kit.analytics.contacts(*Q1, by=("channel", "kind"), every=None)
    assert [(r.channel, r.kind, r.contacts) for r in by_kind] == [
        ("email", "message", 1),
        ("phone", "call", 2),
    ]
    total = kit.analytics.contacts(*Q1, by=(), every=None)
    assert [(r.contacts, r.customers) for r in total] == [(3, 1)]


def test_contacts_per_week_and_month(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    # Sunday 4 Jan, Monday 5 Jan, Sunday 1 Feb, Monday 2 March
    for at in (
        datetime(2026, 1, 4, 23, 59, tzinfo=UTC),
        JAN_5,
        datetime(2026, 2, 1, 12, tzinfo=UTC),
        datetime(2026, 3, 2, 8, tzinfo=UTC),
    ):
        contact(kit, jan, "sms", at)
    weeks = kit.analytics.contacts(*Q1, by="channel", every="week")
    assert [(r.period, r.contacts) for r in weeks] == [
        (date(2025, 12, 29), 1),  # weeks start on Monday
        (date(2026, 1, 5), 1),
        (date(2026, 1, 26), 1),
        (date(2026, 3, 2), 1),
    ]
    months = kit.analytics.contacts(*Q1, by="channel", every="month")
    assert [(r.period, r.contacts) for r in months] == [
        (date(2026, 1, 1), 2),
        (date(2026, 2, 1), 1),
        (date(2026, 3, 1), 1),
    ]
    # a period inside one month has one month bucket
    one = kit.analytics.contacts(date(2026, 1, 2), date(2026, 1, 20), by=(), every="month")
    assert [(r.period, r.contacts) for r in one] == [(date(2026, 1, 1), 2)]


AMSTERDAM = "Europe/Amsterdam"


def test_contacts_count_the_days_weeks_and_months_of_a_timezone(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    for at in (
        datetime(2026, 1, 4, 23, 30, tzinfo=UTC),  # Monday 5 Jan 00:30 in Amsterdam (CET)
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # 01:30 CET, before summer time starts
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03:30 CEST, after
        datetime(2026, 3, 29, 22, 30, tzinfo=UTC),  # Monday 30 March 00:30 CEST
        datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 1 April 00:30 CEST
    ):
        contact(kit, jan, "sms", at)
    april = (date(2026, 1, 1), date(2026, 4, 30))

    def counts(every: str, timezone: str = "UTC") -> list[tuple[date | None, int]]:
        rows = kit.analytics.contacts(*april, by=(), every=every, timezone=timezone)  # type: ignore[arg-type]
        return [(r.period, r.contacts) for r in rows]

    assert counts("day") == [
        (date(2026, 1, 4), 1),
        (date(2026, 3, 29), 3),
        (date(2026, 3, 31), 1),
    ]
    assert counts("day", AMSTERDAM) == [
        (date(2026, 1, 5), 1),
        (date(2026, 3, 29), 2),  # the 23-hour day summer time starts on
        (date(2026, 3, 30), 1),
        (date(2026, 4, 1), 1),
    ]
    assert counts("week") == [
        (date(2025, 12, 29), 1),
        (date(2026, 3, 23), 3),
        (date(2026, 3, 30), 1),
    ]
    assert counts("week", AMSTERDAM) == [
        (date(2026, 1, 5), 1),
        (date(2026, 3, 23), 2),
        (date(2026, 3, 30), 2),
    ]
    assert counts("month") == [(date(2026, 1, 1), 1), (date(2026, 3, 1), 4)]
    assert counts("month", AMSTERDAM) == [
        (date(2026, 1, 1), 1),
        (date(2026, 3, 1), 3),
        (date(2026, 4, 1), 1),
    ]
    # New York is behind UTC: 23:30 UTC on 4 January is still the 4th there
    assert counts("day", "America/New_York")[0] == (date(2026, 1, 4), 1)


def test_dates_are_days_of_the_timezone_in_every_query(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    contact(kit, jan, "sms", datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 1 April in Amsterdam
    contact(kit, jan, "email", datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    contact(kit, jan, "phone", datetime(2026, 4, 1, 22, 30, tzinfo=UTC))  # 2 April there
    first = (date(2026, 4, 1), date(2026, 4, 1))
    analytics = kit.analytics
    assert sum(r.contacts for r in analytics.contacts(*first, every=None)) == 1
    assert sum(r.contacts for r in analytics.contacts(*first, every=None, timezone=AMSTERDAM)) == 2
    assert analytics.switches(*first).total == 0
    assert [
        (r.from_channel, r.to_channel) for r in analytics.switches(*first, timezone=AMSTERDAM)
    ] == [("sms", "email")]
    assert [r.channels for r in analytics.paths(*first, timezone=AMSTERDAM)] == [("sms", "email")]
    assert len(analytics.paths(*first)) == 0
    assert [r.channel for r in analytics.channel_performance(*first)] == ["phone"]
    assert [r.channel for r in analytics.channel_performance(*first, timezone=AMSTERDAM)] == [
        "email",
        "sms",
    ]
    # an aware datetime means the same instant whatever the timezone
    instant = (datetime(2026, 3, 31, 22, tzinfo=UTC), datetime(2026, 4, 1, 22, tzinfo=UTC))
    assert (
        analytics.switches(*instant).total
        == analytics.switches(*instant, timezone=AMSTERDAM).total
        == 1
    )


@pytest.mark.parametrize(
    "zone", ["UTC", AMSTERDAM, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
)
def test_the_offsets_of_a_period_match_the_zone_at_every_instant(zone: str) -> None:
    from zoneinfo import ZoneInfo

    from omnikit.analytics import _offsets

    tz = ZoneInfo(zone)
    low = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    high = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    shifts = _offsets(tz, low, high)

    def real(micros: int) -> int:
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
        offset = at.astimezone(tz).utcoffset()
        assert offset is not None
        return offset // timedelta(microseconds=1)

    def table(micros: int) -> int:
        return [offset for since, offset in shifts if since <= micros][-1]

    assert shifts[0][0] == low
    expected_changes = {"UTC": 0, "Asia/Kolkata": 0}.get(zone, 4)  # two a year
    assert len(shifts) == 1 + expected_changes
    for since, _ in shifts[1:]:  # each change to the microsecond
        assert real(since) != real(since - 1)
        assert table(since - 1) == real(since - 1) and table(since) == real(since)
    step = (high - low) // 997
    for micros in range(low, high, step):
        assert table(micros) == real(micros)


def test_period_bounds_dates_include_the_end_day_datetimes_exclude_the_end(
    kit: Omnikit,
) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    contact(kit, jan, "sms", datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    contact(kit, jan, "sms", datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    contact(kit, jan, "sms", datetime(2025, 12, 31, 23, 59, tzinfo=UTC))

    def total(start: date | datetime, end: date | datetime) -> int:
        return sum(r.contacts for r in kit.analytics.contacts(start, end, every=None))

    assert total(*Q1) == 1
    assert total(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)) == 1
    assert total(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, 0, 1, tzinfo=UTC)) == 2
    assert total(date(2026, 6, 1), date(2026, 6, 30)) == 0  # no data: no rows, no error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: a.contacts(date(2026, 3, 1), date(2026, 2, 1)), "is after end"),
        (
            lambda a: a.contacts(
                datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
            ),
            "is empty",
        ),
        (lambda a: a.contacts(datetime(2026, 1, 1), date(2026, 2, 1)), "naive"),
        (lambda a: a.contacts("2026-01-01", date(2026, 2, 1)), "must be a date"),
        (lambda a: a.contacts(*Q1, by=("channel", "colour")), "unknown dimension 'colour'"),
        (lambda a: a.contacts(*Q1, by=("channel", "channel")), "given twice"),
        (lambda a: a.contacts(*Q1, by=42), "must be a dimension name"),
        (lambda a: a.contacts(*Q1, every="hour"), "every 'hour'"),
        (lambda a: a.switches(*Q1, within=timedelta(0)), "within"),
        (lambda a: a.switches(*Q1, within=7), "within 7"),
        (lambda a: a.switches(*Q1, per="agent"), "per 'agent'"),
        (lambda a: a.paths(*Q1, top=0), "top 0"),
        (lambda a: a.paths(*Q1, min_steps=True), "min_steps True"),
        (lambda a: a.channel_performance(*Q1, repeat_within=-hours(1)), "repeat_within"),
        (lambda a: a.contacts(*Q1, timezone="Mars/Olympus"), "timezone 'Mars/Olympus'"),
        (lambda a: a.switches(*Q1, timezone=1), "timezone 1"),
        (lambda a: a.paths(*Q1, timezone=""), "timezone ''"),
        (lambda a: a.channel_performance(*Q1, timezone="CET+1"), "timezone 'CET\\+1'"),
        (lambda a: a.set_costs({"phone": -1}), "cost -1"),
        (lambda a: a.set_costs({"phone": float("nan")}), "cost nan"),
    ],
)
def test_bad_arguments_are_clear_errors(kit: Omnikit, call: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(kit.analytics)  # type: ignore[operator]


def test_costs_need_a_known_channel(kit: Omnikit) -> None:
    with pytest.raises(UnknownChannelError, match="carrier-pigeon"):
        kit.analytics.set_costs({"carrier-pigeon": 1.0})
    assert kit.analytics.costs == {}


# results ---------------------------------------------------------------------------------


def test_rows_to_csv_and_dicts(kit: Omnikit, tmp_path: object) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    contact(kit, jan, "phone", JAN_5, purpose="order")
    contact(kit, jan, "email", JAN_5 + hours(1))
    rows = kit.analytics.contacts(*Q1)
    assert isinstance(rows, Rows) and len(rows) == 2
    assert rows.to_csv() == (
        "period,channel,purpose,kind,agent,contacts,customers,inbound,outbound\n"
        "2026-01-05,email,,,,1,1,1,0\n"
        "2026-01-05,phone,order,,,1,1,1,0\n"
    )
    assert rows.to_dicts()[1]["purpose"] == "order"
    paths = kit.analytics.paths(*Q1)
    assert paths.to_csv() == "channels,journeys,customers\nphone>email,1,1\n"
    assert str(paths[0]) == "phone → email"


def test_to_pandas_and_to_polars(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    contact(kit, jan, "phone", JAN_5)
    rows = kit.analytics.contacts(*Q1, by="channel")
    for method, library in (("to_pandas", "pandas"), ("to_polars", "polars")):
        try:
            __import__(library)
        except ImportError:
            with pytest.raises(MissingDependencyError, match=library):
                getattr(rows, method)()
            continue
        frame = getattr(rows, method)()
        assert list(frame.columns) == list(rows.columns)
        assert frame.shape == (1, len(rows.columns))


# switches and paths ----------------------------------------------------------------------


def test_switches_count_consecutive_contacts_within_the_window(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    eva = kit.customers.identify(email="eva@example.nl").id
    contact(kit, jan, "webshop", JAN_5)
    contact(kit, jan, "phone", JAN_5 + timedelta(days=1))
    contact(kit, jan, "email", JAN_5 + timedelta(days=1, hours=1), direction="outbound")
    contact(kit, jan, "email", JAN_5 + timedelta(days=20))  # 19 days later: no switch
    contact(kit, eva, "phone", JAN_5)
    contact(kit, eva, "phone", JAN_5 + hours(1))
    contact(kit, eva, "email", JAN_5 + hours(2), direction="internal", kind="note")

    switches = kit.analytics.switches(*Q1)
    assert switches.matrix() == {"webshop": {"phone": 1}, "phone": {"email": 1, "phone": 1}}
    assert switches.total == 3
    wider = kit.analytics.switches(*Q1, within=timedelta(days=30))
    assert wider.matrix()["email"] == {"email": 1}


def test_switches_and_paths_per_case(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl").id
    call = contact(kit, jan, "phone", JAN_5)
    first = kit.cases.open(customer=jan, subject="Delivery", interaction=call.id)
    other = kit.cases.open(customer=jan, subject="Invoice")
    contact(kit, jan, "email", JAN_5 + hours(1), case=other.id)
    contact(kit, jan, "whatsapp", JAN_5 + hours(2), case=first.id)
    assert kit.analytics.switches(*Q1, per="case").matrix() == {"phone": {"whatsapp": 1}}
    assert kit.analytics.switches(*Q1).matrix() == {
        "phone": {"email": 1},
        "email": {"whatsapp": 1},
    }
    per_case = kit.analytics.paths(*Q1, per="case", min_steps=1)
    assert [(p.channels, p.journeys) for p in per_case] == [
        (("email",), 1),
        (("phone", "whatsapp"), 1),
    ]


def test_paths_collapse_repeats_split_on_gaps_and_rank(kit: Omnikit) -> None:
    for n in range(3):
        who = kit.customers.identify(email=f"c{n}@example.nl").id
        contact(kit, who, "webshop", JAN_5)
        contact(kit, who, "webshop", JAN_5 + hours(1))
        contact(kit, who, "phone", JAN_5 + timedelta(days=1))
        contact(kit, who, "email", JAN_5 + timedelta(days=2))
        if n == 0:  # a second journey a month later
            contact(kit, who, "store", JAN_5 + timedelta(days=40))
            contact(kit, who, "pickup", JAN_5 + timedelta(days=40, hours=1))
            contact(kit, who, "app", JAN_5 + timedelta(days=60))

    paths = kit.analytics.paths(*Q1)
    assert [(p.channels, p.journeys, p.customers) for p in paths] == [
        (("webshop", "phone", "email"), 3, 3),
        (("store", "pickup"), 1, 1),
    ]
    assert all(isinstance(p, ChannelPath) for p in paths)
    assert [p.channels for p in kit.analytics.paths(*Q1, top=1)] == [("webshop", "phone", "email")]
    singles = kit.analytics.paths(*Q1, min_steps=1)
    assert (("app",), 1, 1) in [(p.channels, p.journeys, p.customers) for p in singles]
    assert len(kit.analytics.paths(*Q1, min_steps=4)) == 0


# channel performance ---------------------------------------------------------------------


def test_channel_performance(kit: Omnikit, clock: Clock) -> None:
    kit.analytics.set_costs({"phone": 4.5, "email": 1.0})
    jan = kit.customers.identify(email="jan@example.nl").id
    eva = kit.customers.identify(email="eva@example.nl").id

    # Jan calls; answered by e-mail 2 h later; resolved at 5 h: first-contact resolution.
    call = contact(kit, jan, "phone", JAN_5)
    case = kit.cases.open(customer=jan, subject="Delivery", interaction=call.id)
    reply = contact(kit, jan, "email", JAN_5 + hours(2), direction="outbound", case=case.id)
    clock.at = JAN_5 + hours(5)
    kit.cases.transition(case.id, CaseStatus.RESOLVED)

    # Eva calls twice (a repeat within 7 days); her case is answered after 4 h,
    # resolved, then reopened and resolved again.
    clock.at = JAN_5 + hours(1)
    first = contact(kit, eva, "phone", JAN_5 + hours(1))
    other = kit.cases.open(customer=eva, subject="Refund", interaction=first.id)
    answer = contact(kit, eva, "email", JAN_5 + hours(5), direction="outbound", case=other.id)
    clock.at = JAN_5 + hours(6)
    kit.cases.transition(other.id, CaseStatus.RESOLVED)
    clock.at = JAN_5 + timedelta(days=2)
    contact(kit, eva, "phone", JAN_5 + timedelta(days=2), case=other.id)
    kit.cases.transition(other.id, CaseStatus.OPEN)
    clock.at = JAN_5 + timedelta(days=2, hours=1)
    kit.cases.transition(other.id, CaseStatus.RESOLVED)

    with kit.store.transaction(write=True) as tx:  # delivery reports for the e-mails
        assert tx.set_interaction_status(answer.id, None, "failed", {})
        assert tx.set_interaction_status(reply.id, None, "read", {})

    rows = {r.channel: r for r in kit.analytics.channel_performance(*Q1)}
    phone, email = rows["phone"], rows["email"]
    assert (phone.contacts, phone.inbound, phone.outbound, phone.customers) == (3, 3, 0, 2)
    assert phone.cases == 2
    assert phone.first_response_p50 == hours(2)
    assert phone.first_response_p90 == hours(4)
    assert phone.resolution_p50 == hours(5)
    assert phone.resolution_p90 == timedelta(days=2)  # 1 h → 2 d 1 h after opening
    assert phone.first_contact_resolution == 0.5
    assert phone.reopen_rate == 0.5
    assert phone.repeat_contact_rate == pytest.approx(1 / 3)  # Eva's first call
    assert phone.sla_attainment is None  # no case had a service level
    assert (phone.cost, phone.cost_per_contact) == (13.5, 4.5)
    assert phone.delivery_rate is None
    assert (email.contacts, email.outbound, email.cases) == (2, 2, 0)
    assert (email.delivery_rate, email.failure_rate) == (0.5, 0.5)
    assert email.first_response_p50 is None
    assert (email.cost, email.cost_per_contact) == (2.0, 1.0)
    assert rows.keys() == {"phone", "email"}


def test_first_response_counts_business_hours_where_an_sla_applies(
    kit: Omnikit, clock: Clock
) -> None:
    office = BusinessHours(
        timezone="UTC", weekly={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    )
    kit.routing.set_queue(
        Queue(
            id="support",
            hours=office,
            sla={"normal": SlaPolicy(first_response=hours(4), resolution=hours(16))},
        )
    )
    jan = kit.customers.identify(email="jan@example.nl").id
    clock.at = JAN_5 + hours(7)  # Monday 16:00
    mail = contact(kit, jan, "email", clock.at)
    case = kit.cases.open(customer=jan, subject="Broken", interaction=mail.id, queue="support")
    # answered Tuesday 10:00: 18 h on the wall clock, 2 business hours
    clock.at = JAN_5 + timedelta(days=1, hours=1)
    contact(kit, jan, "email", clock.at, direction="outbound", case=case.id)
    # resolved Wednesday 12:00: 1 + 8 + 3 business hours, within the 16 h target
    clock.at = JAN_5 + timedelta(days=2, hours=3)
    kit.cases.transition(case.id, CaseStatus.RESOLVED)
    stored = kit.cases.get(case.id).sla
    assert stored is not None
    assert stored.first_response_business == hours(2).total_seconds()
    assert stored.resolution_business == hours(12).total_seconds()

    (email,) = kit.analytics.channel_performance(*Q1)
    assert email.first_response_p50 == hours(2)
    assert email.resolution_p50 == hours(12)
    assert email.sla_attainment == 1.0


def test_sla_attainment_counts_breaches(kit: Omnikit, clock: Clock) -> None:
    kit.routing.set_queue(Queue(id="support", sla={"normal": SlaPolicy(first_response=hours(1))}))
    met, missed = (kit.customers.identify(email=f"{n}@example.nl").id for n in ("a", "b"))
    good = kit.cases.open(customer=met, subject="a", queue="support", channel="webchat")
    bad = kit.cases.open(customer=missed, subject="b", queue="support", channel="webchat")
    clock.at = JAN_5 + timedelta(minutes=30)
    contact(kit, met, "webchat", clock.at, direction="outbound", case=good.id)
    clock.at = JAN_5 + hours(2)
    assert [e.case_id for e in kit.cases.check_sla(at=clock.at)] == [bad.id]
    (webchat,) = kit.analytics.channel_performance(*Q1)
    assert webchat.cases == 2
    assert webchat.sla_attainment == 0.5
    assert webchat.first_response_p50 == timedelta(minutes=30)


# the switch matrix against a naive count --------------------------------------------------

CHANNELS = ("phone", "email", "sms", "webshop", "store")
_run = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=st.lists(
        st.tuples(
            st.integers(0, 3),  # customer
            st.sampled_from(CHANNELS),
            st.integers(0, 30 * 24 * 60),  # minute of the month
            st.sampled_from(("inbound", "outbound", "internal")),
        ),
        max_size=40,
    ),
    within_hours=st.integers(1, 24 * 10),
)
def test_switch_totals_equal_a_naive_count(
    kit: Omnikit, history: list[tuple[int, str, int, str]], within_hours: int
) -> None:
    # Each example writes into a month of its own, so examples do not see each other.
    start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(days=40 * next(_run))
    who = [
        kit.customers.identify(external_ids={"webshop": f"{start:%Y%m%d}-{n}"}).id for n in range(4)
    ]
    for n, (person, channel, minute, direction) in enumerate(history):
        kit.record(
            customer=who[person],
            channel=channel,
            direction=direction,  # type: ignore[arg-type]
            kind="message",
            occurred_at=start + timedelta(minutes=minute, microseconds=n),
        )
    within = timedelta(hours=within_hours)
    switches = kit.analytics.switches(start, start + timedelta(days=31), within=within)

    expected: dict[tuple[str, str], int] = {}
    for person in range(4):
        mine = sorted(
            (minute, n, channel)
            for n, (p, channel, minute, direction) in enumerate(history)
            if p == person and direction != "internal"
        )
        for (m1, _, a), (m2, _, b) in itertools.pairwise(mine):
            if timedelta(minutes=m2 - m1) <= within:
                expected[a, b] = expected.get((a, b), 0) + 1
    assert {(r.from_channel, r.to_channel): r.count for r in switches} == expected
    assert switches.total == sum(expected.values())


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    minutes=st.lists(st.integers(0, 70 * 24 * 60), min_size=1, max_size=25),
    zone=st.sampled_from([AMSTERDAM, "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]),
    every=st.sampled_from(["day", "week", "month"]),
)
def test_local_periods_equal_a_naive_count(
    kit: Omnikit, minutes: list[int], zone: str, every: str
) -> None:
    from zoneinfo import ZoneInfo

    # Each example writes into a stretch of its own (around the spring and autumn
    # changes of both hemispheres in turn), so examples do not see each other.
    run = next(_run)
    start = datetime(2031 + run // 2, 3 if run % 2 else 9, 1, tzinfo=UTC)
    who = kit.customers.identify(external_ids={"webshop": f"tz-{run}"}).id
    tz = ZoneInfo(zone)
    expected: dict[date, int] = {}
    for n, minute in enumerate(minutes):
        at = start + timedelta(minutes=minute, microseconds=n)
        contact(kit, who, "sms", at)
        day = at.astimezone(tz).date()
        if every == "week":
            day -= timedelta(days=day.weekday())
        elif every == "month":
            day = day.replace(day=1)
        expected[day] = expected.get(day, 0) + 1
    moment = (start, start + timedelta(days=71))  # instants: the zone only groups
    rows = kit.analytics.contacts(*moment, by=(), every=every, timezone=zone)  # type: ignore[arg-type]
    assert {r.period: r.contacts for r in rows} == expected


@pytest.mark.parametrize("query", ["contacts", "switches", "paths", "channel_performance"])
def test_an_empty_store_gives_empty_rows(kit: Omnikit, query: str) -> None:
    rows = getattr(kit.analytics, query)(*Q1)
    assert len(rows) == 0
    assert rows.to_csv().count("\n") == 1  # the header only
    with pytest.raises(OmnikitError):
        getattr(kit.analytics, query)(Q1[1], Q1[0])
