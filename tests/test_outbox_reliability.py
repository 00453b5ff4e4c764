"""The outbox worker's promises: retries, Retry-After, dead letters, lost claims,
multi-part progress; and the same promises under processes that fail and die.

The first tests run in one process on every backend with a fixed clock, so every
time is exact. The ``slow`` ones start worker processes against one SQLite file or
one PostgreSQL database, with a provider (``httpx.MockTransport``) that fails at
random, and check that every message ends sent exactly once or dead with its reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from omnikit import (
    ConflictError,
    DeliveryStatus,
    Message,
    NotFoundError,
    Omnikit,
    OutboxStatus,
    Policy,
    ValidationError,
)
from omnikit.adapters.base import Capabilities
from omnikit.adapters.webhook import WebhookAdapter
from tests.test_reliability import ROOT, _run_all

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef"
SUBSCRIBER_SECRET = "subscriber-secret-0123"
URL = "http://provider.test/send"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


Outcome = int | tuple[int, dict[str, str]] | Exception


class Provider:
    """A provider that answers from a script (a status, a status with headers, or an
    exception to raise), then 200 with an id ``p<n>`` (n counts the requests)."""

    def __init__(self, *script: Outcome) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome: Outcome = self.script.pop(0) if self.script else 200
        if isinstance(outcome, Exception):
            raise outcome
        status, headers = outcome if isinstance(outcome, tuple) else (outcome, {})
        if status < 300:
            return httpx.Response(status, headers=headers, json={"id": f"p{len(self.requests)}"})
        return httpx.Response(status, headers=headers, json={"error": "no"})

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def texts(self) -> list[str]:
        return [json.loads(r.content)["text"] for r in self.requests]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def okit(store_url: str, clock: Clock) -> Iterator[Omnikit]:
    """A kit on each backend with an app push adapter, a fixed clock and a 10 s backoff."""
    kit = Omnikit(store_url, clock=clock)
    kit.adapters.use("webhook", secret=SECRET, channel="app", name="app", outbound_url=URL)
    kit.policies.set(Policy(purpose="order_updates", channels=("app",)))
    kit.outbox.configure(backoff=timedelta(seconds=10), max_backoff=timedelta(minutes=5))
    yield kit
    kit.close()


def queue(kit: Omnikit, text: str = "message 1") -> str:
    """Notify the app user ``user-1``; the outbox item's id."""
    customer = kit.customers.identify(external_ids={"app": "user-1"})
    [delivery] = kit.notify(customer.id, Message(body=text), purpose="order_updates").deliveries
    assert delivery.outbox_id is not None
    return delivery.outbox_id


def step(kit: Omnikit, item_id: str):  # type: ignore[no-untyped-def]
    """The outbound interaction of outbox item ``item_id``."""
    item = kit.outbox.get(item_id)
    assert item.customer_id is not None
    [found] = [s for s in kit.journey(item.customer_id).steps if s.id == item.interaction_id]
    return found


# the worker, in one process ---------------------------------------------------------------


def test_a_failed_attempt_is_retried_after_the_backoff(okit: Omnikit, clock: Clock) -> None:
    item_id = queue(okit)
    provider = Provider(503)
    first = okit.outbox.run_once(client=provider.client)
    assert (first.claimed, first.sent, first.retried, first.dead, first.lost) == (1, 0, 1, 0, 0)
    item = okit.outbox.get(item_id)
    assert (item.status, item.attempts, item.lease_until) == (OutboxStatus.QUEUED, 1, None)
    assert item.last_error is not None
    assert item.last_error.startswith(f"app: POST {URL} answered 503")
    # the first backoff is 10 s, with jitter between half and all of it
    assert NOW + timedelta(seconds=5) <= item.due_at <= NOW + timedelta(seconds=10)
    assert step(okit, item_id).status is DeliveryStatus.QUEUED
    clock.now = item.due_at - timedelta(microseconds=1)
    assert okit.outbox.run_once(client=provider.client).claimed == 0
    clock.now = item.due_at
    second = okit.outbox.run_once(client=provider.client)
    assert (second.claimed, second.sent, second.retried) == (1, 1, 0)
    item = okit.outbox.get(item_id)
    assert (item.status, item.attempts, item.external_id) == (OutboxStatus.SENT, 2, "p2")
    assert (item.sent_at, item.last_error) == (clock.now, None)
    assert provider.texts() == ["message 1", "message 1"]
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.external_id) == (DeliveryStatus.SENT, "p2")


