"""Recognition under pressure: merges undone to the byte, caller ID fuzzed, bad input refused.

Every test runs on each store backend (``sqlite-file``, ``sqlite-memory``,
``postgresql``). The property tests build a fresh, empty store for every example:
hypothesis does not reset function-scoped fixtures between examples.

- A merge followed by its unmerge gives both customers back exactly what they had: the
  export of each is equal to the one taken before, except the audit sections
  (``history`` and ``merges``), which grow by the merge and the unmerge.
- Old ids keep working after a merge, through chains of merges.
- Every bad call raises its own ``OmnikitError`` subclass and writes nothing.
- ``kit.caller_id`` never raises, and never names a customer who does not hold the
  number.
- ``merge_policy="verified"`` merges customers whose verified identities are used
  together; anything less stays an ``AmbiguousIdentityError``.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from omnikit import (
    BUILTIN_CHANNELS,
    TRANSITIONS,
    AmbiguousIdentityError,
    CaseStatus,
    ConflictError,
    Customer,
    Identity,
    IdentityKind,
    InvalidIdentityError,
    NotFoundError,
    Omnikit,
    OmnikitError,
    UnknownChannelError,
    ValidationError,
    normalize_phone,
)
from tests.conftest import empty_postgres

# fresh stores and snapshots ---------------------------------------------------------------


@dataclass
class Stores:
    """Fresh, empty stores of one backend, one per hypothesis example."""

    backend: str
    url: str
    directory: Path
    counter: Iterator[int]

    def examples(self, sqlite: int, postgresql: int) -> int:
        """How many examples a property test runs on this backend."""
        return postgresql if self.backend == "postgresql" else sqlite

    @contextmanager
    def fresh(self, **options: Any) -> Iterator[Omnikit]:
        """A kit (reading Dutch national numbers) on a new, empty store."""
        if self.backend == "postgresql":
            empty_postgres(self.url)
            url = self.url
        elif self.backend == "sqlite-file":
            url = f"sqlite:///{self.directory / f'example-{next(self.counter)}.db'}"
        else:
            url = "sqlite:///:memory:"
        with Omnikit(url, default_region="NL", **options) as kit:
            yield kit


@pytest.fixture
def stores(backend: str, store_url: str, tmp_path: Path) -> Stores:
    return Stores(backend, store_url, tmp_path, itertools.count())


_LIST_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}

Rows = dict[str, list[tuple[Any, ...]]]


class Snapshots:
    """Every row of every table of the kit's store.

    Read on a separate connection where one can see the store (an SQLite file,
    PostgreSQL): what is committed. For SQLite in memory, read on the kit's own one
    connection, which must then have no transaction open.
    """

    def __init__(self, kit: Omnikit, url: str) -> None:
        parsed = make_url(url)
        self._dialect = parsed.get_backend_name()
        self._own = True
        if self._dialect == "postgresql":
            self._engine: Engine = create_engine(parsed.set(drivername="postgresql+psycopg"))
        elif parsed.database in (None, "", ":memory:"):
            self._engine = kit.store._engine  # type: ignore[attr-defined]
            self._own = False
        else:
            self._engine = create_engine(parsed)

    def take(self) -> Rows:
        connection = self._engine.raw_connection()
        try:
            if not self._own:
                assert not connection.driver_connection.in_transaction, (
                    "the kit left a transaction open"
                )
            cursor = connection.cursor()
            cursor.execute(_LIST_TABLES[self._dialect])
            rows: Rows = {}
            for (table,) in sorted(cursor.fetchall()):
                cursor.execute(f'SELECT * FROM "{table}" WHERE 1 = 0')
                every = ", ".join(str(n + 1) for n in range(len(cursor.description)))
                cursor.execute(f'SELECT * FROM "{table}" ORDER BY {every}')
                rows[table] = [tuple(row) for row in cursor.fetchall()]
            cursor.close()
            assert {"customers", "identities", "merges", "customer_events"} <= set(rows)
            return rows
        finally:
            connection.close()

    def close(self) -> None:
        if self._own:
            self._engine.dispose()


@contextmanager
def snapshots(kit: Omnikit, url: str) -> Iterator[Snapshots]:
    state = Snapshots(kit, url)
    try:
        yield state
    finally:
        state.close()


def rejects(
    state: Snapshots, error_type: type[OmnikitError], call: Callable[[], object]
) -> OmnikitError:
    """``call`` raises exactly ``error_type`` and leaves every row as it was."""
    before = state.take()
    with pytest.raises(OmnikitError) as info:
        call()
    assert type(info.value) is error_type, f"expected {error_type.__name__}, got {info.value!r}"
    assert state.take() == before, f"{info.value!r} was raised, but the store changed"
    return info.value


# what a world of customers looks like ---------------------------------------------------------

KINDS = ("phone", "email", "handles", "external_ids", "address")
CHANNELS = tuple(channel.id for channel in BUILTIN_CHANNELS)
WORD = st.text(string.ascii_lowercase, min_size=1, max_size=8)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
REASON = st.text(string.ascii_letters + string.digits + " .,!?-'", min_size=1, max_size=60).filter(
    str.strip
)
ACTOR = st.none() | st.sampled_from(["agent-7", "Ann de Vries", "ops"])
MOMENT = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
SHARED_HOLDERS = st.sampled_from([(), (0, 1), (1, 0), (0, 2), (2, 1), (0, 1, 2), (2, 0, 1)])
"""Who holds the shared number, in the order they get it: none, or two or three of
the customers (0 and 1 are merged, 2 stands by)."""


@st.composite
def identifiers(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """Random identifiers of customer ``index``; ``index`` keeps them unique."""
    postcode = f"{draw(st.integers(1000, 9999))}{draw(st.sampled_from(['AB', ' cd', ' XZ']))}"
    street = draw(st.sampled_from(["Damrak", "Kalverstraat", "Coolsingel", "Ulica Długa"]))
    return {
        "phone": f"+3120{index}{draw(st.integers(0, 999_999)):06d}",
        "email": f"{draw(WORD)}{index}@{draw(st.sampled_from(['example.nl', 'Example.COM']))}",
        "handles": {
            channel: f"@{draw(WORD)}_{index}"
            for channel in draw(st.sets(st.sampled_from(["twitter", "instagram"]), min_size=1))
        },
        "external_ids": {"webshop": f"C-{draw(st.integers(1, 99_999))}-{index}"},
        "address": f"{street} {draw(st.integers(1, 99))}{index}, {postcode} Amsterdam",
    }


@dataclass(frozen=True)
class Person:
    first: dict[str, Any]
    """``identify``'s identifiers."""
    later: dict[str, Any]
    """Identifiers given with ``add_identity`` afterwards (maybe none)."""
    verified: bool
    name: str | None


