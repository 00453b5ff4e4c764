"""The SQLite store: file settings, schema versions and migrations, opening rules."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from omnikit import Omnikit, StoreError, ValidationError
from omnikit.store.migrate import HEAD, alembic_config, current_revision, upgrade
from omnikit.store.schema import VERSION_TABLE, metadata
from omnikit.store.sqlite import create_sqlite_engine


def test_file_store_settings(tmp_path: Path) -> None:
    path = tmp_path / "kit.db"
    with Omnikit(f"sqlite:///{path}") as kit:
        kit.customers.identify(email="jan@example.nl")
        engine = create_sqlite_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        engine.dispose()
    # synchronous=1 is NORMAL
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_alembic_head_is_the_packaged_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert scripts.get_current_head() == HEAD


def test_migrations_build_exactly_the_schema(tmp_path: Path) -> None:
    engine = create_sqlite_engine(f"sqlite:///{tmp_path / 'kit.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        assert current_revision(connection) == HEAD
    engine.dispose()


OLD_ROWS = (
    "INSERT INTO customers (id, name, attributes, created_at, updated_at) "
    "VALUES ('c1', 'Old Customer', '{}', 0, 0)",
    "INSERT INTO identities (id, customer_id, kind, scope, value, raw, verified, "
    "first_seen_at, last_seen_at) VALUES ('i1', 'c1', 'email', '', 'old@example.nl', "
    "'old@example.nl', 0, 0, 0)",
    "INSERT INTO cases (id, customer_id, subject, status, priority, created_at, updated_at, "
    "version) VALUES ('k1', 'c1', 'Old case', 'open', 'normal', 0, 0, 1)",
    "INSERT INTO interactions (id, customer_id, channel, direction, kind, occurred_at, "
    "recorded_at, text, case_id) VALUES ('x1', 'c1', 'sms', 'inbound', 'message', 0, 0, "
    "'hello', 'k1')",
)
"""Rows written at the first schema revision, which every later one must carry over."""


def test_store_built_at_first_revision_is_upgraded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = ScriptDirectory.from_config(alembic_config()).get_base()
    engine = create_sqlite_engine(f"sqlite:///{path}")
    upgrade(engine, first)
    with engine.begin() as connection:
        for statement in OLD_ROWS:
            connection.execute(text(statement))
    engine.dispose()
    with Omnikit(f"sqlite:///{path}") as kit:
        old = kit.customers.get("c1")
        assert old.name == "Old Customer"
        assert old.values("email") == ["old@example.nl"] and not old.identities[0].shared
        assert [i.text for i in kit.journey("c1").steps] == ["hello"]
        assert kit.cases.get("k1").subject == "Old case"
        assert kit.customers.find(email="old@example.nl") == old
    raw = sqlite3.connect(path)
    assert raw.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone() == (HEAD,)
    raw.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Omnikit(f"sqlite:///{path}").close()
    raw = sqlite3.connect(path)
    raw.execute(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="'9999' is newer than this omnikit"):
        Omnikit(f"sqlite:///{path}")


def test_default_url_is_omnikit_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMNIKIT_URL", raising=False)
    with Omnikit() as kit:
        kit.customers.identify(email="jan@example.nl")
    assert (tmp_path / "omnikit.db").exists()


def test_omnikit_url_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMNIKIT_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    with Omnikit() as kit:
        kit.customers.identify(email="jan@example.nl")
    assert (tmp_path / "from-env.db").exists()
    assert not (tmp_path / "omnikit.db").exists()


def test_two_kits_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with Omnikit(url) as a, Omnikit(url) as b:
        jan = a.customers.identify(email="jan@example.nl")
        b.record(customer=jan.id, channel="email", direction="inbound", kind="message")
        assert len(a.journey(jan.id).steps) == 1


def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Omnikit(f"sqlite:///{tmp_path / 'no-such-dir' / 'kit.db'}")
    not_a_db = tmp_path / "text.db"
    not_a_db.write_text("this is not a database " * 100)
    with pytest.raises(StoreError):
        Omnikit(f"sqlite:///{not_a_db}")


@pytest.mark.parametrize("url", ["mysql://localhost/x", "", "sqlite+aiosqlite:///x.db", "nonsense"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        Omnikit(url)


def test_sqlite_checkpoints_in_a_thread_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits never run a checkpoint; the store's thread copies the log into the file."""
    import gc
    import threading
    import time

    from omnikit.store import sqlite as sqlite_store

    THREAD = "omnikit-sqlite-checkpoint"
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 10)
    runs: list[str] = []
    original = sqlite_store.Checkpointer.checkpoint

    def counted(self: sqlite_store.Checkpointer, connection: sqlite3.Connection) -> None:
        runs.append(threading.current_thread().name)
        original(self, connection)

    monkeypatch.setattr(sqlite_store.Checkpointer, "checkpoint", counted)
    path = tmp_path / "checkpointed.db"
    before = set(threading.enumerate())
    with Omnikit(f"sqlite:///{path}") as kit:
        with kit.store.transaction() as tx:
            assert tx._cur.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        [thread] = [t for t in set(threading.enumerate()) - before if t.name == THREAD]
        jan = kit.customers.identify(email="jan@example.nl")
        for n in range(30):
            kit.record(
                customer=jan.id,
                channel="sms",
                direction="inbound",
                kind="message",
                external_id=f"SM{n}",
            )
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runs  # 30 writes: at least one wake-up (several may come as one)
        assert set(runs) == {THREAD}
    assert not thread.is_alive()  # close() stopped it

    # a kit dropped without close() stops its thread when it is collected
    before = set(threading.enumerate())
    dropped = Omnikit(f"sqlite:///{path}")
    [thread] = [t for t in set(threading.enumerate()) - before if t.name == THREAD]
    del dropped
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()