def test_retry_after_is_honoured_when_longer_than_the_backoff(okit: Omnikit, clock: Clock) -> None:
    item_id = queue(okit)
    provider = Provider((429, {"Retry-After": "120"}), (429, {"Retry-After": "1"}))
    assert okit.outbox.run_once(client=provider.client).retried == 1
    item = okit.outbox.get(item_id)
    assert item.due_at == NOW + timedelta(seconds=120)
    assert item.last_error is not None and " answered 429 " in item.last_error
    clock.now = NOW + timedelta(seconds=119)
    assert okit.outbox.run_once(client=provider.client).claimed == 0
    clock.now = NOW + timedelta(seconds=120)
    assert okit.outbox.run_once(client=provider.client).retried == 1
    # a Retry-After shorter than the backoff (20 s, with jitter) does not shorten it
    item = okit.outbox.get(item_id)
    assert clock.now + timedelta(seconds=10) <= item.due_at <= clock.now + timedelta(seconds=20)
    clock.now = item.due_at
    assert okit.outbox.run_once(client=provider.client).sent == 1
    assert len(provider.requests) == 3


def test_a_subscribers_retry_after_is_honoured(okit: Omnikit, clock: Clock) -> None:
    okit.webhooks.subscribe(
        "https://crm.test/in", events=["customer.created"], secret=SUBSCRIBER_SECRET
    )
    okit.customers.identify(email="jan@example.nl")
    [item] = okit.outbox.pending()
    provider = Provider((429, {"Retry-After": "300"}))
    assert okit.outbox.run_once(client=provider.client).retried == 1
    again = okit.outbox.get(item.id)
    assert (again.attempts, again.due_at) == (1, NOW + timedelta(seconds=300))
    assert again.last_error == "POST https://crm.test/in answered 429"
    clock.now = again.due_at
    assert okit.outbox.run_once(client=provider.client).sent == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (503, f'app: POST {URL} answered 503 Service Unavailable: \'{{"error":"no"}}\''),
        (httpx.ReadTimeout("timed out"), f"app: POST {URL} failed: ReadTimeout"),
        (httpx.RemoteProtocolError("dropped"), f"app: POST {URL} failed: RemoteProtocolError"),
    ],
)
def test_max_attempts_puts_the_item_on_the_dead_letter_list(
    okit: Omnikit, clock: Clock, failure: Outcome, reason: str
) -> None:
    okit.outbox.configure(max_attempts=3)
    item_id = queue(okit)
    provider = Provider(failure, failure, failure)
    for _ in range(2):
        assert okit.outbox.run_once(client=provider.client).retried == 1
        clock.now = okit.outbox.get(item_id).due_at
    last = okit.outbox.run_once(client=provider.client)
    assert (last.claimed, last.retried, last.dead, last.fell_back) == (1, 0, 1, 0)
    expected = f"gave up after 3 attempts: {reason}"
    assert last.errors == [f"{item_id}: {expected}"]
    [dead] = okit.outbox.dead()
    assert (dead.id, dead.status, dead.attempts, dead.last_error) == (
        item_id,
        OutboxStatus.DEAD,
        3,
        expected,
    )
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.metadata["error"]) == (DeliveryStatus.FAILED, expected)
    clock.now += timedelta(days=1)
    assert okit.outbox.run_once(client=provider.client).claimed == 0
    assert len(provider.requests) == 3