@st.composite
def people(draw: st.DrawFn, index: int) -> Person:
    values = draw(identifiers(index))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True))
    split = draw(st.integers(1, len(kinds)))
    return Person(
        first={kind: values[kind] for kind in kinds[:split]},
        later={kind: values[kind] for kind in kinds[split:]},
        verified=draw(st.booleans()),
        name=draw(st.none() | st.sampled_from(["Jan", "Ola", "Zoë"])),
    )


@dataclass(frozen=True)
class CaseSpec:
    owner: int
    subject: str
    path: tuple[CaseStatus, ...]
    assignee: str | None


@st.composite
def case_specs(draw: st.DrawFn) -> CaseSpec:
    path: list[CaseStatus] = []
    status = CaseStatus.NEW
    for _ in range(draw(st.integers(0, 3))):
        status = draw(st.sampled_from(sorted(TRANSITIONS[status])))
        path.append(status)
    return CaseSpec(
        owner=draw(st.integers(0, 2)),
        subject=draw(st.sampled_from(["Parcel late", "Wrong size", "Refund"])),
        path=tuple(path),
        assignee=draw(st.none() | st.sampled_from(["piet", "ann"])),
    )


@dataclass(frozen=True)
class InteractionSpec:
    owner: int
    channel: str
    direction: str
    kind: str
    text: str | None
    occurred_at: datetime
    external: bool
    case: int | None


INTERACTIONS = st.builds(
    InteractionSpec,
    owner=st.integers(0, 2),
    channel=st.sampled_from(CHANNELS),
    direction=st.sampled_from(["inbound", "outbound", "internal"]),
    kind=st.sampled_from(["message", "call", "note", "visit", "order"]),
    text=st.none() | TEXT,
    occurred_at=MOMENT,
    external=st.booleans(),
    case=st.none() | st.integers(0, 3),
)


@dataclass(frozen=True)
class World:
    people: tuple[Person, Person, Person]
    shared_phone: str
    shared_holders: tuple[int, ...]
    cases: tuple[CaseSpec, ...]
    interactions: tuple[InteractionSpec, ...]
    keep_first: bool
    reason: str
    actor: str | None
    unmerge_actor: str | None
    unmerge_reason: str | None


