"""Shared fixtures: a kit on every store backend the facade tests run against.

PostgreSQL: tests use ``OMNIKIT_TEST_POSTGRES_URL`` when it is set; otherwise they
start a throw-away server with pytest-postgresql when PostgreSQL's binaries are found
(and the tests do not run as root, which PostgreSQL refuses), and otherwise skip the
PostgreSQL cases with the reason. ``OMNIKIT_REQUIRE_POSTGRES=1`` turns that skip into
a failure. ``OMNIKIT_TEST_POSTGRES_STOP`` and ``OMNIKIT_TEST_POSTGRES_START`` are shell
commands that stop and start the server behind the URL, for the connection tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnikit import Omnikit

BACKENDS = ["sqlite-file", "sqlite-memory", "postgresql"]
TABLES = (
    "outbox",
    "consents",
    "preferences",
    "subscriptions",
    "case_events",
    "interactions",
    "cases",
    "identities",
    "customers",
    "agents",
    "queues",
)
REQUIRE_POSTGRES = os.environ.get("OMNIKIT_REQUIRE_POSTGRES") == "1"


def _pg_ctl() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return candidates[-1] if candidates else None


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


try:
    from pytest_postgresql import factories
except ImportError:  # pragma: no cover - without the test extra
    factories = None  # type: ignore[assignment]
else:
    omnikit_postgresql_proc = factories.postgresql_proc(
        executable=_pg_ctl() or "pg_ctl", port=None, dbname="omnikit_test"
    )


@dataclass
class PostgresServer:
    """A PostgreSQL server for the tests: its URL and how to stop and start it."""

    url: str
    stop: Callable[[], None] | None = None
    start: Callable[[], None] | None = None


def _shell(command: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(command, shell=True, check=True, timeout=120)

    return run


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> PostgresServer | str:
    """The test server, or the reason there is none."""
    url = os.environ.get("OMNIKIT_TEST_POSTGRES_URL")
    if url:
        stop, start = (os.environ.get(f"OMNIKIT_TEST_POSTGRES_{w}") for w in ("STOP", "START"))
        return PostgresServer(url, _shell(stop) if stop else None, _shell(start) if start else None)
    if factories is None:
        return "pytest-postgresql is not installed and OMNIKIT_TEST_POSTGRES_URL is not set"
    if _pg_ctl() is None:
        return "no PostgreSQL binaries (pg_ctl) found and OMNIKIT_TEST_POSTGRES_URL is not set"
    if os.geteuid() == 0:
        return (
            "PostgreSQL refuses to run as root; set OMNIKIT_TEST_POSTGRES_URL to a running "
            "server (see .ci/run)"
        )
    try:
        proc = request.getfixturevalue("omnikit_postgresql_proc")
    except Exception as error:  # any failure to start is a reason to skip (or fail)
        return f"could not start a throw-away PostgreSQL server: {error}"
    import psycopg

    base = f"postgresql://{proc.user}:{proc.password or ''}@{proc.host}:{proc.port}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {proc.dbname}")
    return PostgresServer(f"{base}/{proc.dbname}", proc.stop, proc.start)


def require_postgres(server: PostgresServer | str) -> PostgresServer:
    """The server, or skip (fail under OMNIKIT_REQUIRE_POSTGRES=1) with the reason."""
    if isinstance(server, str):
        if REQUIRE_POSTGRES:
            pytest.fail(f"OMNIKIT_REQUIRE_POSTGRES=1 but {server}")
        pytest.skip(server)
    return server


def empty_postgres(url: str) -> None:
    """Create or upgrade the schema at ``url`` and delete every row."""
    import psycopg

    Omnikit(url).close()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")


def make_url(backend: str, tmp_path: Path, server: PostgresServer | str | None = None) -> str:
    if backend == "sqlite-file":
        return f"sqlite:///{tmp_path / 'omnikit.db'}"
    if backend == "sqlite-memory":
        return "sqlite:///:memory:"
    if backend == "postgresql":
        assert server is not None
        url = require_postgres(server).url
        empty_postgres(url)
        return url
    raise AssertionError(backend)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the store backend under test."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty store of the backend under test."""
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    return make_url(backend, tmp_path, server)


@pytest.fixture
def kit(store_url: str) -> Iterator[Omnikit]:
    """A kit reading Dutch national numbers, on each backend in turn."""
    with Omnikit(store_url, default_region="NL") as kit:
        yield kit