def test_a_permanent_refusal_is_dead_at_once(okit: Omnikit, clock: Clock) -> None:
    item_id = queue(okit)
    provider = Provider(400)
    result = okit.outbox.run_once(client=provider.client)
    assert (result.retried, result.dead) == (0, 1)
    dead = okit.outbox.get(item_id)
    assert (dead.status, dead.attempts) == (OutboxStatus.DEAD, 1)
    assert dead.last_error == f'app: POST {URL} answered 400 Bad Request: \'{{"error":"no"}}\''
    assert step(okit, item_id).status is DeliveryStatus.FAILED
    clock.now += timedelta(days=1)
    assert okit.outbox.run_once(client=provider.client).claimed == 0
    assert len(provider.requests) == 1


def test_retry_brings_a_dead_item_back(okit: Omnikit, clock: Clock) -> None:
    item_id = queue(okit)
    provider = Provider(400)
    assert okit.outbox.run_once(client=provider.client).dead == 1
    clock.now += timedelta(hours=1)
    again = okit.outbox.retry(item_id)
    assert (again.status, again.attempts, again.due_at) == (OutboxStatus.QUEUED, 0, clock.now)
    assert okit.outbox.get(item_id) == again
    assert okit.outbox.dead() == []
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.metadata["retried"]) == (DeliveryStatus.QUEUED, True)
    result = okit.outbox.run_once(client=provider.client)
    assert (result.claimed, result.sent) == (1, 1)
    sent = okit.outbox.get(item_id)
    assert (sent.status, sent.attempts, sent.external_id) == (OutboxStatus.SENT, 1, "p2")
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.external_id) == (DeliveryStatus.SENT, "p2")


def test_retry_refuses_items_that_are_not_dead(okit: Omnikit) -> None:
    item_id = queue(okit)
    with pytest.raises(ConflictError, match=f"outbox item {item_id} is queued"):
        okit.outbox.retry(item_id)
    assert okit.outbox.run_once(client=Provider().client).sent == 1
    with pytest.raises(ConflictError, match=f"outbox item {item_id} is sent"):
        okit.outbox.retry(item_id)
    assert okit.outbox.get(item_id).status is OutboxStatus.SENT
    missing = "01a00000-0000-7000-8000-000000000000"
    with pytest.raises(NotFoundError, match=f"no outbox item with id '{missing}'"):
        okit.outbox.retry(missing)
    with pytest.raises(ValidationError, match="is not a valid outbox item id"):
        okit.outbox.retry("")


@pytest.mark.parametrize("late", [200, 503, 400])
def test_a_worker_whose_lease_ran_out_cannot_mark_the_item(
    okit: Omnikit, clock: Clock, late: int
) -> None:
    """Worker 1 stalls in the provider past its lease; worker 2 takes the item over
    and sends it. Whatever worker 1's provider then answers, its mark is refused."""
    okit.outbox.configure(lease=timedelta(seconds=30))
    item_id = queue(okit)
    second = Provider()
    taken_over = []

    def stalled(request: httpx.Request) -> httpx.Response:
        clock.now += timedelta(seconds=31)
        taken_over.append(okit.outbox.run_once(client=second.client))
        return httpx.Response(late, json={"id": "late"} if late == 200 else {})

    first = okit.outbox.run_once(client=httpx.Client(transport=httpx.MockTransport(stalled)))
    [other] = taken_over
    assert (other.claimed, other.sent, other.lost) == (1, 1, 0)
    assert (first.claimed, first.sent, first.retried, first.dead, first.lost) == (1, 0, 0, 0, 1)
    item = okit.outbox.get(item_id)
    assert (item.status, item.attempts, item.external_id) == (OutboxStatus.SENT, 1, "p1")
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.external_id) == (DeliveryStatus.SENT, "p1")


def test_a_claim_that_has_not_run_out_is_not_taken(okit: Omnikit, clock: Clock) -> None:
    okit.outbox.configure(lease=timedelta(seconds=30))
    queue(okit)
    nested = []

    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += timedelta(seconds=29)
        nested.append(okit.outbox.run_once(client=Provider().client).claimed)
        return httpx.Response(200, json={"id": "slow"})

    result = okit.outbox.run_once(client=httpx.Client(transport=httpx.MockTransport(slow)))
    assert nested == [0]
    assert (result.sent, result.lost) == (1, 0)