WORLDS = st.builds(
    World,
    people=st.tuples(people(0), people(1), people(2)),
    shared_phone=st.integers(0, 999_999).map(lambda n: f"020 9{n:06d}"),
    shared_holders=SHARED_HOLDERS,
    cases=st.lists(case_specs(), max_size=4).map(tuple),
    interactions=st.lists(INTERACTIONS, max_size=8).map(tuple),
    keep_first=st.booleans(),
    reason=REASON,
    actor=ACTOR,
    unmerge_actor=ACTOR,
    unmerge_reason=st.none() | REASON,
)


def build(kit: Omnikit, world: World) -> list[str]:
    """Store the world; return the ids of customers 0, 1 and 2."""
    ids = []
    for person in world.people:
        customer = kit.customers.identify(**person.first, name=person.name)
        if person.later:
            kit.customers.add_identity(
                customer.id, **person.later, verified=person.verified, source="manual"
            )
        ids.append(customer.id)
    for position, holder in enumerate(world.shared_holders):
        # the first holder alone; the second marks it shared; a third joins a shared value
        kit.customers.add_identity(ids[holder], phone=world.shared_phone, shared=position == 1)
    cases: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for spec in world.cases:
        case = kit.cases.open(customer=ids[spec.owner], subject=spec.subject, actor="builder")
        for status in spec.path:
            kit.cases.transition(case.id, status, note=f"to {status}", actor="builder")
        if spec.assignee:
            kit.cases.assign(case.id, spec.assignee)
        cases[spec.owner].append(case.id)
    for n, item in enumerate(world.interactions):
        owned = cases[item.owner]
        kit.record(
            customer=ids[item.owner],
            channel=item.channel,
            direction=item.direction,  # type: ignore[arg-type]
            kind=item.kind,
            text=item.text,
            occurred_at=item.occurred_at,
            external_id=f"ext-{n}" if item.external else None,
            case=owned[item.case % len(owned)] if item.case is not None and owned else None,
            metadata={"n": n},
        )
    return ids


def key(identity: dict[str, Any]) -> tuple[str, str | None, str]:
    return identity["kind"], identity["scope"], identity["value"]


def lookup(identity: dict[str, Any] | Identity) -> dict[str, Any]:
    """``find``'s keyword arguments for one (exported) identity, as first written."""
    data = identity.model_dump(mode="json") if isinstance(identity, Identity) else identity
    kind, scope, raw = data["kind"], data["scope"], data["raw"]
    return {
        "phone": {"phone": raw},
        "email": {"email": raw},
        "handle": {"handles": {scope: raw}},
        "external": {"external_ids": {scope: raw}},
        "postal": {"address": raw},
    }[kind]


def phones(customer: Customer) -> list[str]:
    return customer.values(IdentityKind.PHONE)


# 1. merge, unmerge: both exports as before ------------------------------------------------------

RESTORED = ("customer", "interactions", "cases", "merged_from", "erased_at")
"""The export sections an unmerge gives back exactly; ``history`` and ``merges`` grow."""


def test_merge_then_unmerge_restores_both_exports(stores: Stores) -> None:
    @settings(max_examples=stores.examples(sqlite=60, postgresql=40), deadline=None)
    @given(world=WORLDS)
    def check(world: World) -> None:
        with stores.fresh() as kit:
            check_merge_round_trip(kit, world)

    check()


