"""PostgreSQL specifics: URL forms, pool settings, migrations, a server that goes away."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from omnikit import Omnikit, StoreError, ValidationError
from omnikit.store.migrate import HEAD, alembic_config, upgrade
from omnikit.store.postgres import create_postgres_engine
from omnikit.store.schema import VERSION_TABLE
from omnikit.testing.store import customer, interaction
from tests.conftest import PostgresServer, require_postgres

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def server(postgres_server: PostgresServer | str) -> PostgresServer:
    return require_postgres(postgres_server)


@pytest.fixture
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    name = f"omnikit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        server.url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    base = server.url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_url_forms(server: PostgresServer) -> None:
    for url in (
        server.url,
        server.url.replace("postgresql://", "postgresql+psycopg://"),
        server.url.replace("postgresql://", "postgres://"),
    ):
        with Omnikit(url) as kit:
            assert kit.store.url.startswith("postgresql+psycopg://")
            assert "***" in kit.store.url or "@" not in server.url.split("//")[1].split("/")[0]


def test_aggregates_run_without_jit_in_their_transaction_only(fresh_database: str) -> None:
    with Omnikit(fresh_database, pool_size=1, max_overflow=0) as kit:  # one connection
        with kit.store.transaction() as tx:
            first = tx.aggregate("jit?", lambda dialect: "SHOW jit", {})
            again = tx.aggregate("jit?", lambda dialect: "SHOW jit", {})
        with kit.store.transaction() as tx:
            assert tx.get_customer("00000000-0000-0000-0000-000000000000") is None
            cursor = tx._cur  # type: ignore[attr-defined]
            cursor.execute("SELECT setting, reset_val FROM pg_settings WHERE name = 'jit'")
            ((after, default),) = cursor.fetchall()
    # SET LOCAL goes with the aggregate, in its round trip, and ends with the
    # transaction: the same connection's next transaction has the server's setting
    assert first == again == [("off",)]
    assert after == default


def test_pool_settings_from_keywords_and_url(server: PostgresServer) -> None:
    with Omnikit(server.url, pool_size=3, max_overflow=1, pool_timeout=5) as kit:
        pool = kit.store._engine.pool  # type: ignore[attr-defined]
        assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 5)
    with Omnikit(f"{server.url}?pool_size=2&max_overflow=0") as kit:
        pool = kit.store._engine.pool  # type: ignore[attr-defined]
        assert (pool.size(), pool._max_overflow) == (2, 0)
    with Omnikit(f"{server.url}?pool_size=2", pool_size=4) as kit:  # the keyword wins
        assert kit.store._engine.pool.size() == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url_tail", "options"),
    [("?pool_size=lots", {}), ("", {"pool_size": -1}), ("", {"pool_timeout": "soon"})],
)
def test_bad_pool_settings(
    server: PostgresServer, url_tail: str, options: dict[str, object]
) -> None:
    with pytest.raises(ValidationError, match="pool_"):
        Omnikit(server.url + url_tail, **options)  # type: ignore[arg-type]


def test_wrong_driver_is_refused() -> None:
    with pytest.raises(ValidationError, match="psycopg2"):
        Omnikit("postgresql+psycopg2://u:p@127.0.0.1/db")


def test_unreachable_server_is_a_store_error_naming_the_reason() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"connect|refused|failed"):
        Omnikit("postgresql://nobody:secret@127.0.0.1:1/nothing")
    assert time.monotonic() - started < 30


def test_migrations_run_on_postgres(fresh_database: str) -> None:
    from alembic.script import ScriptDirectory

    first = ScriptDirectory.from_config(alembic_config()).get_base()
    engine = create_postgres_engine(fresh_database)
    upgrade(engine, first)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO customers (id, name, attributes, created_at, updated_at) "
                "VALUES ('c1', 'Old Customer', '{}', 0, 0)"
            )
        )
    engine.dispose()
    with Omnikit(fresh_database) as kit:
        assert kit.customers.get("c1").name == "Old Customer"
    engine = create_postgres_engine(fresh_database)
    with engine.connect() as connection:
        version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    engine.dispose()
    assert version == HEAD


def test_processes_opening_a_new_database_at_once_migrate_it_once(fresh_database: str) -> None:
    script = "import sys; from omnikit import Omnikit; Omnikit(sys.argv[1]).close(); print('ok')"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, fresh_database],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, out.strip()) == (0, "ok"), err


def test_server_going_away_is_a_store_error_and_the_next_call_works(
    server: PostgresServer, store_url: str
) -> None:
    if server.stop is None or server.start is None:
        pytest.skip("set OMNIKIT_TEST_POSTGRES_STOP and _START to stop and start the server")
    with Omnikit(store_url) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        server.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreError) as caught:
                kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message")
            assert time.monotonic() - started < 30, "a lost server fails fast, it does not hang"
            assert "connect" in str(caught.value) or "server" in str(caught.value)
        finally:
            server.start()
        for _ in range(50):  # the server accepts connections a moment after it starts
            try:
                recorded = kit.record(
                    customer=jan.id,
                    channel="sms",
                    direction="inbound",
                    kind="message",
                    external_id="after-restart",
                )
                break
            except StoreError:
                time.sleep(0.2)
        else:
            pytest.fail("the kit did not recover after the server came back")
        assert kit.journey(jan.id).steps[-1].id == recorded.id


def _cut_connections(url: str) -> int:
    """End every other session on the database, as a server restart or a network cut
    would; return how many were ended."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchall()
    return len(rows)


