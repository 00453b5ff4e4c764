"""Reliability on one SQLite file: concurrent processes, and a writer killed mid-stream.

These tests start real processes. Each is bounded: a fixed number of records and a
timeout on every wait.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from omnikit import Omnikit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

RECORDER = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    from omnikit import Omnikit

    url, customer, go, seed = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    keys = [f"order-{n}" for n in range(int(sys.argv[5]))]
    random.Random(seed).shuffle(keys)
    kits = [Omnikit(url), Omnikit(url)]          # two kits on one file in each process
    while not go.exists():
        time.sleep(0.005)
    ids = {}
    for n, key in enumerate(keys):
        interaction = kits[n % 2].record(
            customer=customer, channel="webshop", direction="inbound", kind="order",
            external_id=key,
        )
        ids[key] = interaction.id
    for kit in kits:
        kit.close()
    print(len(ids))
    """
)

IDENTIFIER = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    from omnikit import Omnikit

    url, go, seed = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    emails = [f"customer{n}@example.nl" for n in range(200)]
    random.Random(seed).shuffle(emails)
    kit = Omnikit(url)
    while not go.exists():
        time.sleep(0.005)
    found = {email: kit.customers.identify(email=email).id for email in emails}
    kit.close()
    print(len(found))
    """
)

WRITER = textwrap.dedent(
    """
    import sys
    from omnikit import Omnikit

    kit = Omnikit(sys.argv[1])
    customer = kit.customers.identify(email="jan@example.nl").id
    n = 0
    while True:
        interaction = kit.record(
            customer=customer, channel="sms", direction="inbound", kind="message",
            text=f"message {n}", external_id=f"SM{n}",
        )
        print(interaction.id, flush=True)
        n += 1
    """
)


def _run_all(scripts: list[list[str]], go: Path, timeout: float = 120) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for args in scripts
    ]
    time.sleep(0.5)  # let every process open its kits before they start together
    go.touch()
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def _count(url: str, table: str, what: str = "*") -> int:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count({what}) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


# SQLite serialises writers, so 4 processes already contend; PostgreSQL takes 8.
PROCESSES = {"sqlite-file": 4, "postgresql": 8}
concurrent_backends = pytest.mark.parametrize("backend", list(PROCESSES), indirect=True)


@concurrent_backends
def test_processes_record_the_same_keys_exactly_once(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    keys = 500 if backend.startswith("sqlite") else 2000
    with Omnikit(store_url) as kit:
        customer = kit.customers.identify(email="jan@example.nl").id
    go = tmp_path / "go"
    outputs = _run_all(
        [
            [RECORDER, store_url, customer, str(go), str(seed), str(keys)]
            for seed in range(PROCESSES[backend])
        ],
        go,
    )
    assert outputs == [str(keys)] * PROCESSES[backend]
    assert _count(store_url, "interactions") == keys
    assert _count(store_url, "interactions", "DISTINCT external_id") == keys


@concurrent_backends
def test_processes_identify_the_same_addresses_once(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    Omnikit(store_url).close()
    go = tmp_path / "go"
    outputs = _run_all(
        [[IDENTIFIER, store_url, str(go), str(seed)] for seed in range(PROCESSES[backend])], go
    )
    assert outputs == ["200"] * PROCESSES[backend]
    assert _count(store_url, "customers") == 200
    assert _count(store_url, "identities") == 200


def test_killed_writer_loses_no_returned_interaction(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    url = f"sqlite:///{path}"
    Omnikit(url).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    returned: list[str] = []
    deadline = time.monotonic() + 60
    while len(returned) < 300 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        returned.append(line.strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(returned) >= 300, "the writer printed ids before it was killed"

    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in raw.execute("SELECT id FROM interactions")}
    raw.close()
    missing = [i for i in returned if i not in stored]
    assert missing == []
    with Omnikit(url) as kit:  # the file reopens and takes writes again
        jan = kit.customers.identify(email="jan@example.nl")
        assert len(kit.journey(jan.id).steps) >= len(returned)