def check_merge_round_trip(kit: Omnikit, world: World) -> None:
    ids = build(kit, world)
    keep, other = (ids[0], ids[1]) if world.keep_first else (ids[1], ids[0])
    bystander = ids[2]
    before = {customer: kit.customers.export(customer) for customer in ids}
    interactions = {c: {i["id"] for i in before[c]["interactions"]} for c in ids}
    kept_keys = {key(i) for i in before[keep]["customer"]["identities"]}
    other_identities = before[other]["customer"]["identities"]

    merge = kit.customers.merge(keep, other, reason=world.reason, actor=world.actor)

    assert (merge.keep_id, merge.other_id, merge.undone_at) == (keep, other, None)
    assert (merge.actor, merge.reason) == (world.actor, world.reason.strip())
    assert set(merge.moved.interactions) == interactions[other]
    assert set(merge.moved.cases) == {case["id"] for case in before[other]["cases"]}
    assert set(merge.moved.identities) == {
        i["id"] for i in other_identities if key(i) not in kept_keys
    }
    # the old id leads to the survivor everywhere
    survivor = kit.customers.get(other)
    assert survivor.id == keep
    assert kit.customer_card(other).customer.id == keep
    assert kit.customers.export(other)["customer"]["id"] == keep
    assert kit.customers.export(keep)["merged_from"] == [other]
    steps = kit.journey(keep).steps
    assert {step.id for step in steps} == interactions[keep] | interactions[other]
    assert [(s.occurred_at, s.id) for s in steps] == sorted((s.occurred_at, s.id) for s in steps)
    assert {(c.id, c.customer_id) for c in kit.cases.list(customer=keep, limit=100)} == {
        (case["id"], keep) for case in before[keep]["cases"] + before[other]["cases"]
    }
    # every identifier of both leads to the survivor (a shared value may too, but need not)
    survivor_keys = {(i.kind.value, i.scope, i.value) for i in survivor.identities}
    for identity in before[keep]["customer"]["identities"] + other_identities:
        assert key(identity) in survivor_keys
        if not identity["shared"]:
            found = kit.customers.find(**lookup(identity))
            assert found is not None and found.id == keep, identity
            if identity["kind"] == "phone":
                match = kit.caller_id(identity["value"])
                assert match.status == "known" and match.customer is not None
                assert match.customer.id == keep
    assert kit.customers.export(bystander) == before[bystander]

    undone = kit.customers.unmerge(merge.id, actor=world.unmerge_actor, reason=world.unmerge_reason)

    assert undone.id == merge.id and undone.undone_at is not None
    assert undone.undone_by == world.unmerge_actor
    after = {customer: kit.customers.export(customer) for customer in ids}
    assert after[bystander] == before[bystander]
    for customer in (keep, other):
        for section in RESTORED:
            assert after[customer][section] == before[customer][section], (customer, section)
        old = len(before[customer]["history"])
        assert after[customer]["history"][:old] == before[customer]["history"]
        merged, unmerged = after[customer]["history"][old:]
        assert merged["customer_id"] == unmerged["customer_id"] == customer
        assert (merged["type"], merged["actor"], merged["reason"]) == (
            "merged",
            world.actor,
            world.reason.strip(),
        )
        assert merged["detail"] == {
            "merge": merge.id,
            "keep": keep,
            "other": other,
            "identities": len(merge.moved.identities),
            "interactions": len(merge.moved.interactions),
            "cases": len(merge.moved.cases),
        }
        assert (unmerged["type"], unmerged["actor"], unmerged["reason"]) == (
            "unmerged",
            world.unmerge_actor,
            world.unmerge_reason,
        )
        assert unmerged["detail"] == {"merge": merge.id, "keep": keep, "other": other}
        assert after[customer]["merges"] == [
            *before[customer]["merges"],
            undone.model_dump(mode="json"),
        ]
    # and each is found again by their own identifiers
    assert kit.customers.get(other).id == other
    for customer in (keep, other):
        for identity in before[customer]["customer"]["identities"]:
            if not identity["shared"]:
                found = kit.customers.find(**lookup(identity))
                assert found is not None and found.id == customer, identity
        steps = kit.journey(customer).steps
        assert [s.model_dump(mode="json") for s in steps] == before[customer]["interactions"]


# 2. chains of merges, and what happens to records made through an old id --------------------


def _customers(kit: Omnikit) -> tuple[Customer, Customer, Customer]:
    a = kit.customers.identify(email="a@example.nl", phone="020 111 1111", name="A")
    b = kit.customers.identify(email="b@example.nl", handles={"twitter": "@bee"})
    c = kit.customers.identify(external_ids={"webshop": "C-3"})
    return a, b, c