def test_a_batch_that_outlasts_its_lease_leaves_the_rest_alone(okit: Omnikit, clock: Clock) -> None:
    """The first send of a batch takes longer than the lease and another worker takes
    both items over; the first worker then sends nothing more from its batch."""
    okit.outbox.configure(lease=timedelta(seconds=30))
    queue(okit, "message 1")
    queue(okit, "message 2")
    other = Provider()
    taken_over = []

    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += timedelta(seconds=31)
        taken_over.append(okit.outbox.run_once(client=other.client))
        return httpx.Response(200, json={"id": "slow"})

    result = okit.outbox.run_once(client=httpx.Client(transport=httpx.MockTransport(slow)))
    assert [(r.claimed, r.sent) for r in taken_over] == [(2, 2)]
    assert (result.claimed, result.sent, result.lost) == (2, 0, 2)
    assert other.texts() == ["message 1", "message 2"]
    assert okit.outbox.pending() == []


@pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"], indirect=True)
def test_a_worker_thread_delivering_events_loses_none_of_the_new_ones(store_url: str) -> None:
    """A worker thread delivers webhook events while the application thread makes
    more: every event made is in the outbox, none dropped while the worker looked up
    a subscription."""
    with Omnikit(store_url) as kit:
        kit.webhooks.subscribe(
            "http://crm.test/in", events=["customer.created"], secret=SUBSCRIBER_SECRET
        )
        stop = threading.Event()
        worker = threading.Thread(
            target=kit.outbox.run,
            kwargs={"stop": stop, "idle": 0.001, "limit": 1, "client": Provider().client},
        )
        worker.start()
        try:
            for n in range(300):
                kit.customers.identify(email=f"customer{n}@example.nl")
        finally:
            stop.set()
            worker.join(timeout=30)
        with kit.store.transaction() as tx:
            items = tx.outbox_items(None, 10_000, "webhook")
    assert len(items) == 300


class ShortPush(WebhookAdapter):
    """The app push webhook with a 12-character limit: long texts go in parts."""

    capabilities = Capabilities(text_limit=12)


def test_a_multi_part_message_resumes_after_the_parts_sent(okit: Omnikit, clock: Clock) -> None:
    okit.adapters.use(ShortPush(secret=SECRET, channel="app", name="app", outbound_url=URL))
    item_id = queue(okit, "part one. part two. part three.")
    provider = Provider(200, 503)
    assert okit.outbox.run_once(client=provider.client).retried == 1
    item = okit.outbox.get(item_id)
    assert (item.status, item.parts_sent, item.attempts) == (OutboxStatus.QUEUED, 1, 1)
    assert item.payload["sent_ids"] == ["p1"]
    assert step(okit, item_id).status is DeliveryStatus.QUEUED
    clock.now = item.due_at
    assert okit.outbox.run_once(client=provider.client).sent == 1
    assert provider.texts() == ["part one.", "part two.", "part two.", "part three."]
    keys = [request.headers["idempotency-key"] for request in provider.requests]
    assert keys == [f"{item_id}:1", f"{item_id}:2", f"{item_id}:2", f"{item_id}:3"]
    item = okit.outbox.get(item_id)
    assert (item.status, item.attempts, item.external_id) == (OutboxStatus.SENT, 2, "p1")
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.external_id) == (DeliveryStatus.SENT, "p1")
    assert interaction.metadata["provider_ids"] == ["p1", "p3", "p4"]


# processes that fail and die -----------------------------------------------------------------

