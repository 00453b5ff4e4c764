"""The durable outbox: promised deliveries, sent by workers that may die at any time.

An item is written in the same transaction as what it delivers (an outbound
interaction, or the change an event reports), so nothing promised is lost. A worker
(``kit.outbox.run_once``, ``omnikit worker``) claims due items with a lease, sends
them, and marks them in one transaction per item, checking it still holds the claim.
A worker that dies mid-send loses its lease, and another worker takes the item over.

The guarantee is therefore *at least once* per item, and *exactly once* where the
provider honours an idempotency key: every resend of an item carries the same key
(the item's id). Only an item sent, and then not marked because the worker died or
the answer was lost, is ever sent again (``docs/outbound.md`` says this per channel).

Failures: a retryable one (a network error, 429, 5xx) is tried again after an
exponential backoff with jitter, or after the provider's ``Retry-After`` if longer;
a permanent one, or running out of attempts, puts the item on the dead-letter list
(``kit.outbox.dead()``, ``kit.outbox.retry(id)``) and, for a notification, falls back
to the next channel the customer prefers.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import JsonValue

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.errors import ConflictError, NotFoundError, OmnikitError, SendError, ValidationError
from omnikit.model import (
    EVENT_TYPES,
    DeliveryStatus,
    Event,
    Interaction,
    OutboxItem,
    OutboxStatus,
    Subscription,
)
from omnikit.outbound import fall_back, outbound_message
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["DEFAULT_LEASE", "DEFAULT_MAX_ATTEMPTS", "Outbox", "RunResult", "Webhooks"]

log = logging.getLogger("omnikit.outbox")

DEFAULT_LEASE = timedelta(seconds=60)
"""How long a claim lasts: a worker silent for longer is presumed dead."""
DEFAULT_MAX_ATTEMPTS = 10
"""Attempts before a retryable failure goes to the dead-letter list."""
DEFAULT_BACKOFF = timedelta(seconds=2)
"""The wait after the first failure; it doubles with each attempt (with jitter)."""
DEFAULT_MAX_BACKOFF = timedelta(hours=1)
"""The longest wait between two attempts."""
SUBSCRIPTION_REFRESH = 5.0
"""Seconds a process trusts its list of webhook subscriptions before reading it again."""


@dataclass
class RunResult:
    """What one ``run_once`` did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    fell_back: int = 0
    lost: int = 0
    """Items whose claim ran out before they were marked (another worker has them)."""
    errors: list[str] = field(default_factory=list)


