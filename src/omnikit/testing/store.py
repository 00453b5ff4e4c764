"""The store conformance suite: every behaviour of the ``Store`` protocol, as tests.

Subclass ``StoreConformance`` and provide the ``open_store`` fixture (see
:mod:`omnikit.testing`). Set ``reopens_same_database = False`` for a store that
cannot be opened twice on one database (SQLite in memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.errors import ConflictError, OmnikitError
from omnikit.model import (
    Agent,
    Attachment,
    BusinessHours,
    Case,
    CaseEvent,
    CaseSla,
    CaseStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    Presence,
    Priority,
    Queue,
    QueueEntry,
    SlaPolicy,
    Work,
)
from omnikit.store import DuplicateKeyError, Store

__all__ = ["StoreConformance"]

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def customer(*identities: tuple[IdentityKind, str, str], name: str = "Jan") -> Customer:
    """A new customer holding identities given as ``(kind, scope, value)``."""
    customer_id = new_id()
    return Customer(
        id=customer_id,
        name=name,
        language="nl",
        attributes={"vip": True, "tier": 2},
        identities=tuple(
            Identity(
                id=new_id(),
                customer_id=customer_id,
                kind=kind,
                scope=scope or None,
                value=value,
                raw=value.upper(),
                source="manual",
                verified=True,
                first_seen_at=T0,
                last_seen_at=T0,
            )
            for kind, scope, value in identities
        ),
        created_at=T0,
        updated_at=T0,
    )


def interaction(
    customer_id: str,
    *,
    channel: str = "sms",
    external_id: str | None = None,
    at: datetime = T0,
    **fields: object,
) -> Interaction:
    """A new interaction of ``customer_id``."""
    return Interaction.model_validate(
        {
            "id": new_id(),
            "customer_id": customer_id,
            "channel": channel,
            "direction": Direction.INBOUND,
            "kind": "message",
            "occurred_at": at,
            "recorded_at": at,
            "external_id": external_id,
            **fields,
        }
    )


def case(customer_id: str, *, status: CaseStatus = CaseStatus.NEW, at: datetime = T0) -> Case:
    """A new case of ``customer_id`` at version 1."""
    return Case(
        id=new_id(),
        customer_id=customer_id,
        subject="Move delivery",
        status=status,
        priority=Priority.NORMAL,
        created_at=at,
        updated_at=at,
        version=1,
    )


class StoreConformance:
    """Every behaviour the ``Store`` protocol promises. Subclass it; see the module."""

    reopens_same_database = True

    @pytest.fixture
    def open_store(self) -> Callable[[], Store]:
        """Override: a function that opens a Store on this test's empty database."""
        raise NotImplementedError("subclasses provide the open_store fixture")

    @pytest.fixture
    def store(self, open_store: Callable[[], Store]) -> Iterator[Store]:
        opened = open_store()
        yield opened
        opened.close()

    # customers and identities ---------------------------------------------------------

    def test_customer_without_identities_round_trips(self, store: Store) -> None:
        loner = customer()
        with store.transaction(write=True) as tx:
            tx.insert_customer(loner)
        with store.transaction() as tx:
            assert tx.get_customer(loner.id) == loner

    def test_has_customers_once_one_is_stored(self, store: Store) -> None:
        with store.transaction() as tx:
            assert tx.has_customers() is False
        with store.transaction(write=True) as tx:
            tx.insert_customer(customer())
        with store.transaction() as tx:
            assert tx.has_customers() is True

    def test_customer_round_trips_with_identities(self, store: Store) -> None:
        jan = customer(
            (IdentityKind.EMAIL, "", "jan@example.nl"),
            (IdentityKind.HANDLE, "twitter", "janj"),
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        with store.transaction() as tx:
            assert tx.get_customer(jan.id) == jan
            assert tx.get_customer("missing") is None

    def test_find_identity_by_kind_scope_and_value(self, store: Store) -> None:
        jan = customer((IdentityKind.HANDLE, "twitter", "janj"))
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        with store.transaction() as tx:
            assert tx.find_identities("handle", "twitter", "janj") == list(jan.identities)
            assert tx.customer_by_identity("handle", "twitter", "janj") == jan
            assert tx.customer_by_identity("handle", "instagram", "janj") is None
            assert tx.find_identities("handle", "instagram", "janj") == []
            assert tx.find_identities("email", "", "janj") == []

    def test_one_identity_value_belongs_to_one_customer(self, store: Store) -> None:
        jan = customer((IdentityKind.PHONE, "", "+31201234567"))
        piet = customer((IdentityKind.PHONE, "", "+31201234567"), name="Piet")
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
        with pytest.raises(DuplicateKeyError), store.transaction(write=True) as tx:
            tx.insert_customer(piet)
        with store.transaction() as tx:
            assert tx.get_customer(piet.id) is None  # the whole transaction rolled back
            assert [i.customer_id for i in tx.find_identities("phone", "", "+31201234567")] == [
                jan.id
            ]

    def test_update_customer(self, store: Store) -> None:
        jan = customer((IdentityKind.EMAIL, "", "jan@example.nl"))
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.update_customer(jan.id, name="Jan Jansen", language="en", updated_at=1)
        with store.transaction() as tx:
            stored = tx.get_customer(jan.id)
        assert stored is not None
        assert (stored.name, stored.language) == ("Jan Jansen", "en")

    # transactions -------------------------------------------------------------------------

    def test_an_error_rolls_back_everything(self, store: Store) -> None:
        jan = customer((IdentityKind.EMAIL, "", "jan@example.nl"))
        with pytest.raises(RuntimeError), store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interaction(interaction(jan.id))
            raise RuntimeError("the caller failed half-way")
        with store.transaction() as tx:
            assert tx.get_customer(jan.id) is None
            assert tx.find_identities("email", "", "jan@example.nl") == []
            assert tx.timeline(jan.id) == []

    def test_committed_writes_are_visible_to_the_next_transaction(self, store: Store) -> None:
        jan = customer()
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interaction(interaction(jan.id, text="hello"))
        with store.transaction() as tx:
            assert [i.text for i in tx.timeline(jan.id)] == ["hello"]

    # interactions ---------------------------------------------------------------------------

    def test_interaction_round_trips_every_field(self, store: Store) -> None:
        jan = customer()
        full = interaction(
            jan.id,
            channel="whatsapp",
            external_id="wamid.1",
            direction=Direction.OUTBOUND,
            text="Hoi Jan 👋",
            subject="Order",
            attachments=(Attachment(name="a.jpg", content_type="image/jpeg", size=10),),
            agent="ann",
            purpose=("order_status", "delivery"),
            status=DeliveryStatus.READ,
            metadata={"conversation": "c-9", "n": [1, 2.5, None, True, {"x": "y"}]},
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            assert tx.insert_interaction(full)
        with store.transaction() as tx:
            assert tx.get_interaction(full.id) == full
            assert tx.interaction_by_external_id("whatsapp", "wamid.1") == full
            assert tx.get_interaction("missing") is None

    def test_external_id_is_recorded_once_per_channel(self, store: Store) -> None:
        jan = customer()
        first = interaction(jan.id, external_id="SM1", text="first")
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            assert tx.insert_interaction(first) is True
            assert tx.insert_interaction(interaction(jan.id, external_id="SM1")) is False
            assert tx.insert_interaction(interaction(jan.id, channel="email", external_id="SM1"))
        with store.transaction() as tx:
            assert tx.interaction_by_external_id("sms", "SM1") == first
            assert len(tx.timeline(jan.id)) == 2

    def test_interactions_without_external_id_never_collide(self, store: Store) -> None:
        jan = customer()
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            assert tx.insert_interactions([interaction(jan.id) for _ in range(3)]) == 3
            assert tx.insert_interaction(interaction(jan.id))
        with store.transaction() as tx:
            assert len(tx.timeline(jan.id)) == 4

    def test_batch_insert_counts_only_new_keys(self, store: Store) -> None:
        jan = customer()
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interaction(interaction(jan.id, external_id="k1"))
            batch = [interaction(jan.id, external_id=f"k{n}") for n in (1, 2, 3, 2)]
            assert tx.insert_interactions(batch) == 2
            assert tx.insert_interactions([]) == 0
        with store.transaction() as tx:
            assert sorted(i.external_id or "" for i in tx.timeline(jan.id)) == ["k1", "k2", "k3"]

    def test_interaction_of_unknown_customer_is_refused(self, store: Store) -> None:
        with pytest.raises(OmnikitError) as caught, store.transaction(write=True) as tx:
            tx.insert_interaction(interaction("no-such-customer"))
        assert not isinstance(caught.value, DuplicateKeyError)  # a missing row, not a clash

    def test_timeline_is_ordered_by_time_then_id(self, store: Store) -> None:
        jan, piet = customer(), customer(name="Piet")
        hours = [3, 0, 2, 2, 1]
        made = [interaction(jan.id, at=T0 + timedelta(hours=h)) for h in hours]
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_customer(piet)
            tx.insert_interactions(made)
            tx.insert_interaction(interaction(piet.id))
        expected = sorted(made, key=lambda i: (i.occurred_at, i.id))
        with store.transaction() as tx:
            assert tx.timeline(jan.id) == expected
            assert tx.recent_interactions(jan.id, 3) == expected[::-1][:3]
            assert tx.recent_interactions(jan.id, 100) == expected[::-1]

    def test_channel_summary_counts_and_last_contact(self, store: Store) -> None:
        jan = customer()
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interactions(
                [
                    interaction(jan.id, channel="email", at=T0),
                    interaction(jan.id, channel="email", at=T0 + timedelta(hours=5)),
                    interaction(jan.id, channel="phone", at=T0 + timedelta(hours=1)),
                ]
            )
        with store.transaction() as tx:
            summary = [(s.channel, s.count, s.last_contact) for s in tx.channel_summary(jan.id)]
        assert summary == [
            ("email", 2, T0 + timedelta(hours=5)),
            ("phone", 1, T0 + timedelta(hours=1)),
        ]

    def test_customer_activity_is_the_three_reads_at_once(self, store: Store) -> None:
        jan, piet = customer(), customer(name="Piet")
        made = [
            interaction(jan.id, channel=channel, at=T0 + timedelta(hours=hour))
            for hour, channel in enumerate(["sms", "email", "sms", "phone", "email"])
        ]
        waiting, closed = case(jan.id), case(jan.id, status=CaseStatus.CLOSED)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_customer(piet)
            tx.insert_interactions([*made, interaction(piet.id)])
            tx.insert_case(waiting)
            tx.insert_case(closed)
            tx.insert_case(case(piet.id))
        for recent, statuses in ((3, ["new", "open"]), (0, ["new"]), (10, [])):
            with store.transaction() as tx:
                one_by_one = (
                    tx.recent_interactions(jan.id, recent),
                    tx.list_cases(jan.id, statuses, 5),
                    tx.channel_summary(jan.id),
                )
            with store.transaction() as tx:  # the transaction's last reads
                assert tx.customer_activity(jan.id, recent, statuses, 5) == one_by_one
        with store.transaction() as tx:
            assert tx.get_customer(jan.id) == jan
            recent_, open_, channels = tx.customer_activity(jan.id, 2, ["new", "open"], 5)
        assert recent_ == made[::-1][:2]
        assert open_ == [waiting]
        assert [c.channel for c in channels] == ["email", "phone", "sms"]
        with store.transaction(write=True) as tx:  # in a write transaction too
            assert tx.customer_activity("missing", 5, ["new"], 5) == ([], [], [])
            tx.insert_case(case(piet.id))

    # cases ------------------------------------------------------------------------------------

    def test_case_round_trips_and_versions_guard_updates(self, store: Store) -> None:
        jan = customer()
        opened = case(jan.id)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_case(opened)
        changed = opened.model_copy(update={"status": CaseStatus.OPEN, "version": 2})
        stale = opened.model_copy(update={"status": CaseStatus.CLOSED, "version": 2})
        with store.transaction(write=True) as tx:
            assert tx.get_case(opened.id) == opened
            assert tx.update_case(changed) is True
            assert tx.update_case(stale) is False  # version 1 is no longer stored
        with store.transaction() as tx:
            assert tx.get_case(opened.id) == changed
            assert tx.get_case("missing") is None

    def test_list_cases_filters_and_orders_newest_first(self, store: Store) -> None:
        jan, piet = customer(), customer(name="Piet")
        a = case(jan.id, at=T0)
        b = case(jan.id, status=CaseStatus.CLOSED, at=T0 + timedelta(hours=1))
        c = case(piet.id, at=T0 + timedelta(hours=2))
        with store.transaction(write=True) as tx:
            for who in (jan, piet):
                tx.insert_customer(who)
            for made in (a, b, c):
                tx.insert_case(made)
        with store.transaction() as tx:
            assert tx.list_cases(None, None, 10) == [c, b, a]
            assert tx.list_cases(jan.id, None, 10) == [b, a]
            assert tx.list_cases(jan.id, ["new", "open"], 10) == [a]
            assert tx.list_cases(None, ["new"], 1) == [c]
            assert tx.list_cases(None, [], 10) == []

    def test_case_interactions_and_events(self, store: Store) -> None:
        jan = customer()
        opened = case(jan.id)
        call = interaction(jan.id, channel="phone")
        mail = interaction(jan.id, channel="email", at=T0 + timedelta(hours=1))
        events = [
            CaseEvent(
                id=new_id(),
                case_id=opened.id,
                at=T0 + timedelta(minutes=m),
                type=kind,
                actor="ann",
                before=None if m == 0 else {"status": "new"},
                after={"status": "open"},
                note="why",
            )
            for m, kind in ((0, "opened"), (5, "transitioned"))
        ]
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_case(opened)
            tx.insert_interactions([mail, call])
            tx.set_interaction_case(call.id, opened.id)
            tx.set_interaction_case(mail.id, opened.id)
            for event in reversed(events):
                tx.insert_case_event(event)
        with store.transaction() as tx:
            assert [i.id for i in tx.case_interactions(opened.id)] == [call.id, mail.id]
            assert tx.case_events(opened.id) == events

    # recognition ------------------------------------------------------------------------------

    def test_shared_values_may_have_several_holders(self, store: Store) -> None:
        jan = customer((IdentityKind.PHONE, "", "+31201234567"))
        marie = customer(name="Marie")
        line = jan.identities[0]
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_customer(marie)
            tx.update_identity(line.model_copy(update={"shared": True}))
            tx.insert_identity(
                line.model_copy(update={"id": new_id(), "customer_id": marie.id, "shared": True})
            )
        with store.transaction() as tx:
            holders = tx.find_identities("phone", "", "+31201234567")
            assert sorted(i.customer_id for i in holders) == sorted([jan.id, marie.id])
            assert all(i.shared for i in holders)
            assert tx.customer_by_identity("phone", "", "+31201234567") is None
        with pytest.raises(DuplicateKeyError), store.transaction(write=True) as tx:
            tx.insert_identity(line.model_copy(update={"id": new_id(), "shared": True}))

    def test_identity_update_and_delete(self, store: Store) -> None:
        jan = customer((IdentityKind.POSTAL, "", "DAMRAK 1 1012 AB AMSTERDAM, NL"))
        address = jan.identities[0]
        returned = address.model_copy(
            update={"undeliverable_reason": "returned to sender", "undeliverable_at": T0}
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.update_identity(returned)
        with store.transaction(write=True) as tx:
            assert tx.get_identity(address.id) == returned
            tx.delete_identity(address.id)
        with store.transaction() as tx:
            assert tx.get_identity(address.id) is None

    def test_merge_bookkeeping_moves_and_resolves(self, store: Store) -> None:
        from omnikit.model import Merge, MergeMoves

        keep = customer((IdentityKind.EMAIL, "", "jan@example.nl"))
        other = customer((IdentityKind.HANDLE, "twitter", "janj"), name="J")
        tweet = interaction(other.id, channel="twitter")
        opened = case(other.id)
        with store.transaction(write=True) as tx:
            tx.insert_customer(keep)
            tx.insert_customer(other)
            tx.insert_interaction(tweet)
            tx.insert_case(opened)
            owned = tx.owned_ids(other.id)
            assert owned == MergeMoves(
                identities=(other.identities[0].id,), interactions=(tweet.id,), cases=(opened.id,)
            )
            tx.move(owned, keep.id)
            tx.set_merged_into(other.id, keep.id)
            merge = Merge(
                id=new_id(), keep_id=keep.id, other_id=other.id, at=T0, reason="r", moved=owned
            )
            tx.insert_merge(merge)
        with store.transaction(write=True) as tx:
            assert tx.resolve_customer(other.id) == keep.id
            assert tx.resolve_customer(keep.id) == keep.id
            assert tx.resolve_customer("missing") is None
            assert tx.current_customer(other.id) == tx.get_customer(keep.id)
            assert tx.current_customer(keep.id) == tx.get_customer(keep.id)
            assert tx.current_customer("missing") is None
            assert tx.resolve_customers([other.id, keep.id, "missing", other.id]) == {
                other.id: keep.id,
                keep.id: keep.id,
            }
            assert tx.merged_into(other.id) == keep.id
            assert tx.merged_from(keep.id) == [other.id]
            assert tx.get_merge(merge.id) == merge
            assert tx.merges_of(other.id) == [merge]
            assert [i.id for i in tx.timeline(keep.id)] == [tweet.id]
            assert tx.customer_by_identity("handle", "twitter", "janj") == tx.get_customer(keep.id)
            tx.set_merge_undone(merge.id, 5, "lead")
        with store.transaction() as tx:
            undone = tx.get_merge(merge.id)
            assert undone is not None and undone.undone_by == "lead"

    def test_customer_events_and_erasure(self, store: Store) -> None:
        from omnikit.model import CustomerEvent

        jan = customer((IdentityKind.EMAIL, "", "jan@example.nl"))
        note = interaction(jan.id, text="private", subject="s", metadata={"a": 1})
        opened = case(jan.id)
        event = CustomerEvent(
            id=new_id(), customer_id=jan.id, at=T0, type="erased", reason="request", detail={}
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interaction(note)
            tx.insert_case(opened)
            tx.erase_customer(jan.id, 7)
            tx.insert_customer_event(event)
        with store.transaction() as tx:
            erased = tx.get_customer(jan.id)
            assert erased is not None
            assert (erased.name, erased.identities, erased.attributes) == (None, (), {})
            assert tx.erased_at(jan.id) is not None
            (kept,) = tx.timeline(jan.id)
            assert (kept.channel, kept.kind, kept.text, kept.subject, kept.metadata) == (
                note.channel,
                note.kind,
                None,
                None,
                {},
            )
            stored_case = tx.get_case(opened.id)
            assert stored_case is not None and stored_case.status is opened.status
            assert tx.customer_events(jan.id) == [event]
        store.purge()

    # schema --------------------------------------------------------------------------------------

    def test_reopening_keeps_data_and_schema(self, open_store: Callable[[], Store]) -> None:
        if not self.reopens_same_database:
            pytest.skip("this store cannot be opened twice on one database")
        jan = customer((IdentityKind.EMAIL, "", "jan@example.nl"))
        first = open_store()
        with first.transaction(write=True) as tx:
            tx.insert_customer(jan)
        first.close()
        again = open_store()
        try:
            with again.transaction() as tx:
                assert tx.get_customer(jan.id) == jan
        finally:
            again.close()

    # routing ----------------------------------------------------------------------------------

    def test_agent_settings_round_trip_replace_and_delete(self, store: Store) -> None:
        ann = Agent(
            id="ann",
            name="Ann de Vries",
            skills={"returns", "billing"},
            languages={"nl", "en-GB"},
            capacity={"phone": 1, "webchat": 3, "email": 0},
        )
        changed = Agent(id=ann.id, skills="returns", capacity={"webchat": 1}, presence="away")
        with store.transaction(write=True) as tx:
            tx.put_agent(ann, new_id(), 1)
            assert tx.get_agent(ann.id) == ann
        with store.transaction(write=True) as tx:
            tx.put_agent(changed, new_id(), 2)
        with store.transaction(write=True) as tx:
            stored = tx.get_agent(ann.id)
            assert stored == changed and stored.presence is Presence.AWAY
            assert tx.agents() == [(changed, 0)]
            assert tx.get_agent("nobody") is None
            assert tx.delete_agent(ann.id) is True
            assert tx.delete_agent(ann.id) is False
        with store.transaction() as tx:
            assert tx.get_agent(ann.id) is None
            assert tx.agents() == []

    def test_settings_changed_by_another_store_are_read_fresh(
        self, open_store: Callable[[], Store]
    ) -> None:
        if not self.reopens_same_database:
            pytest.skip("this store cannot be opened twice on one database")
        ann = Agent(id="ann", capacity={"webchat": 2})
        line = Queue(id="line", channels="webchat")
        first, second = open_store(), open_store()
        try:
            with first.transaction(write=True) as tx:
                tx.put_agent(ann, new_id(), 1)
                tx.put_queue(line, new_id(), 1)
            with second.transaction() as tx:  # the second store now knows these settings
                assert (tx.get_agent(ann.id), tx.get_queue(line.id)) == (ann, line)
            busier = Agent(id=ann.id, capacity={"webchat": 5})
            moved = Queue(id=line.id, channels="email", order=3)
            with first.transaction(write=True) as tx:
                tx.put_agent(busier, new_id(), 2)
                tx.put_queue(moved, new_id(), 2)
            with second.transaction() as tx:
                assert tx.get_agent(ann.id) == busier
                assert tx.agents() == [(busier, 0)]
                assert tx.get_queue(line.id) == moved
                assert tx.queues() == [moved]
        finally:
            first.close()
            second.close()

    def test_queue_settings_round_trip_with_hours_and_sla(self, store: Store) -> None:
        returns = Queue(
            id="returns",
            name="Returns NL",
            order=2,
            channels={"webchat", "email"},
            languages={"nl", "nl-BE"},
            purposes={"returns", "refund"},
            attributes={"vip": True, "tier": 2, "tags": ["gold", None], "ratio": 0.5},
            skills={"returns"},
            hours=BusinessHours(
                timezone="Europe/Amsterdam",
                weekly={"mon": ["09:00-12:00", "13:00-17:00"], "sat": ["10:00-14:00"]},
                holidays=["2026-04-27"],
            ),
            sla={
                Priority.HIGH: SlaPolicy(
                    first_response=timedelta(hours=1),
                    resolution=timedelta(days=2),
                    pause_when_pending=True,
                ),
                Priority.NORMAL: SlaPolicy(next_response=timedelta(minutes=90)),
            },
        )
        plain = Queue(id=returns.id)
        with store.transaction(write=True) as tx:
            tx.put_queue(returns, new_id(), 1)
        with store.transaction(write=True) as tx:
            stored = tx.get_queue(returns.id)
            assert stored == returns
            assert stored is not None and stored.hours == returns.hours
            assert stored.sla[Priority.HIGH].pause_when_pending is True
            tx.put_queue(plain, new_id(), 2)
        with store.transaction(write=True) as tx:
            assert tx.get_queue(returns.id) == plain
            assert tx.get_queue("nothing") is None
            assert tx.delete_queue(returns.id) is True
            assert tx.delete_queue(returns.id) is False
        with store.transaction() as tx:
            assert tx.get_queue(returns.id) is None
            assert tx.queues() == []

    def test_queues_come_in_order_then_id(self, store: Store) -> None:
        made = [
            Queue(id="b", order=1),
            Queue(id="a", order=1),
            Queue(id="c", order=0),
            Queue(id="d", order=-5),
        ]
        with store.transaction(write=True) as tx:
            for queue in made:
                tx.put_queue(queue, new_id(), 1)
            tx.put_queue(Queue(id="a", order=9), new_id(), 2)  # a new order moves it
        with store.transaction() as tx:
            assert [queue.id for queue in tx.queues()] == ["d", "c", "b", "a"]

    def test_agents_come_by_id_with_their_routed_seq(self, store: Store) -> None:
        cas, ann, bob = (Agent(id=name, capacity={"phone": 1}) for name in ("cas", "ann", "bob"))
        away = Agent(id=bob.id, capacity={"phone": 1}, presence="away")
        with store.transaction(write=True) as tx:
            for agent in (cas, ann, bob):
                tx.put_agent(agent, new_id(), 1)
        with store.transaction(write=True) as tx:
            assert tx.agents() == [
                (ann, 0),
                (bob, 0),
                (cas, 0),
            ]
            tx.touch_agent(bob.id, 7)
            tx.touch_agent(ann.id, 3)
        with store.transaction(write=True) as tx:
            tx.put_agent(away, new_id(), 2)  # new settings keep the routing history
        with store.transaction() as tx:
            assert tx.agents() == [
                (ann, 3),
                (away, 7),
                (cas, 0),
            ]

    def test_work_is_counted_per_agent_and_channel(self, store: Store) -> None:
        jan = customer()
        first, second, third = (case(jan.id) for _ in range(3))
        call = interaction(jan.id, channel="phone")
        ann = Agent(id="ann", capacity={"webchat": 3, "phone": 1})
        bob = Agent(id="bob", capacity={"webchat": 3})

        def work(agent: Agent, channel: str, minutes: int, **contact: str) -> Work:
            at = T0 + timedelta(minutes=minutes)
            return Work(id=new_id(), agent_id=agent.id, channel=channel, started_at=at, **contact)

        late = work(ann, "webchat", 2, case_id=first.id)
        early = work(ann, "webchat", 0, case_id=second.id)
        phone = work(ann, "phone", 1, interaction_id=call.id)
        bobs = work(bob, "webchat", 0, case_id=third.id)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_interaction(call)
            for made in (first, second, third):
                tx.insert_case(made)
            tx.put_agent(ann, new_id(), 1)
            tx.put_agent(bob, new_id(), 1)
            for held in (late, early, phone, bobs):
                tx.insert_work(held)
        with store.transaction(write=True) as tx:
            assert tx.agent_loads("webchat") == {ann.id: 2, bob.id: 1}
            assert tx.agent_loads("phone") == {ann.id: 1}
            assert tx.agent_loads("sms") == {}
            assert tx.count_work(ann.id, "webchat") == 2
            assert tx.count_work(bob.id, "phone") == 0
            assert tx.count_work("nobody", "webchat") == 0
            assert tx.work_for(first.id, None) == late
            assert tx.work_for(None, call.id) == phone
            assert tx.work_for("missing", None) is None
            assert tx.work_for(None, "missing") is None
            assert tx.work_of(ann.id) == [early, phone, late]
            assert tx.work_of("nobody") == []
            tx.delete_work(early.id)
        with store.transaction() as tx:
            assert tx.count_work(ann.id, "webchat") == 1
            assert tx.agent_loads("webchat") == {ann.id: 1, bob.id: 1}
            assert tx.work_for(second.id, None) is None
            assert tx.work_of(ann.id) == [phone, late]

    def test_a_contact_is_held_by_one_agent_at_a_time(self, store: Store) -> None:
        jan = customer()
        opened = case(jan.id)
        call = interaction(jan.id, channel="phone")
        ann = Agent(id="ann", capacity={"webchat": 3, "phone": 3})
        bob = Agent(id="bob", capacity={"webchat": 3, "phone": 3})
        held = Work(
            id=new_id(), agent_id=ann.id, channel="webchat", case_id=opened.id, started_at=T0
        )
        on_call = Work(
            id=new_id(), agent_id=ann.id, channel="phone", interaction_id=call.id, started_at=T0
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_case(opened)
            tx.insert_interaction(call)
            tx.put_agent(ann, new_id(), 1)
            tx.put_agent(bob, new_id(), 1)
            tx.insert_work(held)
            tx.insert_work(on_call)
        for again in (
            held.model_copy(update={"id": new_id(), "agent_id": bob.id}),
            on_call.model_copy(update={"id": new_id(), "agent_id": bob.id}),
        ):
            with pytest.raises(DuplicateKeyError) as caught, store.transaction(write=True) as tx:
                tx.insert_work(again)
            assert isinstance(caught.value, ConflictError)
        with store.transaction() as tx:
            assert tx.work_for(opened.id, None) == held
            assert tx.work_for(None, call.id) == on_call
            assert tx.work_of(bob.id) == []

    def test_enqueue_replaces_the_contacts_entry(self, store: Store) -> None:
        jan = customer()
        opened = case(jan.id)
        chat = interaction(jan.id, channel="webchat")
        first, second = Queue(id="first"), Queue(id="second")

        def entry(queue: Queue, **contact: str) -> QueueEntry:
            return QueueEntry(
                id=new_id(), queue_id=queue.id, channel="webchat", rank=1, enqueued_at=T0, **contact
            )

        waiting = entry(first, case_id=opened.id)
        moved = entry(second, case_id=opened.id)
        chatting = entry(first, interaction_id=chat.id)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_case(opened)
            tx.insert_interaction(chat)
            tx.put_queue(first, new_id(), 1)
            tx.put_queue(second, new_id(), 1)
            tx.enqueue(waiting)
            tx.enqueue(chatting)
            assert tx.queued_for(opened.id, None) == waiting
        with store.transaction(write=True) as tx:
            tx.enqueue(moved)
        with store.transaction(write=True) as tx:
            assert tx.queued_for(opened.id, None) == moved
            assert tx.queued_for(None, chat.id) == chatting
            assert tx.queue_entries(first.id) == [chatting]
            assert tx.queue_entries(second.id) == [moved]
            assert tx.queued_for("missing", None) is None
            tx.dequeue(moved.id)
        with store.transaction() as tx:
            assert tx.queued_for(opened.id, None) is None
            assert tx.queue_entries(second.id) == []

    def test_queue_entries_come_by_rank_then_arrival(self, store: Store) -> None:
        jan = customer()
        cases = [case(jan.id) for _ in range(7)]
        line, other = Queue(id="line"), Queue(id="other")
        plan = [(1, 1), (3, 3), (1, 0), (0, 0), (3, 4), (1, 1)]  # (rank, minutes)
        entries = [
            QueueEntry(
                id=new_id(),
                queue_id=line.id,
                channel="email",
                case_id=made.id,
                rank=rank,
                enqueued_at=T0 + timedelta(minutes=minutes),
            )
            for made, (rank, minutes) in zip(cases[:-1], plan, strict=True)
        ]
        elsewhere = QueueEntry(
            id=new_id(),
            queue_id=other.id,
            channel="email",
            case_id=cases[-1].id,
            rank=3,
            enqueued_at=T0 - timedelta(hours=1),
        )
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            for made in cases:
                tx.insert_case(made)
            tx.put_queue(line, new_id(), 1)
            tx.put_queue(other, new_id(), 1)
            for waiting in [*entries[::-1], elsewhere]:
                tx.enqueue(waiting)
        by_rank = sorted(entries, key=lambda e: (-e.rank, e.enqueued_at))
        with store.transaction(write=True) as tx:
            listed = tx.queue_entries(line.id)
            assert [(e.rank, e.enqueued_at) for e in listed] == [
                (e.rank, e.enqueued_at) for e in by_rank
            ]
            assert sorted(e.id for e in listed) == sorted(e.id for e in entries)
            assert [tx.queue_position(e) for e in listed] == [1, 2, 3, 4, 5, 6]
            assert tx.queue_entries(other.id) == [elsewhere]
            assert tx.queue_position(elsewhere) == 1
            tx.dequeue(listed[0].id)
        with store.transaction() as tx:
            assert tx.queue_entries(line.id) == listed[1:]
            assert [tx.queue_position(e) for e in listed[1:]] == [1, 2, 3, 4, 5]

    def test_cases_due_come_earliest_first_and_open_only(self, store: Store) -> None:
        jan = customer()

        def due(status: CaseStatus = CaseStatus.OPEN, **times: timedelta) -> Case:
            sla = CaseSla(queue="q", **{name: T0 + delta for name, delta in times.items()})
            return case(jan.id, status=status).model_copy(update={"sla": sla})

        both = due(first_response_due=timedelta(hours=2), resolution_due=timedelta(days=1))
        soon = due(resolution_due=timedelta(hours=1))
        later = due(first_response_due=timedelta(hours=30))
        closed = due(CaseStatus.CLOSED, resolution_due=timedelta(0))
        pending = due(CaseStatus.PENDING, next_response_due=timedelta(minutes=90))
        paused = case(jan.id).model_copy(update={"sla": CaseSla(queue="q", paused_at=T0)})
        without = case(jan.id)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            for made in (both, soon, later, closed, pending, paused, without):
                tx.insert_case(made)
        with store.transaction() as tx:
            assert tx.cases_due(to_micros(T0 + timedelta(hours=3)), 10) == [soon, pending, both]
            assert tx.cases_due(to_micros(T0 + timedelta(hours=1)), 10) == [soon]
            assert tx.cases_due(to_micros(T0 + timedelta(hours=3)), 2) == [soon, pending]
            assert tx.cases_due(to_micros(T0 + timedelta(days=2)), 10) == [
                soon,
                pending,
                both,
                later,
            ]
            assert tx.cases_due(to_micros(T0), 10) == []
        resolved = soon.model_copy(update={"status": CaseStatus.RESOLVED, "version": 2})
        with store.transaction(write=True) as tx:
            assert tx.update_case(resolved)
        with store.transaction() as tx:
            assert tx.cases_due(to_micros(T0 + timedelta(hours=3)), 10) == [pending, both]

    def test_previous_assignee_is_of_the_latest_changed_other_case(self, store: Store) -> None:
        jan, piet = customer(), customer(name="Piet")

        def assigned(who: Customer, assignee: str | None, hours: int) -> Case:
            at = T0 + timedelta(hours=hours)
            return case(who.id).model_copy(update={"assignee": assignee, "updated_at": at})

        anns = assigned(jan, "ann", 1)
        bobs = assigned(jan, "bob", 2)
        nobodys = assigned(jan, None, 3)
        cas = assigned(piet, "cas", 4)
        with store.transaction(write=True) as tx:
            tx.insert_customer(jan)
            tx.insert_customer(piet)
            for made in (bobs, anns, nobodys, cas):
                tx.insert_case(made)
        with store.transaction(write=True) as tx:
            assert tx.previous_assignee(jan.id, None) == "bob"
            assert tx.previous_assignee(jan.id, bobs.id) == "ann"
            assert tx.previous_assignee(jan.id, nobodys.id) == "bob"
            assert tx.previous_assignee(piet.id, cas.id) is None
            assert tx.previous_assignee(piet.id, None) == "cas"
            assert tx.previous_assignee("missing", None) is None
            later = anns.model_copy(update={"updated_at": T0 + timedelta(hours=5), "version": 2})
            assert tx.update_case(later)
        with store.transaction() as tx:
            assert tx.previous_assignee(jan.id, None) == "ann"
            assert tx.previous_assignee(jan.id, anns.id) == "bob"