NOTIFIER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from omnikit import Message, Omnikit, Policy

    url, go, first, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    customers = Path(sys.argv[5]).read_text().split()
    kit = Omnikit(url)
    kit.adapters.use("webhook", secret="whsec-0123456789abcdef", channel="app", name="app",
                     outbound_url="http://provider.test/send")
    kit.policies.set(Policy(purpose="order_updates", channels=("app",)))
    while not go.exists():
        time.sleep(0.005)
    lines = []
    for n in range(first, first + count):
        result = kit.notify(customers[n % len(customers)], Message(body=f"message {n}"),
                            purpose="order_updates")
        [delivery] = result.deliveries
        assert delivery.outcome.value == "queued", delivery
        lines.append(f"message {n}\\t{delivery.outbox_id}")
    kit.close()
    print("\\n".join(lines))
    """
)

# The provider behind every worker: seeded faults, and a line per request in the
# worker's record file, written (and flushed) before it answers.
WORKER = textwrap.dedent(
    """
    import json, random, sys, time
    from datetime import timedelta
    from pathlib import Path
    import httpx
    from omnikit import Omnikit

    url, go, name, record = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    seed, faults = int(sys.argv[5]), sys.argv[6] == "faults"
    lease, limit = float(sys.argv[7]), int(sys.argv[8])
    block = Path(sys.argv[9]) if len(sys.argv) > 9 else None
    block_at = int(sys.argv[10]) if block else 0
    kit = Omnikit(url)
    kit.adapters.use("webhook", secret="whsec-0123456789abcdef", channel="app", name="app",
                     outbound_url="http://provider.test/send")
    kit.outbox.configure(
        lease=timedelta(seconds=lease), backoff=timedelta(milliseconds=5),
        max_backoff=timedelta(milliseconds=50), max_attempts=25,
    )
    rng = random.Random(seed)
    out = record.open("a")
    accepted = 0

    def note(request, outcome, **extra):
        if request.url.host == "crm.test":
            key = request.headers["idempotency-key"]
            extra["headers"] = {k: v for k, v in request.headers.items() if k.startswith("x-")}
            extra["idempotency_key"] = key
            extra["body"] = request.content.decode()
        else:
            key = json.loads(request.content)["text"]
            extra["idempotency_key"] = request.headers.get("idempotency-key")
        line = {"worker": name, "key": key, "outcome": outcome, "at": time.time(), **extra}
        out.write(json.dumps(line) + "\\n")
        out.flush()

    def provider(request):
        global accepted
        roll = rng.random() if faults else 1.0
        if roll < 0.06:
            status = rng.choice([500, 502, 503])
            note(request, str(status))
            return httpx.Response(status, text="try later")
        if roll < 0.09:
            wait = rng.choice(["0", "1"])
            note(request, "429", retry_after=wait)
            return httpx.Response(429, headers={"Retry-After": wait}, text="slow down")
        if roll < 0.12:
            note(request, "timeout")
            raise httpx.ReadTimeout("the provider did not answer", request=request)
        if roll < 0.14:
            note(request, "dropped")
            raise httpx.RemoteProtocolError("connection closed mid-answer", request=request)
        if roll < 0.16:
            note(request, "refused")
            raise httpx.ConnectError("connection refused", request=request)
        if roll < 0.165:
            note(request, "400")
            return httpx.Response(400, json={"error": "invalid recipient"})
        accepted += 1
        ext = f"{name}-{accepted}"
        note(request, "accepted", ext=ext)
        if block is not None and accepted == block_at:
            block.touch()
            time.sleep(3600)   # killed here, holding its claims
        return httpx.Response(200, json={"id": ext})

    client = httpx.Client(transport=httpx.MockTransport(provider))
    while not go.exists():
        time.sleep(0.005)
    totals = {"runs": 0, "claimed": 0, "sent": 0, "retried": 0, "dead": 0, "lost": 0}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        result = kit.outbox.run_once(limit=limit, client=client)
        totals["runs"] += 1
        for key in ("claimed", "sent", "retried", "dead", "lost"):
            totals[key] += getattr(result, key)
        if result.claimed == 0:
            if not kit.outbox.pending(limit=1):
                break
            time.sleep(0.01)
    kit.close()
    print(json.dumps(totals))
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _worker(
    url: str,
    go: Path,
    name: str,
    record: Path,
    *,
    seed: int = 0,
    faults: bool = True,
    lease: float = 60.0,
    limit: int = 50,
    block: tuple[Path, int] | None = None,
) -> list[str]:
    args = [WORKER, url, str(go), name, str(record), str(seed), "faults" if faults else "none"]
    args += [str(lease), str(limit)]
    if block is not None:
        args += [str(block[0]), str(block[1])]
    return args