class Outbox:
    """The promised deliveries and the worker that sends them (``kit.outbox``)."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit
        self.lease = DEFAULT_LEASE
        self.max_attempts = DEFAULT_MAX_ATTEMPTS
        self.backoff = DEFAULT_BACKOFF
        self.max_backoff = DEFAULT_MAX_BACKOFF
        self._client: httpx.Client | None = None
        self._own = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Outbox lease={self.lease} max_attempts={self.max_attempts}>"

    def configure(
        self,
        *,
        lease: timedelta | None = None,
        max_attempts: int | None = None,
        backoff: timedelta | None = None,
        max_backoff: timedelta | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        """Change the worker's settings: the claim ``lease`` (default 60 s),
        ``max_attempts`` (10), the first ``backoff`` (2 s, doubling), the longest
        ``max_backoff`` (1 h), and the ``httpx.Client`` sends go through (default: one
        the outbox makes, with a 10-second timeout).

        Raises ``ValidationError`` for a non-positive duration or attempt count.
        """
        for name, value in (("lease", lease), ("backoff", backoff), ("max_backoff", max_backoff)):
            if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
                raise ValidationError(f"{name} {value!r} must be a positive timedelta")
        if max_attempts is not None and (
            not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1
        ):
            raise ValidationError(f"max_attempts {max_attempts!r} must be a whole number >= 1")
        if client is not None and not isinstance(client, httpx.Client):
            raise ValidationError(f"client must be an httpx.Client, not {client!r}")
        self.lease = lease or self.lease
        self.max_attempts = max_attempts or self.max_attempts
        self.backoff = backoff or self.backoff
        self.max_backoff = max_backoff or self.max_backoff
        if client is not None:
            self.close()
            self._client = client

    # reading and repairing -----------------------------------------------------------

    def get(self, item_id: str) -> OutboxItem:
        """The outbox item ``item_id``; ``NotFoundError`` when there is none."""
        item_id = _validate.object_id(item_id, "outbox item")
        with self._kit.store.transaction() as tx:
            item = tx.get_outbox(item_id)
        if item is None:
            raise NotFoundError(f"no outbox item with id {item_id!r}")
        return item

    def pending(self, *, limit: int = 100) -> list[OutboxItem]:
        """Items waiting to be sent (or retried), earliest due first."""
        return self._list(OutboxStatus.QUEUED, limit)

    def dead(self, *, limit: int = 100) -> list[OutboxItem]:
        """The dead-letter list: items that failed for good; ``last_error`` says why."""
        return self._list(OutboxStatus.DEAD, limit)

    def _list(self, status: OutboxStatus, limit: int) -> list[OutboxItem]:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
            raise ValidationError(f"limit {limit!r} must be a whole number from 1 to 10000")
        with self._kit.store.transaction() as tx:
            return tx.outbox_items(status.value, limit)

    def retry(self, item_id: str) -> OutboxItem:
        """Put a dead item back in the queue, due now, with its attempts reset.

        Raises ``NotFoundError`` for an unknown id and ``ConflictError`` for an item
        that is not dead.
        """
        item_id = _validate.object_id(item_id, "outbox item")
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            item = tx.get_outbox(item_id)
            if item is None:
                raise NotFoundError(f"no outbox item with id {item_id!r}")
            if item.status is not OutboxStatus.DEAD:
                raise ConflictError(
                    f"outbox item {item_id} is {item.status.value}; only dead items are retried"
                )
            again = item.model_copy(
                update={
                    "status": OutboxStatus.QUEUED,
                    "attempts": 0,
                    "due_at": now,
                    "lease_until": None,
                    "updated_at": now,
                }
            )
            tx.update_outbox(again, None)
            if item.interaction_id is not None:
                _set_status(tx, item.interaction_id, DeliveryStatus.QUEUED, {"retried": True})
        return again

    # the worker -----------------------------------------------------------------------

    def run_once(self, *, limit: int = 100, client: httpx.Client | None = None) -> RunResult:
        """Claim up to ``limit`` due items, send each and mark it; return the counts.

        Safe to call from several threads or processes at once: a claimed item is
        leased to one caller until it is marked or its lease runs out.
        """
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
            raise ValidationError(f"limit {limit!r} must be a whole number from 1 to 10000")
        kit = self._kit
        token = new_id()
        now = kit.now()
        with kit.store.transaction(write=True) as tx:
            items = tx.claim_outbox(to_micros(now), to_micros(now + self.lease), token, limit)
        result = RunResult(claimed=len(items))
        if not items:
            return result
        http = client or self._http()
        margin = self.lease / 4  # room for one send (10 s timeout) before the lease ends
        for item in items:
            if item.lease_until is not None and kit.now() >= item.lease_until - margin:
                # The batch nearly outlasted its lease: another worker may soon take the
                # rest, so leave it rather than risk sending an item twice.
                result.lost += 1
                continue
            self._deliver(item, token, http, result)
        return result

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        idle: float = 1.0,
        limit: int = 100,
        client: httpx.Client | None = None,
    ) -> None:
        """Send due items until ``stop`` is set, sleeping ``idle`` seconds whenever
        nothing is due. A failing store is logged and tried again after ``idle``."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                result = self.run_once(limit=limit, client=client)
            except OmnikitError as error:
                log.warning("outbox worker: %s", error)
                result = RunResult()
            if result.claimed == 0:
                stop.wait(idle)

    def close(self) -> None:
        """Close the HTTP client the outbox made for itself (not one given to it)."""
        with self._lock:
            client, self._own = (self._client if self._own else None), False
            if client is not None:
                self._client = None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(timeout=10.0)
                self._own = True
            return self._client

    def _deliver(self, item: OutboxItem, token: str, http: httpx.Client, result: RunResult) -> None:
        kit = self._kit
        sent_ids: list[str] = []
        written = [item]  # the item as last written: a multi-part message's progress
        try:
            if item.kind == "webhook":
                self._post_event(item, http)
            else:
                sent_ids = self._send_message(written, token, http)
        except SendError as error:
            self._failed(written[-1], token, error, result)
            return
        except OmnikitError as error:  # cannot be sent as it is: a permanent failure
            self._failed(written[-1], token, SendError(str(error), retryable=False), result)
            return
        except Exception as error:  # an adapter's bug: try again later, loudly
            log.exception("outbox item %s: sending raised", item.id)
            failure = SendError(f"{type(error).__name__}: {error}", retryable=True)
            self._failed(written[-1], token, failure, result)
            return
        item = written[-1]
        now = kit.now()
        done = item.model_copy(
            update={
                "status": OutboxStatus.SENT,
                "sent_at": now,
                "updated_at": now,
                "lease_until": None,
                "attempts": item.attempts + 1,
                "external_id": sent_ids[0] if sent_ids else None,
                "last_error": None,
            }
        )
        with kit._writing() as tx:
            if not tx.update_outbox(done, token):
                result.lost += 1
                log.warning("outbox item %s: claim lost before it was marked sent", item.id)
                return
            if item.interaction_id is not None:
                _mark_sent(kit, tx, item, sent_ids)
        result.sent += 1

    def _send_message(self, written: list[OutboxItem], token: str, http: httpx.Client) -> list[str]:
        """Send the parts not sent yet; after each part but the last, write the progress
        and append the item as written to ``written``."""
        kit = self._kit
        item = written[-1]
        if item.adapter is None or item.adapter not in kit.adapters:
            raise SendError(
                f"adapter {item.adapter!r} is not configured in this process",
                retryable=True,
            )
        adapter = kit.adapters.get(item.adapter)
        message = item.payload.get("message")
        if not isinstance(message, dict):
            raise SendError(f"outbox item {item.id} has no message", retryable=False)
        payloads = adapter.render(outbound_message(message))
        ids: list[str] = list(_text_list(item.payload.get("sent_ids")))
        for index in range(item.parts_sent, len(payloads)):
            answer = adapter.send(payloads[index], http)
            if answer.external_id:
                ids.append(answer.external_id)
            if index + 1 < len(payloads):  # remember progress: a retry sends only the rest
                progress = item.model_copy(
                    update={
                        "parts_sent": index + 1,
                        "payload": {**item.payload, "sent_ids": list(ids)},
                        "updated_at": kit.now(),
                    }
                )
                with kit.store.transaction(write=True) as tx:
                    if not tx.update_outbox(progress, token):
                        raise SendError("claim lost mid-message", retryable=True)
                item = progress
                written.append(progress)
        return ids

    def _post_event(self, item: OutboxItem, http: httpx.Client) -> None:
        subscription_id = item.payload.get("subscription")
        body = item.payload.get("body")
        url = item.payload.get("url")
        if not isinstance(body, str) or not isinstance(url, str):
            raise SendError(f"outbox item {item.id} is not a webhook", retryable=False)
        subscription = self._kit.webhooks._find(str(subscription_id))
        if subscription is None:
            raise SendError(f"subscription {subscription_id} no longer exists", retryable=False)
        from omnikit.adapters.webhook import sign  # adapters load only when used

        content = body.encode()
        headers = {
            "content-type": "application/json",
            "idempotency-key": item.id,
            "x-omnikit-event": str(item.payload.get("event", "")),
            **sign(subscription.secret, content, int(self._kit.now().timestamp())),
        }
        try:
            response = http.post(url, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise SendError(f"POST {url} failed: {type(error).__name__}", retryable=True) from None
        if not response.is_success:
            status = response.status_code
            raise SendError(
                f"POST {url} answered {status}",
                retryable=status in (408, 425, 429) or status >= 500,
                status=status,
                **_retry_after(response),
            )

    def _failed(self, item: OutboxItem, token: str, error: SendError, result: RunResult) -> None:
        kit = self._kit
        now = kit.now()
        attempts = item.attempts + 1
        reason = str(error)[:1000]
        retry = error.retryable and attempts < self.max_attempts
        if retry:
            wait = self._backoff(attempts, error.retry_after)
            changed = item.model_copy(
                update={
                    "attempts": attempts,
                    "due_at": now + wait,
                    "lease_until": None,
                    "updated_at": now,
                    "last_error": reason,
                }
            )
            with kit.store.transaction(write=True) as tx:
                if tx.update_outbox(changed, token):
                    result.retried += 1
                else:
                    result.lost += 1
            return
        if error.retryable:
            reason = f"gave up after {attempts} attempts: {reason}"
        dead = item.model_copy(
            update={
                "status": OutboxStatus.DEAD,
                "attempts": attempts,
                "lease_until": None,
                "updated_at": now,
                "last_error": reason,
            }
        )
        with kit._writing() as tx:
            if not tx.update_outbox(dead, token):
                result.lost += 1
                return
            result.dead += 1
            result.errors.append(f"{item.id}: {reason}")
            if item.interaction_id is not None:
                failed = _set_status(
                    tx, item.interaction_id, DeliveryStatus.FAILED, {"error": reason}
                )
                if failed is not None:
                    kit.events.add(
                        "interaction.updated",
                        at=now,
                        customer_id=failed.customer_id,
                        interaction=failed,
                        detail={"before": "queued", "after": "failed"},
                    )
            if error.undeliverable:
                _mark_undeliverable(kit, tx, item, reason)
            if item.kind == "message" and fall_back(kit, tx, item, reason) is not None:
                result.fell_back += 1

    def _backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        base = self.backoff.total_seconds() * 2 ** min(attempts - 1, 30)
        wait = min(base, self.max_backoff.total_seconds()) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            wait = max(wait, min(float(retry_after), 86400.0))
        return timedelta(seconds=wait)


def _retry_after(response: httpx.Response) -> dict[str, Any]:
    from omnikit.adapters.base import parse_retry_after

    seconds = parse_retry_after(response.headers.get("retry-after"))
    return {} if seconds is None else {"retry_after": seconds}


def _text_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _set_status(
    tx: StoreTransaction, interaction_id: str, status: DeliveryStatus, extra: dict[str, Any]
) -> Interaction | None:
    """Move the interaction to ``status`` with ``extra`` metadata; the changed one."""
    interaction = tx.get_interaction(interaction_id)
    if interaction is None:
        return None
    old = interaction.status.value if interaction.status else None
    metadata = {**interaction.metadata, **extra}
    if not tx.set_interaction_status(interaction_id, old, status.value, metadata):
        return None
    return interaction.model_copy(update={"status": status, "metadata": metadata})


def _mark_sent(kit: Omnikit, tx: StoreTransaction, item: OutboxItem, ids: Sequence[str]) -> None:
    """The interaction gets the provider's id (delivery statuses name it) and ``sent``
    unless a status callback already moved it further."""
    assert item.interaction_id is not None
    interaction = tx.get_interaction(item.interaction_id)
    if interaction is None:
        return
    metadata: dict[str, JsonValue] = dict(interaction.metadata)
    if len(ids) > 1:
        metadata["provider_ids"] = list(ids)
    external_id = interaction.external_id
    if ids and external_id is None:
        if tx.interaction_by_external_id(interaction.channel, ids[0]) is None:
            tx.set_interaction_external_id(interaction.id, ids[0])
            external_id = ids[0]
        else:
            metadata["provider_id"] = ids[0]
    old = interaction.status
    status = old if old not in (None, DeliveryStatus.QUEUED, DeliveryStatus.FAILED) else None
    status = status or DeliveryStatus.SENT
    changed = tx.set_interaction_status(
        interaction.id, old.value if old else None, status.value, metadata
    )
    if not kit.events.wanted("interaction.updated"):
        return
    # What was just written, unless another writer changed the status first.
    stored = (
        interaction.model_copy(
            update={"status": status, "metadata": metadata, "external_id": external_id}
        )
        if changed
        else tx.get_interaction(interaction.id)
    )
    if stored is not None:
        kit.events.add(
            "interaction.updated",
            at=kit.now(),
            customer_id=stored.customer_id,
            interaction=stored,
        )


def _mark_undeliverable(kit: Omnikit, tx: StoreTransaction, item: OutboxItem, reason: str) -> None:
    identity_id = item.payload.get("identity")
    if not isinstance(identity_id, str):
        return
    identity = tx.get_identity(identity_id)
    if identity is None or identity.undeliverable:
        return
    tx.update_identity(
        identity.model_copy(
            update={"undeliverable_reason": reason[:500], "undeliverable_at": kit.now()}
        )
    )


class Webhooks:
    """Systems that receive omnikit's events as signed POSTs (``kit.webhooks``).

    Each event a subscription wants is written to the outbox in the same transaction
    as the change it reports, and delivered like any message: retried, dead-lettered,
    never lost. The POST carries the event as JSON, ``Idempotency-Key`` (the same on
    every retry), ``X-Omnikit-Event`` and the generic webhook's signature headers
    (``X-Omnikit-Timestamp``, ``X-Omnikit-Signature: v1=<HMAC-SHA256 of
    "timestamp.body">``), so an omnikit ``webhook`` adapter can verify it.
    """

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit
        self._cache: list[Subscription] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "<Webhooks>"

    def subscribe(self, url: str, *, events: Sequence[str], secret: str) -> Subscription:
        """Deliver ``events`` (types from ``omnikit.EVENT_TYPES``, or ``"*"``) to ``url``,
        signed with ``secret`` (at least 16 characters). Returns the subscription.

        Raises ``ValidationError`` for a URL that is not http(s), an unknown event
        type or a short secret.
        """
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValidationError(f"webhook url {url!r} must start with http:// or https://")
        try:
            httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as error:
            raise ValidationError(f"webhook url {url!r} is not a URL: {error}") from None
        if isinstance(events, str) or not isinstance(events, Sequence) or not events:
            raise ValidationError(f"events must be a non-empty list of event types, not {events!r}")
        for event_type in events:
            if event_type != "*" and event_type not in EVENT_TYPES:
                known = ", ".join(EVENT_TYPES)
                raise ValidationError(f"{event_type!r} is not an event type; use '*' or: {known}")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValidationError("webhook secret must be a string of at least 16 characters")
        subscription = Subscription(
            id=new_id(),
            url=url,
            events=tuple(dict.fromkeys(events)),
            created_at=self._kit.now(),
            secret=secret,
        )
        with self._kit.store.transaction(write=True) as tx:
            tx.insert_subscription(subscription)
        self._forget()
        return subscription

    def unsubscribe(self, subscription_id: str) -> None:
        """Stop delivering to a subscription (items already queued for it are dropped
        when their turn comes; workers in other processes notice within
        ``SUBSCRIPTION_REFRESH`` seconds). Raises ``NotFoundError`` for an unknown id."""
        subscription_id = _validate.object_id(subscription_id, "subscription")
        with self._kit.store.transaction(write=True) as tx:
            if not tx.delete_subscription(subscription_id):
                raise NotFoundError(f"no webhook subscription with id {subscription_id!r}")
        self._forget()

    def list(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        with self._kit.store.transaction() as tx:
            return tx.subscriptions()

    def _forget(self) -> None:
        # Stale, not gone: a write in flight in another thread keeps deciding with the
        # list it has (an empty one would drop its events); the next write reads again.
        with self._lock:
            self._read_at = float("-inf")

    def refresh(self) -> None:
        """Read the subscriptions again if this process's copy is older than
        ``SUBSCRIPTION_REFRESH`` seconds (each write calls this before it begins, so a
        subscription made in another process takes effect within that time)."""
        if self._cache is not None and time.monotonic() - self._read_at < SUBSCRIPTION_REFRESH:
            return
        with self._kit.store.transaction() as tx:
            cache = tx.subscriptions()
        with self._lock:
            self._cache, self._read_at = cache, time.monotonic()

    def _find(self, subscription_id: str) -> Subscription | None:
        """The subscription, from this process's copy; read again only when the copy
        is stale or lacks it (a subscription made in another process)."""
        self.refresh()
        found = next((s for s in self._cache or () if s.id == subscription_id), None)
        if found is None:
            self._forget()
            self.refresh()
            found = next((s for s in self._cache or () if s.id == subscription_id), None)
        return found

    def wants(self, event_type: str) -> bool:
        """True when some subscription (as last read) wants ``event_type``."""
        return any(event_type in s.events or "*" in s.events for s in self._cache or ())

    def persist(self, tx: StoreTransaction, events: Sequence[Event]) -> None:
        """Write an outbox item per subscription for each of ``events``, inside ``tx``."""
        if not events:
            return
        subscriptions = self._cache
        if not subscriptions:
            return
        now = self._kit.now()
        items = []
        for event in events:
            body: str | None = None
            for subscription in subscriptions:
                if event.type not in subscription.events and "*" not in subscription.events:
                    continue
                if body is None:
                    body = json.dumps(
                        event.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")
                    )
                items.append(
                    OutboxItem(
                        id=new_id(),
                        kind="webhook",
                        status=OutboxStatus.QUEUED,
                        channel=None,
                        adapter=None,
                        customer_id=None,
                        interaction_id=None,
                        notification_id=None,
                        purpose=None,
                        payload={
                            "subscription": subscription.id,
                            "url": subscription.url,
                            "event": event.type,
                            "body": body,
                        },
                        due_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
        if items:
            tx.insert_outbox(items)
