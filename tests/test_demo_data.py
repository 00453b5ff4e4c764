"""Demo data: ``omnikit.demo_data.generate`` and ``omnikit demo --customers N``.

One store per backend is generated once for the module (200 customers) and read back
through the public API; the generator must have written what the API writes, so the
API's own readers and rules (continuity, check_sla) find it consistent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from omnikit import CaseStatus, ConflictError, Omnikit, ValidationError
from omnikit.cli import app
from omnikit.demo_data import DemoData, generate
from tests.conftest import BACKENDS, make_url
from tests.test_quickstart import python_blocks

N = 200
SEED = 7
START, END = date(2026, 1, 1), date(2026, 3, 31)
PERIOD_END = datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/Amsterdam")).astimezone(UTC)
runner = CliRunner()


@pytest.fixture(scope="module", params=BACKENDS)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Omnikit, DemoData]]:
    """A store of each backend holding N generated customers."""
    backend = str(request.param)
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    url = make_url(backend, tmp_path_factory.mktemp("demo"), server)
    with Omnikit(url, default_region="NL", clock=lambda: PERIOD_END) as kit:
        yield kit, generate(kit, customers=N, seed=SEED)


def rows(kit: Omnikit, query: str) -> list[Any]:
    """Rows of a read-only query on the kit's own database (for whole-store checks)."""
    engine = kit.store._engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(connection.execute(text(query)))


def customer_ids(kit: Omnikit) -> list[str]:
    return [row[0] for row in rows(kit, "SELECT id FROM customers ORDER BY id")]


# what is generated ------------------------------------------------------------------------


def test_counts_are_believable(demo: tuple[Omnikit, DemoData]) -> None:
    kit, data = demo
    assert data.customers == N == len(customer_ids(kit))
    assert 6 * N <= data.interactions <= 12 * N
    assert N <= data.cases <= 2 * N
    assert data.identities == rows(kit, "SELECT count(*) FROM identities")[0][0]
    assert data.interactions == rows(kit, "SELECT count(*) FROM interactions")[0][0]
    assert data.case_events == rows(kit, "SELECT count(*) FROM case_events")[0][0]
    assert data.consents == rows(kit, "SELECT count(*) FROM consents")[0][0]
    assert sum(data.channels.values()) == data.interactions
    assert sum(data.case_statuses.values()) == data.cases
    assert {"email", "phone", "whatsapp", "webchat", "webshop", "store", "sms"} <= set(
        data.channels
    )
    assert {"order", "delivery", "return", "complaint", "product_question"} <= set(data.purposes)
    languages = {row[0] for row in rows(kit, "SELECT DISTINCT language FROM customers")}
    assert languages == {"nl", "en", "pl"}