def _records(*paths: Path) -> list[dict[str, Any]]:
    """Every request the providers saw, oldest first (one item's attempts never overlap,
    so its requests are in the order they were made)."""
    lines = [json.loads(line) for path in paths for line in path.read_text().splitlines()]
    return sorted(lines, key=lambda line: float(line["at"]))


def _rows(url: str, query: str) -> list[Any]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query)).fetchall())
    finally:
        engine.dispose()


def _outbox(url: str) -> dict[str, Any]:
    """Every outbox item's row, by id."""
    query = (
        "SELECT id, kind, status, attempts, external_id, last_error, interaction_id, "
        "lease_until FROM outbox"
    )
    return {row.id: row for row in _rows(url, query)}


def _outbound(url: str) -> dict[str, Any]:
    """Every outbound interaction's row, by id."""
    query = (
        "SELECT id, status, external_id, metadata FROM interactions WHERE direction = 'outbound'"
    )
    return {row.id: row for row in _rows(url, query)}


def _app_customers(kit: Omnikit, count: int, path: Path) -> None:
    ids = [kit.customers.identify(external_ids={"app": f"user-{n}"}).id for n in range(count)]
    path.write_text("\n".join(ids))


MESSAGES = 10_000
NOTIFIERS = {"sqlite-file": 2, "postgresql": 4}
process_backends = pytest.mark.parametrize("backend", ["sqlite-file", "postgresql"], indirect=True)