def test_old_id_after_a_merge_chain_leads_to_the_survivor(kit: Omnikit) -> None:
    a, b, c = _customers(kit)
    first = kit.record(
        customer=a.id, channel="email", direction="inbound", kind="message", external_id="m-1"
    )
    case = kit.cases.open(customer=a.id, subject="Parcel late", interaction=first.id)
    on_b = kit.record(customer=b.id, channel="twitter", direction="inbound", kind="message")

    a_into_b = kit.customers.merge(b.id, a.id, reason="same person", actor="agent-7")
    assert a_into_b.moved.interactions == (first.id,) and a_into_b.moved.cases == (case.id,)

    # recording through A's id lands on B; the same external id again is the same record
    later = kit.record(customer=a.id, channel="sms", direction="inbound", kind="message")
    assert later.customer_id == b.id
    again = kit.record(
        customer=a.id, channel="email", direction="inbound", kind="message", external_id="m-1"
    )
    assert again == kit.record(
        customer=b.id, channel="email", direction="inbound", kind="message", external_id="m-1"
    )
    assert again.id == first.id and again.customer_id == b.id
    card = kit.customer_card(a.id)
    assert card.customer.id == b.id
    assert {i.id for i in card.recent} == {first.id, on_b.id, later.id}
    assert [open_case.id for open_case in card.open_cases] == [case.id]
    assert kit.caller_id("020 111 1111").customer.id == b.id  # type: ignore[union-attr]
    # an identity added through A's id goes to B
    kit.customers.add_identity(a.id, email="a.work@example.nl")
    assert kit.customers.find(email="a.work@example.nl").id == b.id  # type: ignore[union-attr]

    # B in turn goes into C: A's id now leads to C
    b_into_c = kit.customers.merge(c.id, b.id, reason="same household account")
    assert set(b_into_c.moved.interactions) == {first.id, on_b.id, later.id}
    assert kit.customers.get(a.id).id == c.id
    assert kit.customer_card(a.id).customer.id == c.id
    assert (
        kit.record(customer=a.id, channel="store", direction="inbound", kind="visit").customer_id
        == c.id
    )
    assert kit.customers.find(email="a@example.nl").id == c.id  # type: ignore[union-attr]
    assert kit.customers.export(a.id)["customer"]["id"] == c.id

    # the older merge cannot be undone while its survivor is merged on
    with pytest.raises(ConflictError, match="undo that merge first"):
        kit.customers.unmerge(a_into_b.id)
    kit.customers.unmerge(b_into_c.id)
    assert kit.customers.get(a.id).id == b.id
    kit.customers.unmerge(a_into_b.id)

    # exactly what the merge moved goes back to A; what arrived through A's id while it
    # was merged was recorded on B, and stays with B
    assert kit.customers.get(a.id).id == a.id
    assert [i.id for i in kit.journey(a.id).steps] == [first.id]
    assert [i.id for i in kit.cases.list(customer=a.id)] == [case.id]
    assert {i.id for i in kit.journey(b.id).steps} == {on_b.id, later.id}
    assert kit.customers.find(email="a@example.nl").id == a.id  # type: ignore[union-attr]
    assert kit.customers.find(email="a.work@example.nl").id == b.id  # type: ignore[union-attr]
    assert kit.caller_id("020 111 1111").customer.id == a.id  # type: ignore[union-attr]
    # the store visit went to C (A's id led there then) and stays there
    assert [i.kind for i in kit.journey(c.id).steps] == ["visit"]
    assert [e.type for e in kit.customers.history(a.id)] == ["merged", "unmerged"]
    assert [e.type for e in kit.customers.history(c.id)] == ["merged", "unmerged"]
    b_history = kit.customers.history(b.id)
    assert [e.type for e in b_history] == [
        "merged",
        "identity_added",
        "merged",
        "unmerged",
        "unmerged",
    ]
    assert b_history[0].actor == "agent-7" and b_history[0].reason == "same person"


def test_journey_by_an_old_id_is_the_survivors(kit: Omnikit) -> None:
    """``get``, the card, the export and ``record`` follow a merged id to the survivor
    ("old ids keep working"); the journey must too, not come back empty."""
    a, b, _ = _customers(kit)
    kit.record(customer=a.id, channel="email", direction="inbound", kind="message")
    kit.record(customer=b.id, channel="twitter", direction="inbound", kind="message")
    kit.customers.merge(b.id, a.id, reason="same person")
    assert len(kit.journey(b.id).steps) == 2
    assert kit.journey(a.id).steps == kit.journey(b.id).steps


def test_case_opened_by_an_old_id_goes_to_the_survivor(kit: Omnikit) -> None:
    """A case opened through a merged id belongs to the survivor, like an interaction
    recorded through it; else it is on no card and cannot take the survivor's records."""
    a, b, _ = _customers(kit)
    kit.customers.merge(b.id, a.id, reason="same person")
    case = kit.cases.open(customer=a.id, subject="Opened through the old id")
    assert case.customer_id == b.id
    assert [c.id for c in kit.customer_card(b.id).open_cases] == [case.id]
    attached = kit.record(
        customer=a.id, channel="email", direction="inbound", kind="message", case=case.id
    )
    assert attached.customer_id == b.id and attached.case_id == case.id


def test_merge_moves_a_value_shared_with_a_third_customer(kit: Omnikit) -> None:
    a, b, c = _customers(kit)
    kit.customers.add_identity(a.id, phone="020 999 9999")
    kit.customers.add_identity(c.id, phone="020 999 9999", shared=True)
    assert kit.caller_id("020 999 9999").status == "ambiguous"
    merge = kit.customers.merge(b.id, a.id, reason="same person")
    match = kit.caller_id("020 999 9999")
    assert match.status == "ambiguous"
    assert {x.id for x in match.candidates} == {b.id, c.id}
    kit.customers.unmerge(merge.id)
    match = kit.caller_id("020 999 9999")
    assert {x.id for x in match.candidates} == {a.id, c.id}


