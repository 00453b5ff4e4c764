"""The outbox worker's promises: retries, Retry-After, dead letters, lost claims,
multi-part progress; and the same promises under processes that fail and die.

The first tests run in one process on every backend with a fixed clock, so every
time is exact. The ``slow`` ones start worker processes against one SQLite file or
one PostgreSQL database, with a provider (``httpx.MockTransport``) that fails at
random, and check that every message ends sent exactly once or dead with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

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
        import json

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
    item = okit.outbox.get(item_id)
    assert (item.status, item.attempts, item.external_id) == (OutboxStatus.SENT, 2, "p1")
    interaction = step(okit, item_id)
    assert (interaction.status, interaction.external_id) == (DeliveryStatus.SENT, "p1")
    assert interaction.metadata["provider_ids"] == ["p1", "p3", "p4"]
