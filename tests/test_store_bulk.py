"""The store's bulk reads and writes (used by the importer), on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from omnikit import Omnikit
from omnikit._ids import new_id
from omnikit.model import Customer, Identity, IdentityKind


def _identity(customer_id: str, value: str, *, shared: bool = False) -> Identity:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return Identity(
        id=new_id(),
        customer_id=customer_id,
        kind=IdentityKind.EMAIL,
        value=value,
        raw=value,
        first_seen_at=at,
        last_seen_at=at,
        shared=shared,
    )


def test_bulk_inserts_and_lookups(kit: Omnikit) -> None:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    people = []
    for n in range(600):  # more than one chunk of 500
        customer_id = new_id()
        people.append(
            Customer(
                id=customer_id,
                name=f"Customer {n}" if n % 2 else None,
                language="nl" if n % 3 == 0 else None,
                identities=(_identity(customer_id, f"c{n}@example.nl"),),
                created_at=at,
                updated_at=at,
            )
        )
    with kit.store.transaction(write=True) as tx:
        tx.insert_customers(people)
        tx.insert_identities([_identity(people[0].id, "extra@example.nl")])
    jan = kit.record(
        customer=people[3].id, channel="sms", direction="inbound", kind="message", external_id="SM1"
    )
    with kit.store.transaction() as tx:
        values = [f"c{n}@example.nl" for n in range(0, 600, 1)] + ["extra@example.nl", "none@x.nl"]
        found = tx.find_identities_in("email", "", values)
        profiles = tx.customer_profiles([p.id for p in people] + ["unknown"])
        owners = tx.interaction_owners("sms", ["SM1", "SM2"])
    assert len(found) == 601
    assert {i.value: i.customer_id for i in found}["extra@example.nl"] == people[0].id
    assert len(profiles) == 600
    assert profiles[people[3].id] == ("Customer 3", "nl")
    assert profiles[people[2].id] == (None, None)
    assert owners == {"SM1": jan.customer_id}
    assert kit.customers.find(email="c599@example.nl") == kit.customers.get(people[599].id)