# 3. bad input: its own error, and nothing written ---------------------------------------------

MISSING = "no-such-id"


def test_bad_recognition_calls_are_refused_and_write_nothing(kit: Omnikit, store_url: str) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="020 123 4567", name="Jan")
    piet = kit.customers.identify(email="piet@example.nl", handles={"twitter": "@piet"})
    merged = kit.customers.identify(email="merged@example.nl")
    survivor = kit.customers.identify(email="survivor@example.nl")
    erased = kit.customers.identify(email="erased@example.nl")
    kit.record(customer=jan.id, channel="email", direction="inbound", kind="message")
    kit.customers.merge(survivor.id, merged.id, reason="duplicate")
    undone = kit.customers.merge(piet.id, jan.id, reason="mistake")
    kit.customers.unmerge(undone.id)
    kit.customers.erase(erased.id, reason="customer asked")
    absorbed = kit.customers.identify(email="absorbed@example.nl")
    gone = kit.customers.identify(email="gone@example.nl")
    into_gone = kit.customers.merge(gone.id, absorbed.id, reason="duplicate")
    kit.customers.erase(absorbed.id, reason="customer asked")  # erases the survivor too
    customers = kit.customers

    with snapshots(kit, store_url) as state:
        unknown: list[Callable[[], object]] = [
            lambda: customers.merge(MISSING, jan.id, reason="x"),
            lambda: customers.merge(jan.id, MISSING, reason="x"),
            lambda: customers.unmerge(MISSING),
            lambda: customers.unmerge(jan.id),  # a customer id is no merge id
            lambda: customers.export(MISSING),
            lambda: customers.erase(MISSING, reason="x"),
            lambda: customers.add_identity(MISSING, email="new@example.nl"),
            lambda: customers.remove_identity(MISSING),
            lambda: customers.remove_identity(jan.id),  # nor an identity id
            lambda: customers.history(MISSING),
            lambda: customers.deliverable(MISSING, "email"),
            lambda: customers.get(MISSING),
        ]
        for call in unknown:
            rejects(state, NotFoundError, call)

        rejects(state, ValidationError, lambda: customers.merge(jan.id, jan.id, reason="x"))
        for reason in ("", "   ", None):
            rejects(
                state, ValidationError, partial(customers.merge, jan.id, piet.id, reason=reason)
            )
            rejects(state, ValidationError, partial(customers.erase, jan.id, reason=reason))

        conflicts: list[Callable[[], object]] = [
            lambda: customers.merge(jan.id, merged.id, reason="x"),  # merged already
            lambda: customers.merge(merged.id, jan.id, reason="x"),  # nor can it keep
            lambda: customers.unmerge(undone.id),  # undone already
            lambda: customers.unmerge(into_gone.id),  # its survivor was erased
            lambda: customers.erase(gone.id, reason="again"),
            lambda: customers.erase(erased.id, reason="again"),
            lambda: customers.merge(jan.id, erased.id, reason="x"),
            lambda: customers.merge(erased.id, jan.id, reason="x"),
            lambda: customers.add_identity(erased.id, email="back@example.nl"),
            lambda: customers.add_identity(piet.id, email="JAN@example.nl"),
            lambda: customers.add_identity(piet.id, phone="+31 20 123 4567"),
            # the new phone comes before the e-mail that conflicts: all or nothing
            lambda: customers.add_identity(piet.id, phone="020 000 0001", email="jan@example.nl"),
        ]
        for call in conflicts:
            rejects(state, ConflictError, call)

        for channel in ("email", "sms", "webshop", "post", "store"):
            handles = {channel: "@jan"}
            rejects(
                state,
                InvalidIdentityError,
                partial(customers.add_identity, jan.id, handles=handles),
            )
            rejects(state, InvalidIdentityError, partial(customers.identify, handles=handles))
        for channel in ("fax", "", "EMAIL", None):
            rejects(state, UnknownChannelError, partial(customers.deliverable, jan.id, channel))
        rejects(state, UnknownChannelError, lambda: customers.identify(handles={"fax": "@jan"}))

        # the refusals left everyone where they were
        assert customers.get(merged.id).id == survivor.id
        assert customers.get(absorbed.id).id == gone.id
        assert customers.find(email="absorbed@example.nl") is None
        assert customers.get(jan.id).id == jan.id
        assert customers.deliverable(jan.id, "email") is True
        assert customers.deliverable(piet.id, "twitter") is True
        assert customers.deliverable(piet.id, "sms") is False