def test_every_row_is_in_the_period_and_belongs_together(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    start = int(datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp() * 1e6)
    end = int(PERIOD_END.timestamp() * 1e6)
    first, last = rows(kit, "SELECT min(occurred_at), max(occurred_at) FROM interactions")[0]
    assert start <= first and last < end
    orphans = rows(
        kit,
        "SELECT count(*) FROM interactions i LEFT JOIN customers c ON c.id = i.customer_id "
        "WHERE c.id IS NULL",
    )
    assert orphans[0][0] == 0
    foreign = rows(
        kit,
        "SELECT count(*) FROM interactions i JOIN cases k ON k.id = i.case_id "
        "WHERE k.customer_id <> i.customer_id",
    )
    assert foreign[0][0] == 0
    late = rows(kit, f"SELECT count(*) FROM case_events WHERE at >= {end}")
    assert late[0][0] == 0


def test_the_api_reads_every_sampled_customer(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    for customer_id in customer_ids(kit)[::20]:
        card = kit.customer_card(customer_id)
        journey = kit.journey(customer_id)
        assert card.customer.name and card.customer.language in ("nl", "en", "pl")
        assert card.identities and all(i.customer_id == customer_id for i in card.identities)
        assert [s.occurred_at for s in journey.steps] == sorted(
            s.occurred_at for s in journey.steps
        )
        assert {s.channel for s in journey.steps} == {c.channel for c in card.channels}
        assert card.recent == tuple(reversed(journey.steps))[: len(card.recent)]
        for case in kit.cases.list(customer=customer_id):
            history = kit.cases.history(case.id)
            assert history[0].type == "opened" and history[0].after["status"] == "new"  # type: ignore[index,call-overload]
            assert [e.at for e in history] == sorted(e.at for e in history)
            assert all(i.customer_id == customer_id for i in kit.cases.interactions(case.id))
        for record in kit.consent.history(customer_id):
            assert record.purpose == "marketing" and record.source


def test_phone_numbers_are_dutch_e164_and_recognised(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    numbers = [row[0] for row in rows(kit, "SELECT value FROM identities WHERE kind = 'phone'")]
    assert numbers and all(n.startswith("+316") and len(n) == 12 for n in numbers)
    national = "0" + numbers[0][3:]
    assert kit.caller_id(national).status == "known"
    webshop = rows(kit, "SELECT count(*) FROM identities WHERE kind = 'external'")[0][0]
    assert webshop > N // 3


def test_cases_have_a_lifecycle_and_service_levels(demo: tuple[Omnikit, DemoData]) -> None:
    kit, data = demo
    assert data.case_statuses.get("resolved", 0) + data.case_statuses.get("closed", 0) > N // 2
    assert data.case_statuses.get("open", 0) + data.case_statuses.get("new", 0) > 0
    unresolved = rows(
        kit, "SELECT count(*) FROM cases WHERE status = 'resolved' AND resolved_at IS NULL"
    )
    assert unresolved[0][0] == 0
    opened = rows(kit, "SELECT count(DISTINCT case_id) FROM case_events WHERE type = 'opened'")
    assert opened[0][0] == data.cases
    assert data.sla_breaches > 0 and data.reopened > 0
    breaches = rows(kit, "SELECT case_id, at, after FROM case_events WHERE type = 'sla_breached'")
    assert len(breaches) == data.sla_breaches
    case_id = breaches[0][0]
    event = next(e for e in kit.cases.history(case_id) if e.type == "sla_breached")
    assert isinstance(event.after, dict)
    assert event.at >= datetime.fromisoformat(str(event.after["due"]))
    assert event.after["target"] in kit.cases.get(case_id).sla.breached  # type: ignore[union-attr]
    # The simulated worker recorded every breach up to the end: the real one finds none.
    assert kit.cases.check_sla(at=PERIOD_END - timedelta(microseconds=1)) == []
    queues = {row[0] for row in rows(kit, "SELECT DISTINCT queue FROM cases")}
    assert {"service", "returns", "complaints"} <= queues
    answered = rows(
        kit,
        "SELECT count(*) FROM interactions WHERE direction = 'outbound' AND case_id IS NOT NULL",
    )
    assert answered[0][0] > N // 2


def test_first_contact_resolution_and_follow_ups_exist(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    single = rows(
        kit,
        "SELECT count(*) FROM cases k WHERE k.status IN ('resolved', 'closed') AND "
        "(SELECT count(*) FROM interactions i WHERE i.case_id = k.id) = 1",
    )
    assert single[0][0] > 0
    switched = rows(
        kit,
        "SELECT count(*) FROM (SELECT case_id FROM interactions WHERE case_id IS NOT NULL "
        "GROUP BY case_id HAVING count(DISTINCT channel) >= 2) s",
    )
    assert switched[0][0] > 0


def test_most_customers_use_two_channels_or_more(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    counts = rows(
        kit, "SELECT customer_id, count(DISTINCT channel) FROM interactions GROUP BY customer_id"
    )
    share = sum(1 for _, n in counts if n >= 2) / N
    assert 0.6 <= share <= 0.99


def test_outbound_messages_carry_delivery_statuses(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    statuses = dict(
        rows(
            kit,
            "SELECT status, count(*) FROM interactions WHERE direction = 'outbound' "
            "AND status IS NOT NULL GROUP BY status",
        )
    )
    assert set(statuses) == {"delivered", "read", "failed"}
    assert statuses["failed"] < statuses["delivered"]
    failed = rows(kit, "SELECT metadata FROM interactions WHERE status = 'failed'")
    assert all("error" in row[0] for row in failed)


def test_returned_post_marks_the_address_undeliverable(demo: tuple[Omnikit, DemoData]) -> None:
    kit, data = demo
    returned = rows(
        kit,
        "SELECT customer_id, occurred_at FROM interactions "
        "WHERE channel = 'post' AND kind = 'returned_mail'",
    )
    assert returned and data.undeliverable == len(returned)
    customer_id = returned[0][0]
    postal = [i for i in kit.customers.get(customer_id).identities if i.kind.value == "postal"]
    assert any(i.undeliverable and i.undeliverable_reason for i in postal)


def test_consent_is_granted_and_some_withdrawn(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    granted = dict(rows(kit, "SELECT granted, count(*) FROM consents GROUP BY granted"))
    assert granted.get(True, granted.get(1, 0)) > granted.get(False, granted.get(0, 0)) > 0
    revoker = rows(kit, "SELECT customer_id, channel FROM consents WHERE NOT granted")[0]
    history = kit.consent.history(revoker[0])
    assert [r.granted for r in history if r.channel == revoker[1]] == [True, False]
    assert not kit.consent.allowed(revoker[0], purpose="marketing", channel=revoker[1])


# determinism and bad input ------------------------------------------------------------------


def fingerprint(kit: Omnikit) -> list[list[Any]]:
    """Everything generated except ids, in the order of the ids."""
    return [
        rows(kit, "SELECT name, language, attributes, created_at FROM customers ORDER BY id"),
        rows(
            kit,
            "SELECT channel, direction, kind, occurred_at, status, external_id, purpose "
            "FROM interactions ORDER BY id",
        ),
        rows(
            kit, "SELECT status, channel, purpose, version, queue, assignee FROM cases ORDER BY id"
        ),
        rows(kit, "SELECT type, at, actor, note FROM case_events ORDER BY id"),
        rows(kit, "SELECT value, undeliverable_at, last_seen_at FROM identities ORDER BY id"),
    ]


def test_the_same_seed_gives_the_same_history(demo: tuple[Omnikit, DemoData]) -> None:
    kit, data = demo
    with Omnikit("sqlite:///:memory:") as again:
        second = generate(again, customers=N, seed=SEED)
        assert second.model_dump(exclude={"seconds"}) == data.model_dump(exclude={"seconds"})
        assert fingerprint(again) == fingerprint(kit)
    with Omnikit("sqlite:///:memory:") as other:
        assert generate(other, customers=N, seed=SEED + 1).interactions != data.interactions


def test_a_store_with_customers_is_refused(demo: tuple[Omnikit, DemoData]) -> None:
    kit, data = demo
    with pytest.raises(ConflictError, match="already holds customers"):
        generate(kit, customers=5)
    assert len(customer_ids(kit)) == data.customers


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"customers": 0}, "customers 0 must be a whole number"),
        ({"customers": True}, "customers True"),
        ({"customers": 2_000_000}, "from 1 to 1000000"),
        ({"start": date(2026, 4, 1), "end": date(2026, 3, 1)}, "the period is empty"),
        ({"start": "2026-01-01"}, "must be a date"),
        ({"end": datetime(2026, 1, 1, tzinfo=UTC)}, "must be a date"),
        ({"seed": 1.5}, "seed 1.5"),
    ],
)
def test_bad_arguments_name_the_value(arguments: dict[str, Any], message: str) -> None:
    with Omnikit("sqlite:///:memory:") as kit:
        with pytest.raises(ValidationError, match=message):
            generate(kit, **arguments)
        with kit.store.transaction() as tx:
            assert not tx.has_customers()


_ANYTHING = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=5), st.binary(max_size=3)
)


@pytest.fixture(scope="module")
def occupied() -> Iterator[Omnikit]:
    """A store that already holds a customer: valid arguments end in ConflictError."""
    with Omnikit("sqlite:///:memory:", default_region="NL") as kit:
        kit.customers.identify(email="jan@example.nl")
        yield kit


@settings(max_examples=100, deadline=None)
@given(
    customers=st.one_of(st.integers(-3, 2_000_000), _ANYTHING),
    start=st.one_of(st.dates(), _ANYTHING),
    end=st.one_of(st.dates(), _ANYTHING),
    seed=st.one_of(st.integers(), st.text(max_size=8), _ANYTHING),
)
def test_any_arguments_are_checked_before_anything_is_written(
    occupied: Omnikit, customers: object, start: object, end: object, seed: object
) -> None:
    valid = (
        type(customers) is int
        and 1 <= customers <= 1_000_000
        and type(start) is date
        and type(end) is date
        and start <= end
        and type(seed) in (int, str)
    )
    with pytest.raises(ConflictError if valid else ValidationError):
        generate(occupied, customers=customers, start=start, end=end, seed=seed)  # type: ignore[arg-type]
    assert len(customer_ids(occupied)) == 1


def test_one_day_is_a_period() -> None:
    with Omnikit("sqlite:///:memory:") as kit:
        data = generate(kit, customers=30, start=date(2026, 2, 2), end=date(2026, 2, 2))
    assert data.customers == 30 and data.interactions > 0


# the command line ---------------------------------------------------------------------------


def test_demo_customers_fills_the_store_and_prints_a_summary(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = runner.invoke(
        app, ["demo", "--customers", "60", "--url", url, "--seed", "3"], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    assert "customers" in result.output and "60" in result.output
    assert "interactions" in result.output and "sla breaches" in result.output.lower()
    with Omnikit(url) as kit:
        assert len(customer_ids(kit)) == 60
    again = runner.invoke(app, ["demo", "--customers", "60", "--url", url])
    assert again.exit_code == 0
    assert "already holds customers" in again.output and "nothing generated" in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_demo_uses_omnikit_url_and_the_period(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = runner.invoke(
        app,
        ["demo", "--customers", "20", "--from", "2026-02-01", "--to", "2026-02-14"],
        env={"OMNIKIT_URL": url, "COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    with Omnikit(url) as kit:
        first, last = rows(kit, "SELECT min(occurred_at), max(occurred_at) FROM interactions")[0]
    assert datetime.fromtimestamp(first / 1e6, UTC) >= datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert datetime.fromtimestamp(last / 1e6, UTC) < datetime(2026, 2, 15, tzinfo=UTC)


def test_demo_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    result = runner.invoke(
        app,
        ["demo", "--customers", "5", "--url", url, "--from", "2026-03-01", "--to", "2026-02-01"],
    )
    assert result.exit_code == 2
    assert "the period is empty" in result.output and "Traceback" not in result.output
    zero = runner.invoke(app, ["demo", "--customers", "0", "--url", url])
    assert zero.exit_code == 2 and "customers 0" in zero.output


def test_demo_options_that_do_not_go_together(tmp_path: Path) -> None:
    both = runner.invoke(app, ["demo", "--customers", "5", "--db", str(tmp_path / "x.db")])
    assert both.exit_code == 2 and "--customers fills --url, not --db" in both.output
    alone = runner.invoke(app, ["demo", "--from", "2026-01-01"])
    assert alone.exit_code == 2 and "go with --customers" in alone.output
    assert not (tmp_path / "x.db").exists()


def test_demo_help_has_an_example() -> None:
    result = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Example: omnikit demo --customers 10000" in result.output
    assert "--customers" in result.output and "--seed" in result.output


def test_the_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = Path(__file__).parent.parent / "docs" / "demo.md"
    (block,) = python_blocks(docs.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/demo.md", "exec"), namespace)
    assert namespace["data"].customers == 500 and (tmp_path / "demo.db").exists()


@pytest.mark.slow
def test_ten_thousand_customers_on_an_sqlite_file(tmp_path: Path) -> None:
    with Omnikit(f"sqlite:///{tmp_path / 'big.db'}", default_region="NL") as kit:
        data = generate(kit, customers=10_000)
    assert data.customers == 10_000
    assert 70_000 <= data.interactions <= 110_000 and 10_000 <= data.cases <= 20_000
    assert data.seconds < 120  # 22 s on the idle 2-core machine; see docs/demo.md


# last, because it changes the module's stores ----------------------------------------------


def test_the_api_keeps_working_on_the_demo_store(demo: tuple[Omnikit, DemoData]) -> None:
    kit, _ = demo
    case = kit.cases.list(status=["open", "new"], limit=1)[0]
    moved = kit.cases.transition(case.id, CaseStatus.PENDING, actor="ann")
    assert moved.version == case.version + 1 and moved.status is CaseStatus.PENDING
    answer = kit.record(
        customer=case.customer_id,
        channel="email",
        direction="inbound",
        kind="message",
        occurred_at=PERIOD_END,
    )
    if answer.case_id == case.id:  # continuity joined it: the customer answered
        assert kit.cases.get(case.id).status is CaseStatus.OPEN


# the generator writes what the API writes ------------------------------------------------


def test_a_story_played_in_memory_equals_the_same_story_through_the_api() -> None:
    """One story, twice: through the public API on a stepped clock, and through the
    generator's in-memory path (the facade's case functions on its memory transaction).
    The stored cases, their histories and the interactions must be the same."""
    import random

    from omnikit.cases import open_case
    from omnikit.demo import SteppedClock
    from omnikit.demo_data import _Batch, _Person, _set_up, _Totals
    from omnikit.model import Priority

    t0 = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)  # a Tuesday
    hour = timedelta(hours=1)

    # Through the API.
    clock = SteppedClock(t0 - hour)
    api = Omnikit("sqlite:///:memory:", default_region="NL", clock=clock)
    _set_up(api)
    jan = api.customers.identify(email="jan@example.nl", name="Jan")

    def at(moment: datetime) -> datetime:
        clock.at = moment
        return moment

    def record(moment: datetime, **fields: Any) -> Any:
        return api.record(customer=jan.id, occurred_at=at(moment), **fields)

    mail = record(t0, channel="email", direction="inbound", kind="message", purpose="delivery")
    case = api.cases.open(
        customer=jan.id,
        subject="Where is my parcel?",
        interaction=mail,
        queue="service",
        priority="normal",
        actor="ann",
    )
    at(t0 + hour)
    api.cases.assign(case.id, "ann", actor="ann")
    at(t0 + 2 * hour)
    api.cases.transition(case.id, "open", actor="ann")
    # The first answer comes late: the worker records the breach a minute after it was due.
    due = api.cases.get(case.id).sla.first_response_due  # type: ignore[union-attr]
    assert due is not None
    at(due + timedelta(minutes=1))
    api.cases.check_sla()
    late = due + 2 * hour
    record(
        late,
        channel="email",
        direction="outbound",
        kind="message",
        purpose="delivery",
        case=case.id,
        agent="ann",
    )
    at(late + timedelta(minutes=1))
    api.cases.transition(case.id, "pending", actor="ann")
    record(
        late + 3 * hour, channel="whatsapp", direction="inbound", kind="message", purpose="delivery"
    )  # continuity: the customer answered
    at(late + 4 * hour)
    api.cases.transition(case.id, "resolved", actor="ann")
    record(
        late + 20 * hour, channel="email", direction="inbound", kind="message", purpose="delivery"
    )  # within 72 hours: the case reopens
    at(late + 21 * hour)
    api.cases.transition(case.id, "resolved", actor="ann")

    # In memory, as the generator plays it.
    with Omnikit("sqlite:///:memory:", default_region="NL") as target:
        queues = _set_up(target)
        memory_clock = SteppedClock(t0)
        with Omnikit("sqlite:///:memory:", default_region="NL", clock=memory_clock) as shadow:
            period = (t0 - 30 * hour * 24, t0 + 30 * hour * 24)
            batch = _Batch(shadow, memory_clock, queues, period)
            person = _Person(batch, 0, random.Random("story"))
            person._create(t0 - hour, None)
            first = person.record("email", "inbound", "message", t0, purpose="delivery", text="")
            memory_clock.at = t0
            open_case(
                shadow,
                batch.store_tx,
                customer_id=person.id,
                subject="Where is my parcel?",
                priority=Priority.NORMAL,
                queue="service",
                channel="email",
                purpose=("delivery",),
                actor="ann",
                interaction=first,
            )
            (case_id,) = batch.tx.cases
            person._assign(case_id, "ann", t0 + hour)
            person._move(case_id, CaseStatus.OPEN, t0 + 2 * hour, "ann")
            person.record(
                "email",
                "outbound",
                "message",
                late,
                purpose="delivery",
                text="",
                case_id=case_id,
                agent="ann",
            )
            person._move(case_id, CaseStatus.PENDING, late + timedelta(minutes=1), "ann")
            person.record(
                "whatsapp", "inbound", "message", late + 3 * hour, purpose="delivery", text=""
            )
            person._move(case_id, CaseStatus.RESOLVED, late + 4 * hour, "ann")
            person.record(
                "email", "inbound", "message", late + 20 * hour, purpose="delivery", text=""
            )
            person._move(case_id, CaseStatus.RESOLVED, late + 21 * hour, "ann")
            person._finish()
            batch.write(target, _Totals())
        (stored,) = target.cases.list()
        expected = api.cases.get(case.id)
        ignore = {"id", "customer_id"}
        assert stored.model_dump(exclude=ignore) == expected.model_dump(exclude=ignore)

        def trail(kit: Omnikit, case_id: str) -> list[tuple[Any, ...]]:
            ids = {i.id: n for n, i in enumerate(kit.cases.interactions(case_id))}
            return [
                (e.type, e.at, e.actor, e.before, ids.get(str(e.after), e.after), e.note)
                for e in kit.cases.history(case_id)
            ]

        assert trail(target, stored.id) == trail(api, case.id)
        assert [e[0] for e in trail(api, case.id)].count("sla_breached") == 1
        steps = [
            (s.channel, s.direction, s.occurred_at, s.case_id is not None)
            for s in target.journey(stored.customer_id).steps
        ]
        assert steps == [
            (s.channel, s.direction, s.occurred_at, s.case_id is not None)
            for s in api.journey(jan.id).steps
        ]
    api.close()
