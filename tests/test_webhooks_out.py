"""``kit.webhooks``: omnikit's events as signed POSTs, through the outbox."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from omnikit import NotFoundError, Omnikit, ValidationError

SECRET = "subscriber-secret-0123"


def test_subscribe_validates(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match=r"http:// or https://"):
        kit.webhooks.subscribe("ftp://x", events=["case.opened"], secret=SECRET)
    with pytest.raises(ValidationError, match=r"'case\.exploded' is not an event type"):
        kit.webhooks.subscribe("https://crm.test/in", events=["case.exploded"], secret=SECRET)
    with pytest.raises(ValidationError, match="non-empty list"):
        kit.webhooks.subscribe("https://crm.test/in", events=[], secret=SECRET)
    with pytest.raises(ValidationError, match="non-empty list"):
        kit.webhooks.subscribe("https://crm.test/in", events="case.opened", secret=SECRET)
    with pytest.raises(ValidationError, match="16 characters"):
        kit.webhooks.subscribe("https://crm.test/in", events=["*"], secret="short")
    with pytest.raises(NotFoundError):
        kit.webhooks.unsubscribe("01a00000-0000-7000-8000-000000000000")
    assert kit.webhooks.list() == []


def test_events_are_delivered_signed(kit: Omnikit) -> None:
    sub = kit.webhooks.subscribe("https://crm.test/in", events=["case.opened"], secret=SECRET)
    assert "secret" not in repr(sub)
    jan = kit.customers.identify(email="jan@example.nl")
    case = kit.cases.open(customer=jan.id, subject="Broken drill")
    [item] = kit.outbox.pending()
    assert (item.kind, item.payload["event"]) == ("webhook", "case.opened")
    got: list[httpx.Request] = []

    def crm(request: httpx.Request) -> httpx.Response:
        got.append(request)
        return httpx.Response(204)

    result = kit.outbox.run_once(client=httpx.Client(transport=httpx.MockTransport(crm)))
    assert result.sent == 1
    [request] = got
    assert (request.method, str(request.url)) == ("POST", "https://crm.test/in")
    assert request.headers["idempotency-key"] == item.id
    assert request.headers["x-omnikit-event"] == "case.opened"
    stamp = request.headers["x-omnikit-timestamp"]
    expected = hmac.new(
        SECRET.encode(), f"{stamp}.".encode() + request.content, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-omnikit-signature"] == f"v1={expected}"
    event = json.loads(request.content)
    assert (event["type"], event["case"]["id"], event["case"]["subject"]) == (
        "case.opened",
        case.id,
        "Broken drill",
    )


def test_a_rolled_back_change_sends_nothing(kit: Omnikit) -> None:
    kit.webhooks.subscribe("https://crm.test/in", events=["*"], secret=SECRET)
    jan = kit.customers.identify(email="jan@example.nl")
    before = len(kit.outbox.pending())
    with pytest.raises(NotFoundError):
        kit.cases.open(
            customer=jan.id, subject="x", interaction="01a00000-0000-7000-8000-000000000000"
        )
    assert len(kit.outbox.pending()) == before
    assert before == 1  # customer.created


def test_unsubscribed_items_die_with_a_reason(kit: Omnikit) -> None:
    sub = kit.webhooks.subscribe("https://crm.test/in", events=["customer.created"], secret=SECRET)
    kit.customers.identify(email="jan@example.nl")
    kit.webhooks.unsubscribe(sub.id)
    assert kit.webhooks.list() == []
    result = kit.outbox.run_once(
        client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    )
    assert result.dead == 1
    assert "no longer exists" in (kit.outbox.dead()[0].last_error or "")


def test_failing_subscriber_is_retried_then_dead(kit: Omnikit) -> None:
    from datetime import timedelta

    kit.webhooks.subscribe("https://crm.test/in", events=["customer.created"], secret=SECRET)
    kit.customers.identify(email="jan@example.nl")
    kit.outbox.configure(
        max_attempts=2, backoff=timedelta(microseconds=1), max_backoff=timedelta(microseconds=1)
    )
    down = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    assert kit.outbox.run_once(client=down).retried == 1
    import time

    time.sleep(0.01)
    assert kit.outbox.run_once(client=down).dead == 1
    [dead] = kit.outbox.dead()
    assert dead.last_error == "gave up after 2 attempts: POST https://crm.test/in answered 503"
    kit.outbox.retry(dead.id)
    ok = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert kit.outbox.run_once(client=ok).sent == 1