@pytest.mark.slow
@process_backends
def test_ten_thousand_messages_through_two_failing_workers(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    """10,000 notifications, then two worker processes against a provider that fails
    one attempt in six (5xx, 429 with Retry-After, timeouts, dropped and refused
    connections, and 1 in 200 a permanent 400). Every message ends sent exactly once,
    or dead with its reason; nothing is lost and nothing is sent twice."""
    customers = tmp_path / "customers"
    with Omnikit(store_url) as kit:
        _app_customers(kit, 100, customers)
    go = tmp_path / "go"
    notifiers = NOTIFIERS[backend]
    share = MESSAGES // notifiers
    outputs = _run_all(
        [
            [NOTIFIER, store_url, str(go), str(n * share), str(share), str(customers)]
            for n in range(notifiers)
        ],
        go,
        timeout=300,
    )
    queued = dict(line.split("\t") for out in outputs for line in out.splitlines())
    assert len(queued) == MESSAGES
    assert len(set(queued.values())) == MESSAGES  # one item per notification

    go = tmp_path / "go-workers"
    records = [tmp_path / "w0.jsonl", tmp_path / "w1.jsonl"]
    outputs = _run_all(
        [_worker(store_url, go, f"w{n}", records[n], seed=n) for n in range(2)], go, timeout=300
    )
    totals = [json.loads(out) for out in outputs]

    items = _outbox(store_url)
    assert set(items) == set(queued.values())  # nothing lost, nothing extra
    interactions = _outbound(store_url)
    assert len(interactions) == MESSAGES
    seen = _records(*records)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for line in seen:
        by_key.setdefault(line["key"], []).append(line)
    assert set(by_key) <= set(queued)
    statuses = Counter(item.status for item in items.values())
    assert set(statuses) == {"sent", "dead"}, statuses  # nothing left queued
    for key, item_id in queued.items():
        item = items[item_id]
        requests = by_key.get(key, [])
        accepted = [r for r in requests if r["outcome"] == "accepted"]
        refused = [r for r in requests if r["outcome"] == "400"]
        interaction = interactions[item.interaction_id]
        metadata = json.loads(interaction.metadata)
        assert metadata["outbox_id"] == item_id
        assert item.attempts == len(requests), (key, requests)  # one request per attempt
        for request in requests:
            assert request["idempotency_key"] == item_id  # the same key on every attempt
        for before, after in pairwise(requests):
            if before.get("retry_after") == "1":  # the provider's Retry-After was honoured
                assert float(after["at"]) - float(before["at"]) >= 1.0, (before, after)
        if item.status == "sent":
            [one] = accepted  # sent exactly once
            assert refused == []
            assert item.external_id == one["ext"] == interaction.external_id
            assert interaction.status == "sent"
        else:
            assert accepted == []
            [permanent] = refused  # a 400 is final: never sent again
            assert requests[-1] is permanent
            assert item.last_error.startswith("app: POST http://provider.test/send answered 400")
            assert (interaction.status, metadata["error"]) == ("failed", item.last_error)
    assert sum(t["sent"] for t in totals) == statuses["sent"]
    assert sum(t["dead"] for t in totals) == statuses["dead"]
    assert sum(t["lost"] for t in totals) == 0
    outcomes = Counter(line["outcome"] for line in seen)
    # the provider did fail in every way it can, and both workers took part
    assert {"500", "502", "503", "429", "timeout", "dropped", "refused", "400"} <= set(outcomes)
    assert all(t["sent"] > MESSAGES // 4 for t in totals)


KILLED_BATCH = 10
KILLED_AT = 25  # the 25th acceptance: the fifth item of the killed worker's third batch


@pytest.mark.slow
@process_backends
def test_a_worker_killed_mid_batch_loses_nothing(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    """A worker (lease 1 s, batches of 10) blocks in the provider on its 25th message,
    after the provider accepted it, and is killed with SIGKILL holding the rest of its
    batch. Another worker sends everything else once the lease has run out. The one
    message sent twice is the one the killed worker had sent but not marked."""
    customers = tmp_path / "customers"
    with Omnikit(store_url) as kit:
        kit.adapters.use("webhook", secret=SECRET, channel="app", name="app", outbound_url=URL)
        kit.policies.set(Policy(purpose="order_updates", channels=("app",)))
        _app_customers(kit, 20, customers)
        ids = customers.read_text().split()
        queued = {}
        for n in range(300):
            result = kit.notify(ids[n % 20], Message(body=f"message {n}"), purpose="order_updates")
            queued[f"message {n}"] = result.deliveries[0].outbox_id
    go, blocked = tmp_path / "go", tmp_path / "blocked"
    records = {"killed": tmp_path / "killed.jsonl", "finisher": tmp_path / "finisher.jsonl"}
    killed = subprocess.Popen(
        [
            sys.executable,
            "-c",
            *_worker(
                store_url,
                go,
                "killed",
                records["killed"],
                faults=False,
                lease=1.0,
                limit=KILLED_BATCH,
                block=(blocked, KILLED_AT),
            ),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    go.touch()
    deadline = time.monotonic() + 60
    while not blocked.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blocked.exists(), killed.stderr.read() if killed.stderr else ""
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    if killed.stderr:
        killed.stderr.close()
    assert killed.returncode == -signal.SIGKILL

    # killed holding its claims: the blocked message and the five after it
    held = [item for item in _outbox(store_url).values() if item.lease_until is not None]
    assert len(held) == 6
    assert {item.status for item in held} == {"queued"}
    go = tmp_path / "go-finisher"
    finisher = _worker(store_url, go, "finisher", records["finisher"], faults=False)
    [finished] = _run_all([finisher], go, timeout=120)
    assert json.loads(finished)["lost"] == 0

    items = _outbox(store_url)
    interactions = _outbound(store_url)
    assert set(items) == set(queued.values())
    assert {item.status for item in items.values()} == {"sent"}  # nothing lost
    seen = _records(*records.values())
    assert {line["outcome"] for line in seen} == {"accepted"}
    killed_lines = [line for line in seen if line["worker"] == "killed"]
    assert len(killed_lines) == KILLED_AT
    blocked_key = killed_lines[-1]["key"]
    accepted = Counter(line["key"] for line in seen)
    assert set(accepted) == set(queued)
    # a duplicate is only ever a message the killed worker sent and did not mark
    unmarked = {
        line["key"]
        for line in killed_lines
        if items[queued[line["key"]]].external_id != line["ext"]
    }
    duplicates = {key for key, count in accepted.items() if count > 1}
    assert duplicates <= unmarked
    assert duplicates == {blocked_key}
    assert accepted[blocked_key] == 2
    marked_by_killed = {line["key"] for line in killed_lines[:-1]}
    for key, item_id in queued.items():
        item = items[item_id]
        interaction = interactions[item.interaction_id]
        [marked] = [line for line in seen if line["key"] == key and line["ext"] == item.external_id]
        assert marked["worker"] == ("killed" if key in marked_by_killed else "finisher")
        assert (interaction.status, interaction.external_id) == ("sent", item.external_id)


WEBHOOK_EVENTS = 500


@pytest.mark.slow
@process_backends
def test_webhook_events_through_two_failing_workers(
    backend: str, store_url: str, tmp_path: Path
) -> None:
    """500 ``customer.created`` events for a subscriber, delivered by two worker
    processes through the same failing provider: each delivered once or dead with its
    reason, every POST signed and carrying its idempotency key."""
    with Omnikit(store_url) as kit:
        subscription = kit.webhooks.subscribe(
            "http://crm.test/in", events=["customer.created"], secret=SUBSCRIBER_SECRET
        )
        customers = {
            kit.customers.identify(email=f"customer{n}@example.nl").id
            for n in range(WEBHOOK_EVENTS)
        }
        pending = kit.outbox.pending(limit=10_000)
    assert len(pending) == WEBHOOK_EVENTS
    assert {item.payload["subscription"] for item in pending} == {subscription.id}
    go = tmp_path / "go"
    records = [tmp_path / "w0.jsonl", tmp_path / "w1.jsonl"]
    outputs = _run_all(
        [_worker(store_url, go, f"w{n}", records[n], seed=10 + n, limit=20) for n in range(2)],
        go,
        timeout=300,
    )
    assert sum(json.loads(out)["lost"] for out in outputs) == 0
    items = _outbox(store_url)
    assert set(items) == {item.id for item in pending}
    seen = _records(*records)
    delivered: list[str] = []
    for line in seen:
        headers = line["headers"]
        assert line["idempotency_key"] == line["key"]
        assert headers["x-omnikit-event"] == "customer.created"
        stamp = headers["x-omnikit-timestamp"]
        digest = hmac.new(
            SUBSCRIBER_SECRET.encode(), f"{stamp}.{line['body']}".encode(), hashlib.sha256
        ).hexdigest()
        assert headers["x-omnikit-signature"] == f"v1={digest}"
        assert abs(float(line["at"]) - int(stamp)) < 300
        event = json.loads(line["body"])
        assert event["type"] == "customer.created"
        if line["outcome"] == "accepted":
            delivered.append(event["customer_id"])
    for item in items.values():
        requests = [line for line in seen if line["key"] == item.id]
        outcomes = [line["outcome"] for line in requests]
        assert item.attempts == len(requests)
        if item.status == "sent":
            assert outcomes.count("accepted") == 1 and outcomes[-1] == "accepted"
        else:
            assert item.status == "dead"
            assert outcomes.count("accepted") == 0 and outcomes[-1] == "400"
            assert item.last_error == "POST http://crm.test/in answered 400"
    sent = sum(item.status == "sent" for item in items.values())
    assert len(delivered) == len(set(delivered)) == sent  # each event delivered once
    assert set(delivered) <= customers
    assert sent + sum(item.status == "dead" for item in items.values()) == WEBHOOK_EVENTS
    assert {line["outcome"] for line in seen} >= {"accepted", "429", "timeout", "dropped"}