# 4. caller ID never raises and never names the wrong customer -----------------------------------


@dataclass(frozen=True)
class Phonebook:
    kit: Omnikit
    holders: dict[str, frozenset[str]]
    """Per E.164 number, the customers (survivors of merges) that hold it."""
    jan: str


NATIONAL = {
    "+31201234567": "0201234567",
    "+31612345678": "0612345678",
    "+31207654321": "0207654321",
    "+31205550000": "0205550000",
    "+31206660000": "0206660000",
    "+48221234567": "221234567",
    "+12125550123": "2125550123",
    "+31209999999": "0209999999",
}
"""Numbers the phonebook knows, once knew, or never had, and how each is dialled at home."""


@pytest.fixture
def phonebook(kit: Omnikit) -> Phonebook:
    customers = kit.customers
    jan = customers.identify(phone="020 123 4567", email="jan@example.nl")
    ola = customers.identify(phone="+48 22 123 45 67", region="PL")
    sam = customers.identify(phone="(212) 555-0123", region="US")
    old = customers.identify(phone="06 12345678")
    new = customers.identify(email="new@example.nl")
    customers.merge(new.id, old.id, reason="same person")
    home = customers.identify(phone="020 765 4321", email="home@example.nl")
    customers.add_identity(ola.id, phone="+31207654321", shared=True)
    gone = customers.identify(phone="020 555 0000")
    customers.erase(gone.id, reason="customer asked")
    moved = customers.identify(phone="020 666 0000", email="moved@example.nl")
    (identity,) = [i for i in moved.identities if i.kind is IdentityKind.PHONE]
    customers.remove_identity(identity.id)
    return Phonebook(
        kit,
        {
            "+31201234567": frozenset({jan.id}),
            "+48221234567": frozenset({ola.id}),
            "+12125550123": frozenset({sam.id}),
            "+31612345678": frozenset({new.id}),
            "+31207654321": frozenset({home.id, ola.id}),
        },
        jan.id,
    )


def check_caller(book: Phonebook, number: str | None, region: str | None) -> None:
    """The caller ID of ``number`` agrees with the phonebook."""
    kit = book.kit
    try:
        e164 = (
            normalize_phone(number, region or kit.default_region)
            if isinstance(number, str)
            else None
        )
    except OmnikitError:
        e164 = None
    match = kit.caller_id(number, region=region)
    assert match.status in ("known", "ambiguous", "unknown")
    assert match.number == e164
    holders = book.holders.get(e164, frozenset()) if e164 else frozenset()
    assert {c.id for c in match.candidates} == holders
    for candidate in match.candidates:
        assert e164 in phones(candidate), (candidate.id, e164)
    if len(holders) == 1:
        assert match.status == "known"
        assert match.customer is not None and match.card is not None
        assert match.customer.id == match.card.customer.id == next(iter(holders))
        assert e164 in phones(match.customer)
        assert match.candidates == (match.customer,)
    else:
        assert match.status == ("ambiguous" if holders else "unknown")
        assert match.customer is None and match.card is None


@st.composite
def dialled(draw: st.DrawFn) -> str:
    """A number of the phonebook, written as people and switchboards write them."""
    e164 = draw(st.sampled_from(sorted(NATIONAL)))
    digits = draw(st.sampled_from([e164, "00" + e164[1:], NATIONAL[e164], e164[1:]]))
    separators = st.sampled_from(["", "", "", " ", "-", ".", "/", "(", ")", "  "])
    written = "".join(draw(separators) + char for char in digits) + draw(separators)
    if draw(st.booleans()):
        written = written.translate(
            str.maketrans(string.digits, "".join(chr(0xFF10 + n) for n in range(10)))
        )
    return written


CALLER_IDS = (
    st.none()
    | st.text()
    | st.text(alphabet="0123456789 +-()./", max_size=30)
    | st.text(alphabet=st.characters(categories=("Nd", "Pd", "Ps", "Pe", "Zs")), max_size=20)
    | dialled()
    | st.integers(0, 300).map(lambda n: "9" * n)
)
REGIONS = st.sampled_from([None, "NL", "PL", "US", "nl"])

EXAMPLES = [
    ("020 123 4567", "known"),
    ("+31 20 123 4567", "known"),
    ("0031201234567", "known"),
    ("(020) 123-45.67", "known"),
    ("+31 (0)20 123 4567", "known"),
    ("anonymous", "unknown"),
    ("", "unknown"),
    ("withheld", "unknown"),
    ("+", "unknown"),
    ("00", "unknown"),
    ("1" * 200, "unknown"),
    ("+" + "3" * 199, "unknown"),
    (None, "unknown"),
    ("020 555 0000", "unknown"),  # erased
    ("020 666 0000", "unknown"),  # identity removed
    ("020 765 4321", "ambiguous"),  # shared
    ("06-12345678", "known"),  # merged into another customer
]


