"""The outbox worker's marking: what a sent item leaves in the store and in events.

Runs on SQLite file, SQLite memory and PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

from omnikit import DeliveryStatus, Event, Message, Omnikit

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def okit(store_url: str) -> Iterator[Omnikit]:
    kit = Omnikit(store_url)
    kit.adapters.use(
        "webhook", secret=SECRET, channel="app", name="app", outbound_url="http://push.test/send"
    )
    yield kit
    kit.close()


def answering(ids: Iterator[str]) -> httpx.Client:
    """A provider that answers each send with the next id of ``ids``."""
    return httpx.Client(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json={"id": next(ids)}))
    )


def queue(kit: Omnikit, customers: int) -> list[str]:
    """One queued app message to each of ``customers`` new customers; their ids."""
    ids = []
    for k in range(customers):
        customer = kit.customers.identify(external_ids={"app": f"user-{k}"})
        kit.notify(customer, Message(body="Hi {{ k }}"), purpose="service", data={"k": k})
        ids.append(customer.id)
    return ids


def test_the_updated_event_carries_what_was_stored(okit: Omnikit) -> None:
    seen: list[Event] = []
    okit.on("interaction.updated", seen.append)
    queue(okit, 3)
    # the second answer repeats the first id: it is kept in metadata, not as external id
    result = okit.outbox.run_once(client=answering(iter(["p-1", "p-1", "p-2"])))
    assert (result.claimed, result.sent) == (3, 3)
    assert len(seen) == 3
    with okit.store.transaction() as tx:
        stored = [tx.get_interaction(event.interaction.id) for event in seen]  # type: ignore[union-attr]
    assert [event.interaction for event in seen] == stored
    assert [(i.status, i.external_id) for i in stored if i] == [
        (DeliveryStatus.SENT, "p-1"),
        (DeliveryStatus.SENT, None),
        (DeliveryStatus.SENT, "p-2"),
    ]
    assert stored[1] is not None and stored[1].metadata["provider_id"] == "p-1"


def test_every_sent_item_is_marked_with_its_interaction(okit: Omnikit) -> None:
    customers = queue(okit, 25)
    ids = (f"p-{n}" for n in itertools.count())
    result = okit.outbox.run_once(limit=100, client=answering(ids))
    assert (result.claimed, result.sent, result.lost) == (25, 25, 0)
    assert okit.outbox.pending() == []
    for customer in customers:
        [step] = okit.journey(customer).steps
        assert step.status is DeliveryStatus.SENT and step.external_id is not None
        item = okit.outbox.get(str(step.metadata["outbox_id"]))
        assert (item.status.value, item.external_id) == ("sent", step.external_id)