def _reconnects(caplog: pytest.LogCaptureFixture) -> int:
    return sum("reconnecting" in record.getMessage() for record in caplog.records)


def test_a_dropped_connection_is_replaced_at_the_start_of_a_transaction(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omnikit.store")
    jan = customer()
    with Omnikit(store_url, pool_size=1, max_overflow=0) as kit:
        with kit.store.transaction() as tx:
            assert tx.get_customer(jan.id) is None
        assert _cut_connections(store_url) == 1
        # The first statement is a write: it reaches the server once, on the new connection.
        with kit.store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        assert _reconnects(caplog) == 1
        assert _cut_connections(store_url) == 1
        sms = kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message")
        assert _reconnects(caplog) == 2
        assert [step.id for step in kit.journey(jan.id).steps] == [sms.id]
        assert kit.customer_card(jan.id).recent == (sms,)
        assert _reconnects(caplog) == 2


def test_after_a_restart_every_pooled_connection_is_replaced(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omnikit.store")
    with Omnikit(store_url, pool_size=3, max_overflow=0) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        with (
            kit.store.transaction() as one,
            kit.store.transaction() as two,
            kit.store.transaction() as three,
        ):
            for tx in (one, two, three):  # three connections, now pooled
                assert tx.get_customer(jan.id) is not None
        assert _cut_connections(store_url) == 3
        for _ in range(3):
            assert kit.customer_card(jan.id).customer.id == jan.id
        assert _reconnects(caplog) == 1  # the first loss retires the others with it


def test_a_connection_lost_inside_a_transaction_fails_the_call_and_is_not_retried(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omnikit.store")
    jan = customer()
    with Omnikit(store_url, pool_size=1, max_overflow=0) as kit:
        lost = pytest.raises(StoreError, match=r"terminat|closed|server")
        with lost, kit.store.transaction(write=True) as tx:
            tx.insert_customer(jan)  # the first round trip: reaches the server
            _cut_connections(store_url)
            tx.insert_interaction(interaction(jan.id))
        assert _reconnects(caplog) == 0, "nothing after the first round trip is sent again"
        with kit.store.transaction() as tx:  # rolled back whole; the next call works
            assert tx.get_customer(jan.id) is None
            assert tx.timeline(jan.id) == []
        assert _reconnects(caplog) == 0  # the lost connection was not put back in the pool


def test_other_errors_at_the_start_of_a_transaction_are_not_retried(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from omnikit.store import DuplicateKeyError

    caplog.set_level(logging.WARNING, logger="omnikit.store")
    jan = customer()
    with Omnikit(store_url) as kit:
        with kit.store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        with pytest.raises(DuplicateKeyError), kit.store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        assert _reconnects(caplog) == 0


def test_a_read_transaction_sees_one_snapshot_and_cannot_write(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="omnikit.store")
    with Omnikit(store_url, pool_size=1, max_overflow=1) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        first = kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message")
        with kit.store.transaction() as tx:
            assert [i.id for i in tx.timeline(jan.id)] == [first.id]
            later = kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message")
            assert [i.id for i in tx.timeline(jan.id)] == [first.id]  # the same snapshot
            assert [c.count for c in tx.channel_summary(jan.id)] == [1]
        assert [s.id for s in kit.journey(jan.id).steps] == [first.id, later.id]
        with pytest.raises(StoreError, match="read-only"), kit.store.transaction() as tx:
            tx.insert_customer(customer())
        assert kit.customers.get(jan.id) == jan
        assert _cut_connections(store_url) == 1
        with pytest.raises(StoreError, match="read-only"), kit.store.transaction() as tx:
            tx.insert_customer(customer())  # on a new connection, in the same kind of transaction
        assert _reconnects(caplog) == 1


def test_a_card_commits_its_read_transaction_with_its_last_reads(store_url: str) -> None:
    with Omnikit(store_url) as kit:
        jan = kit.customers.identify(email="jan@example.nl")
        sms = kit.record(customer=jan.id, channel="sms", direction="inbound", kind="message")
        assert kit.customer_card(jan.id).recent == (sms,)
        with pytest.raises(StoreError, match="ended"), kit.store.transaction() as tx:
            tx.customer_activity(jan.id, 20, ["new"], 10)
            tx.timeline(jan.id)  # after the last reads: refused, not run outside the snapshot
        assert kit.customer_card(jan.id).recent == (sms,)  # the connection is fine


@pytest.fixture
def backend() -> str:
    """Every test here runs on PostgreSQL only."""
    return "postgresql"


def test_webhook_while_the_server_is_down_is_503_and_the_retry_records(
    server: PostgresServer, store_url: str
) -> None:
    if server.stop is None or server.start is None:
        pytest.skip("set OMNIKIT_TEST_POSTGRES_STOP and _START to stop and start the server")
    import httpx

    from omnikit.server import create_app
    from tests.test_server import SECRET, Served, count, message, signed_headers

    with Omnikit(store_url) as kit, Served(create_app(kit)) as served:
        kit.adapters.use("webhook", secret=SECRET)
        kit.customers.identify(email="jan@example.nl")
        url = f"{served.url}/webhooks/webhook"
        body = message("m-during-outage")
        server.stop()
        try:
            response = httpx.post(url, content=body, headers=signed_headers(body), timeout=60)
        finally:
            server.start()
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        for _ in range(50):  # the server accepts connections a moment after it starts
            retried = httpx.post(url, content=body, headers=signed_headers(body), timeout=60)
            if retried.status_code != 503:
                break
            time.sleep(0.2)
        assert retried.status_code == 200
        assert count(kit) == 1