def test_caller_id_matches_exactly_the_holders_of_the_number(
    phonebook: Phonebook, stores: Stores
) -> None:
    @settings(max_examples=stores.examples(sqlite=400, postgresql=200), deadline=None)
    @given(number=CALLER_IDS, region=REGIONS)
    @example(number="020 123 4567", region=None)
    @example(number="221234567", region="PL")
    @example(number="212 555 0123", region="US")
    @example(number="221234567", region=None)
    @example(number="\x00", region=None)
    @example(number="\ud800", region="NL")
    def check(number: str | None, region: str | None) -> None:
        check_caller(phonebook, number, region)

    check()


@pytest.mark.parametrize(("number", "status"), EXAMPLES)
def test_caller_id_examples(phonebook: Phonebook, number: str | None, status: str) -> None:
    match = phonebook.kit.caller_id(number)
    assert match.status == status
    if status == "known" and number in ("020 123 4567", "(020) 123-45.67", "0031201234567"):
        assert match.customer is not None and match.customer.id == phonebook.jan
    if status == "unknown" and number in ("020 555 0000", "020 666 0000"):
        assert match.number == normalize_phone(number, "NL")
    check_caller(phonebook, number, None)


# 5. merge_policy="verified" -------------------------------------------------------------------


def _pair(kit: Omnikit, *, verify_newer: bool = True) -> tuple[Customer, Customer]:
    """An older customer with a verified e-mail, a newer one with a phone (verified or not)."""
    older = kit.customers.identify(email="older@example.nl", name="Older")
    kit.customers.add_identity(older.id, email="older@example.nl", verified=True)
    newer = kit.customers.identify(phone="020 222 3333")
    kit.customers.add_identity(newer.id, phone="020 222 3333", verified=verify_newer)
    kit.record(customer=newer.id, channel="phone", direction="inbound", kind="call")
    return older, newer


def test_verified_policy_merges_customers_whose_verified_identities_meet(store_url: str) -> None:
    with Omnikit(store_url, default_region="NL", merge_policy="verified") as kit:
        older, newer = _pair(kit)
        # the phone (the newer customer's) comes first in the look-up: the older survives
        found = kit.customers.identify(email="older@example.nl", phone="020 222 3333")
        assert found.id == older.id
        assert sorted(found.values(IdentityKind.PHONE) + found.values(IdentityKind.EMAIL)) == [
            "+31202223333",
            "older@example.nl",
        ]
        assert kit.customers.get(newer.id).id == older.id
        assert [s.channel for s in kit.journey(older.id).steps] == ["phone"]
        merges = [e for e in kit.customers.history(older.id) if e.type == "merged"]
        assert len(merges) == 1
        (event,) = merges
        assert event.actor == "omnikit" and event.reason
        assert event.detail["keep"] == older.id and event.detail["other"] == newer.id  # type: ignore[index,call-overload]
        # the merge is an ordinary one: it can be undone
        kit.customers.unmerge(event.detail["merge"])  # type: ignore[index,call-overload,arg-type]
        assert kit.customers.get(newer.id).id == newer.id
        assert kit.caller_id("020 222 3333").customer.id == newer.id  # type: ignore[union-attr]


def test_verified_policy_does_not_merge_with_an_unverified_identity(store_url: str) -> None:
    with Omnikit(store_url, default_region="NL", merge_policy="verified") as kit:
        older, newer = _pair(kit, verify_newer=False)
        with snapshots(kit, store_url) as state:
            error = rejects(
                state,
                AmbiguousIdentityError,
                lambda: kit.customers.identify(email="older@example.nl", phone="020 222 3333"),
            )
        assert error.customer_ids == tuple(sorted((older.id, newer.id)))  # type: ignore[attr-defined]
        assert kit.customers.get(newer.id).id == newer.id


def test_default_policy_never_merges(kit: Omnikit, store_url: str) -> None:
    assert kit.merge_policy == "never"
    older, newer = _pair(kit)
    with snapshots(kit, store_url) as state:
        error = rejects(
            state,
            AmbiguousIdentityError,
            lambda: kit.customers.identify(email="older@example.nl", phone="020 222 3333"),
        )
    assert error.customer_ids == tuple(sorted((older.id, newer.id)))  # type: ignore[attr-defined]
    assert kit.customers.get(newer.id).id == newer.id
