"""Synthetic demo history: thousands of customers and three months of contacts.

``generate(kit, customers=10_000)`` fills an empty store with believable history for
the analytics and the management report: customers with names, languages and
identities; web shop orders and their notifications; service journeys that start on
one channel and move to others, with cases in queues with service levels, agents'
replies with delivery statuses, pending, resolved, reopened and closed cases, missed
service levels; returned post that marks an address undeliverable; marketing consent
granted and withdrawn.

Every row is one the public API writes. The case lifecycle is not imitated: the
facade's own functions (``omnikit.cases``, ``omnikit.continuity``, ``omnikit.sla``) run
on an in-memory transaction with a clock the generator steps through each story, so
continuity, reopening, follow-up cases, service-level clocks and breaches come out as
``kit.record``, ``kit.cases`` and ``kit.cases.check_sla`` (run by a worker every minute)
would have made them. The rows are then written through the store's transaction
methods, 500 customers per transaction. Each customer draws from its own random stream
(``seed`` and its number), so the history is the same for a seed however it is batched.
"""

from __future__ import annotations

import random
import time as timer
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TypeVar, cast
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from omnikit import sla
from omnikit._ids import new_id
from omnikit.cases import apply_change, case_event, join, open_case
from omnikit.cases import status_updates as _status_updates
from omnikit.continuity import continue_case
from omnikit.customers import new_identity
from omnikit.demo import SteppedClock
from omnikit.errors import ConflictError, ValidationError
from omnikit.identity import collect_identifiers
from omnikit.kit import Omnikit
from omnikit.model import (
    TRANSITIONS,
    Agent,
    BusinessHours,
    Case,
    CaseEvent,
    CaseStatus,
    Customer,
    CustomerEvent,
    DeliveryStatus,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    Priority,
    Queue,
    SlaPolicy,
)
from omnikit.model._base import Model
from omnikit.model.outbound import ConsentRecord
from omnikit.store import StoreTransaction

__all__ = ["DemoData", "generate"]

_T = TypeVar("_T")
_ZONE = ZoneInfo("Europe/Amsterdam")
_BATCH = 500
_CHECK_EVERY = timedelta(minutes=1)
"""How often the simulated worker runs ``kit.cases.check_sla``."""
_DAY = timedelta(days=1)

# people ---------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    """The words of ``text``; an underscore joins two words into one name."""
    return tuple(word.replace("_", " ") for word in text.split())


_NAMES = {
    "nl": (
        _words(
            "Jan Sanne Daan Emma Lotte Bram Fleur Thijs Anouk Ruben Noor Sem Julia Lars Eva "
            "Milan Sophie Tim Iris Luuk Femke Joris Maud Stijn"
        ),
        _words(
            "de_Vries Jansen van_Dijk Bakker Visser Smit Meijer de_Boer Mulder de_Groot Bos Vos "
            "Peters Hendriks van_Leeuwen Dekker Brouwer de_Wit Dijkstra Smits"
        ),
    ),
    "en": (
        _words("Oliver Amelia Jack Isla Harry Ava George Mia Noah Grace"),
        _words("Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright"),
    ),
    "pl": (
        _words("Jakub Zuzanna Kacper Julia Szymon Maja Filip Zofia Antoni Hanna"),
        _words(
            "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński "
            "Szymański Woźniak"
        ),
    ),
}
_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
_DOMAINS = ("gmail.com", "outlook.com", "hotmail.nl", "ziggo.nl", "kpnmail.nl", "example.nl")
_CITIES = (
    ("Amsterdam", 1011),
    ("Rotterdam", 3011),
    ("Utrecht", 3511),
    ("Den Haag", 2511),
    ("Eindhoven", 5611),
    ("Groningen", 9711),
    ("Haarlem", 2011),
    ("Nijmegen", 6511),
)
_STREETS = _words(
    "Kerkstraat Dorpsstraat Schoolstraat Molenweg Stationsweg Julianastraat Beatrixlaan "
    "Parallelweg Nieuwstraat Markt Lindenlaan Eikenlaan Prinsengracht Wilhelminastraat"
)

# the business -----------------------------------------------------------------------------

_AGENTS = {
    "nl": ("ann", "bram", "chloe", "daan", "eva", "femke", "gert", "hanna"),
    "en": ("liam", "ann", "eva"),
    "pl": ("kasia", "marta"),
}
_SOCIAL_AGENTS = ("sophie", "liam")
_STORES = ("store-amsterdam", "store-utrecht", "store-rotterdam", "store-eindhoven")
_SERVICE_HOURS = BusinessHours(
    timezone="Europe/Amsterdam",
    weekly={
        "mon": ["08:00-20:00"],
        "tue": ["08:00-20:00"],
        "wed": ["08:00-20:00"],
        "thu": ["08:00-20:00"],
        "fri": ["08:00-20:00"],
        "sat": ["09:00-17:00"],
    },
)
_H = timedelta(hours=1)
_QUEUES = (
    Queue(
        id="social",
        name="Social media",
        order=10,
        channels=("twitter",),
        sla={
            Priority.NORMAL: SlaPolicy(first_response=2 * _H, resolution=24 * _H),
            Priority.HIGH: SlaPolicy(first_response=_H, resolution=12 * _H),
        },
    ),
    Queue(
        id="vip",
        name="VIP customers",
        order=20,
        attributes={"vip": True},
        hours=_SERVICE_HOURS,
        sla={Priority.HIGH: SlaPolicy(first_response=_H, next_response=2 * _H, resolution=8 * _H)},
    ),
    Queue(
        id="complaints",
        name="Complaints",
        order=30,
        purposes=("complaint",),
        hours=_SERVICE_HOURS,
        sla={
            Priority.HIGH: SlaPolicy(
                first_response=2 * _H, next_response=4 * _H, resolution=24 * _H
            ),
        },
    ),
    Queue(
        id="returns",
        name="Returns and repairs",
        order=40,
        purposes=("repair", "return"),
        hours=_SERVICE_HOURS,
        sla={
            Priority.NORMAL: SlaPolicy(
                first_response=8 * _H,
                next_response=8 * _H,
                resolution=60 * _H,
                pause_when_pending=True,
            ),
        },
    ),
    Queue(
        id="service",
        name="Customer service",
        order=50,
        hours=_SERVICE_HOURS,
        sla={
            Priority.LOW: SlaPolicy(first_response=16 * _H, resolution=80 * _H),
            Priority.NORMAL: SlaPolicy(
                first_response=6 * _H,
                next_response=8 * _H,
                resolution=48 * _H,
                pause_when_pending=True,
            ),
            Priority.HIGH: SlaPolicy(
                first_response=2 * _H, next_response=4 * _H, resolution=16 * _H
            ),
        },
    ),
)

# purposes and channels ------------------------------------------------------------------

_PURPOSES: dict[str, tuple[int, dict[str, int]]] = {
    "delivery": (20, {"email": 4, "phone": 4, "whatsapp": 4, "webchat": 3, "sms": 1, "twitter": 1}),
    "order": (13, {"email": 4, "phone": 3, "whatsapp": 2, "webchat": 3, "app": 1}),
    "return": (13, {"email": 4, "webchat": 2, "phone": 2, "store": 4, "whatsapp": 2}),
    "product_question": (17, {"webchat": 5, "store": 5, "phone": 2, "email": 2, "whatsapp": 2}),
    "invoice": (9, {"email": 6, "phone": 3, "post": 1}),
    "complaint": (8, {"twitter": 6, "email": 4, "phone": 3, "store": 1}),
    "account": (7, {"email": 3, "phone": 3, "webchat": 2, "app": 2}),
    "repair": (6, {"store": 4, "phone": 3, "email": 2}),
}
_SWITCH: dict[str, dict[str, int]] = {
    "email": {"phone": 5, "webchat": 1, "whatsapp": 1},
    "webchat": {"email": 3, "phone": 3},
    "whatsapp": {"phone": 4, "email": 2},
    "twitter": {"email": 3, "phone": 3, "whatsapp": 1},
    "sms": {"phone": 3, "whatsapp": 2},
    "phone": {"email": 3, "store": 1, "whatsapp": 1},
    "store": {"phone": 2, "email": 2},
    "app": {"email": 2, "phone": 2, "webchat": 1},
    "post": {"phone": 3, "email": 2},
}
_REPLY_ON = {"webchat": "email", "store": "email", "post": "email", "app": "app"}
"""Where an agent answers a contact on a channel that cannot carry the answer later."""
_KIND = {"phone": "call", "store": "visit", "post": "letter"}
_LIVE = frozenset({"phone", "webchat", "store"})
_NEEDS = {
    "phone": "phone",
    "sms": "phone",
    "whatsapp": "phone",
    "email": "email",
    "twitter": "twitter",
    "post": "address",
}
_SUBJECTS = {
    "delivery": ("Where is my parcel?", "Delivery moved", "Parcel damaged on arrival"),
    "order": ("Change my order", "Order not confirmed", "Cancel my order"),
    "return": ("Return a product", "Refund not received", "Return label missing"),
    "product_question": ("Which drill fits my wall?", "Is this in stock?", "Sizes"),
    "invoice": ("Invoice is wrong", "Pay in instalments", "Copy of my invoice"),
    "complaint": ("Rude delivery driver", "Waited too long", "Broken promise"),
    "account": ("Cannot log in", "Change my address", "Delete my account"),
    "repair": ("Drill does not start", "Warranty repair", "Repair status"),
}
_FAILURES: dict[str, dict[str, JsonValue]] = {
    "email": {"error": "550 5.1.1 mailbox unavailable"},
    "sms": {"error_code": 30003, "error": "Unreachable destination handset"},
    "whatsapp": {"error": "(#131026) Message undeliverable"},
    "app": {"error": "device token expired"},
}


class DemoData(Model):
    """What ``generate`` wrote: how many rows of each kind, and how long it took."""

    customers: int
    identities: int
    interactions: int
    cases: int
    case_events: int
    consents: int
    undeliverable: int
    """Postal addresses marked undeliverable by returned post."""
    sla_breaches: int
    """``sla_breached`` case events."""
    reopened: int
    """Cases that were resolved and opened again."""
    channels: dict[str, int]
    """Interactions per channel, most first."""
    purposes: dict[str, int]
    """Interactions per purpose tag, most first."""
    case_statuses: dict[str, int]
    """Cases per status at the end of the period."""
    seconds: float


def generate(
    kit: Omnikit,
    *,
    customers: int = 10_000,
    start: date = date(2026, 1, 1),
    end: date = date(2026, 3, 31),
    seed: int | str = 42,
    progress: Callable[[int], object] | None = None,
) -> DemoData:
    """Fill the empty store of ``kit`` with ``customers`` customers and their history
    from ``start`` to ``end`` (both days included, Amsterdam time); return the counts.

    The same ``seed`` gives the same history (ids differ: they are made as it is
    written). Agents and queues with service-level policies are set up through
    ``kit.routing``. ``progress`` is called with the number of customers written after
    each transaction of 500.

    Raises ``ValidationError`` for a count below 1 or above 1,000,000, dates that are
    not dates or an empty period, and ``ConflictError`` when the store already holds
    customers (demo data goes into an empty store only).
    """
    if (
        not isinstance(customers, int)
        or isinstance(customers, bool)
        or not (1 <= customers <= 1_000_000)
    ):
        raise ValidationError(f"customers {customers!r} must be a whole number from 1 to 1000000")
    for name, day in (("start", start), ("end", end)):
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValidationError(f"{name} {day!r} must be a date such as date(2026, 1, 1)")
    if start > end:
        raise ValidationError(f"start {start} is after end {end}: the period is empty")
    if not isinstance(seed, int | str) or isinstance(seed, bool):
        raise ValidationError(f"seed {seed!r} must be a whole number or a string")
    with kit.store.transaction() as tx:
        if tx.has_customers():
            raise ConflictError(
                f"the store {kit.store.url} already holds customers; demo data goes into an "
                "empty store only"
            )
    began = timer.perf_counter()
    queues = _set_up(kit)
    period = (
        datetime.combine(start, clock_time(), _ZONE).astimezone(UTC),
        datetime.combine(end + _DAY, clock_time(), _ZONE).astimezone(UTC),
    )
    clock = SteppedClock(period[0])
    totals = _Totals()
    with (
        Omnikit(
            "sqlite:///:memory:",
            default_region="NL",
            clock=clock,
            continuity_window=kit.continuity_window,
            reopen_window=kit.reopen_window,
        ) as shadow,
        ThreadPoolExecutor(1, thread_name_prefix="omnikit-demo") as writer,
    ):
        # One batch is written (the database works, mostly without the GIL) while the
        # next is played; batches are written in order, one at a time.
        writing: Future[None] | None = None
        for first in range(0, customers, _BATCH):
            batch = _Batch(shadow, clock, queues, period)
            for n in range(first, min(first + _BATCH, customers)):
                _Person(batch, n, random.Random(f"{seed}:{n}")).play()
            if writing is not None:
                writing.result()
                if progress is not None:
                    progress(first)
            writing = writer.submit(batch.write, kit, totals)
        if writing is not None:
            writing.result()
            if progress is not None:
                progress(customers)
    return totals.result(timer.perf_counter() - began)


def _set_up(kit: Omnikit) -> dict[str, Queue]:
    """The agents and queues of the demo business, through ``kit.routing``."""
    speakers: dict[str, set[str]] = {}
    for language, names in _AGENTS.items():
        for name in names:
            speakers.setdefault(name, set()).add(language)
    for name in _SOCIAL_AGENTS:
        speakers.setdefault(name, {"nl", "en"})
    for name, languages in sorted(speakers.items()):
        kit.routing.set_agent(
            Agent(
                id=name,
                languages=languages,
                capacity={"phone": 1, "webchat": 3, "email": 10, "whatsapp": 5, "twitter": 5},
            )
        )
    return {queue.id: kit.routing.set_queue(queue) for queue in _QUEUES}


# the in-memory transaction the facade's case logic runs on -------------------------------


class _Memory:
    """The reads and writes ``omnikit.cases`` and ``omnikit.continuity`` make, kept in
    memory for one batch of customers. The demo writes no e-mail threads or provider
    conversations, so continuity's thread look-ups find nothing."""

    def __init__(self, queues: dict[str, Queue]) -> None:
        self.queues = queues
        self.cases: dict[str, Case] = {}
        self.of_customer: dict[str, list[str]] = {}
        self.events: list[CaseEvent] = []
        self.attached: dict[str, str] = {}

    def get_queue(self, queue_id: str) -> Queue | None:
        return self.queues.get(queue_id)

    def insert_case(self, case: Case) -> None:
        self.cases[case.id] = case
        self.of_customer.setdefault(case.customer_id, []).append(case.id)

    def update_case(self, case: Case) -> bool:
        stored = self.cases.get(case.id)
        if stored is None or stored.version != case.version - 1:
            return False
        self.cases[case.id] = case
        return True

    def get_case(self, case_id: str) -> Case | None:
        return self.cases.get(case_id)

    def list_cases(
        self, customer_id: str | None, statuses: Sequence[str] | None, limit: int
    ) -> list[Case]:
        found = [self.cases[i] for i in self.of_customer.get(customer_id or "", ())]
        if statuses is not None:
            found = [case for case in found if case.status.value in statuses]
        found.sort(key=lambda case: (case.created_at, case.id), reverse=True)
        return found[:limit]

    def insert_case_event(self, event: CaseEvent) -> None:
        self.events.append(event)

    def set_interaction_case(self, interaction_id: str, case_id: str) -> None:
        self.attached[interaction_id] = case_id

    def work_for(self, case_id: str | None, interaction_id: str | None) -> None:
        return None

    def queued_for(self, case_id: str | None, interaction_id: str | None) -> None:
        return None

    def interaction_by_external_id(self, channel: str, external_id: str) -> None:
        return None

    def case_interactions(self, case_id: str) -> list[Interaction]:
        return []


class _PeriodOver(Exception):
    """A story reached the end of the period: what follows did not happen yet."""


@dataclass
class _Totals:
    customers: int = 0
    identities: int = 0
    interactions: int = 0
    cases: int = 0
    case_events: int = 0
    consents: int = 0
    undeliverable: int = 0
    sla_breaches: int = 0
    reopened: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    purposes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    def result(self, seconds: float) -> DemoData:
        return DemoData(
            customers=self.customers,
            identities=self.identities,
            interactions=self.interactions,
            cases=self.cases,
            case_events=self.case_events,
            consents=self.consents,
            undeliverable=self.undeliverable,
            sla_breaches=self.sla_breaches,
            reopened=self.reopened,
            channels=dict(self.channels.most_common()),
            purposes=dict(self.purposes.most_common()),
            case_statuses=dict(self.statuses.most_common()),
            seconds=round(seconds, 2),
        )


class _Batch:
    """The customers of one transaction: played in memory, then written at once."""

    def __init__(
        self,
        shadow: Omnikit,
        clock: SteppedClock,
        queues: dict[str, Queue],
        period: tuple[datetime, datetime],
    ) -> None:
        self.shadow = shadow
        self.clock = clock
        self.queues = queues
        self.start, self.end = period
        self.tx = _Memory(queues)
        self.store_tx = cast(StoreTransaction, self.tx)
        """The same, as the transaction the facade's functions take."""
        self.customers: list[Customer] = []
        self.interactions: list[Interaction] = []
        self.consents: list[ConsentRecord] = []
        self.customer_events: list[CustomerEvent] = []

    def write(self, kit: Omnikit, totals: _Totals) -> None:
        """Write the batch in one transaction: parents before the rows naming them."""
        memory = self.tx
        interactions = [
            i
            if i.id not in memory.attached
            else i.model_copy(update={"case_id": memory.attached[i.id]})
            for i in self.interactions
        ]
        with kit.store.transaction(write=True) as tx:
            for customer in self.customers:
                tx.insert_customer(customer)
            for case in memory.cases.values():
                tx.insert_case(case)
            tx.insert_interactions(interactions)
            for event in memory.events:
                tx.insert_case_event(event)
            for record in self.consents:
                tx.insert_consent(record)
            for audit in self.customer_events:
                tx.insert_customer_event(audit)
        totals.customers += len(self.customers)
        totals.identities += sum(len(c.identities) for c in self.customers)
        totals.undeliverable += sum(
            1 for c in self.customers for i in c.identities if i.undeliverable
        )
        totals.interactions += len(interactions)
        totals.cases += len(memory.cases)
        totals.case_events += len(memory.events)
        totals.consents += len(self.consents)
        totals.sla_breaches += sum(1 for e in memory.events if e.type == "sla_breached")
        totals.reopened += len(
            {
                e.case_id
                for e in memory.events
                if e.type == "transitioned"
                and isinstance(e.before, dict)
                and e.before.get("status") in ("resolved", "closed")
                and isinstance(e.after, dict)
                and e.after.get("status") == "open"
            }
        )
        totals.channels.update(i.channel for i in interactions)
        totals.purposes.update(p for i in interactions for p in i.purpose)
        totals.statuses.update(c.status.value for c in memory.cases.values())


class _Person:
    """One customer of a batch and the stories they live through in the period."""

    def __init__(self, batch: _Batch, n: int, rng: random.Random) -> None:
        self.batch = batch
        self.n = n
        self.rng = rng
        self.tx = batch.tx
        self.store = batch.store_tx
        self.language = _pick(rng, {"nl": 75, "en": 15, "pl": 10})
        firsts, lasts = _NAMES[self.language]
        first, last = rng.choice(firsts), rng.choice(lasts)
        self.name = f"{first} {last}"
        plain = f"{first}.{last}".translate(_ASCII).lower().replace(" ", "")
        self.has_email = rng.random() < 0.9
        self.has_phone = not self.has_email or rng.random() < 0.85
        self.phone = f"6{n % 5 + 1}{(n * 7919 + 1234567) % 10_000_000:07d}"
        self.email = f"{plain}{n}@{rng.choice(_DOMAINS)}"
        self.webshop = f"C-{100_000 + n}" if rng.random() < 0.6 else None
        self.handle = f"@{plain.replace('.', '_')[:9]}{n}" if rng.random() < 0.12 else None
        self.address: str | None = None
        if rng.random() < 0.35:
            city, postcode = rng.choice(_CITIES)
            street = f"{_STREETS[n % len(_STREETS)]} {n // len(_STREETS) + 1}"
            letters = rng.choice("ABCDEFGHJKLMNPRSTVWXZ") + rng.choice("ABCDEFGHJKLMNPRSTXZ")
            self.address = f"{street}, {postcode + rng.randrange(80)} {letters} {city}"
        self.vip = rng.random() < 0.02
        self.id = new_id()
        self.identities: list[Identity] = []
        self.seen: dict[str, list[datetime]] = {}
        self.counter = 0

    # the story ------------------------------------------------------------------------

    def play(self) -> None:
        rng, batch = self.rng, self.batch
        span = (batch.end - batch.start).total_seconds()
        plans: list[tuple[datetime, str]] = []
        orders = _poisson(rng, 1.5) if self.has_email or self.webshop else 0
        for _ in range(orders):
            plans.append((batch.start + timedelta(seconds=rng.uniform(0, span)), "shop"))
        for _ in range(_poisson(rng, 1.0)):
            plans.append((batch.start + timedelta(seconds=rng.uniform(0, span)), "service"))
        if self.address and rng.random() < 0.1:
            plans.append((batch.start + timedelta(seconds=rng.uniform(0, span * 0.8)), "post"))
        plans.sort()
        if rng.random() < 0.65 or not plans:
            created = batch.start - timedelta(seconds=rng.uniform(3600, 2 * 365 * 86400))
            source: str | None = "import"
        else:
            created = plans[0][0] - timedelta(minutes=1)
            source = "webshop" if plans[0][1] == "shop" else None
        self._create(created, source)
        at = batch.start
        for planned, story in plans:
            at = max(at, planned)
            try:
                if story == "shop":
                    at = self._shop(at)
                elif story == "post":
                    at = self._returned_post(at)
                else:
                    at = self._service(at, _pick(rng, {p: w for p, (w, _) in _PURPOSES.items()}))
            except _PeriodOver:
                break
            at += timedelta(hours=rng.uniform(2, 24 * 10))
        self._catch_up(batch.end - timedelta(microseconds=1))
        self._finish()

    def _shop(self, at: datetime) -> datetime:
        rng = self.rng
        at = _waking(rng, at, 7, 23)
        number = f"{100_000 + self.n}-{self.counter + 1}"
        self.record(
            "webshop",
            "inbound",
            "order",
            at,
            purpose="order",
            text=f"Order {number}: {rng.choice(_PRODUCTS)}",
            external_id=f"order-{number}",
        )
        if self.has_email:
            self.record(
                "email",
                "outbound",
                "notification",
                at + timedelta(minutes=2),
                purpose="order",
                subject=f"Your order {number}",
                text="Thank you for your order; we will let you know when it ships.",
                receipt=True,
            )
        shipped = _waking(rng, at + timedelta(days=rng.uniform(0.5, 2)), 9, 18)
        if self.has_phone:
            self.record(
                rng.choice(("sms", "whatsapp")),
                "outbound",
                "notification",
                shipped,
                purpose="delivery",
                text=f"Your parcel {number} arrives tomorrow between 9:00 and 13:00.",
                receipt=True,
            )
        last = shipped
        if rng.random() < 0.3:
            where = rng.choice(("pickup", "store"))
            last = _waking(rng, shipped + timedelta(days=rng.uniform(1, 4)), 10, 18)
            self.record(
                where,
                "inbound",
                "pickup",
                last,
                purpose="order",
                text=f"Order {number} picked up",
                agent=rng.choice(_STORES) if where == "store" else None,
            )
        if rng.random() < 0.35:
            then = shipped + timedelta(days=rng.uniform(0.5, 5))
            return self._service(then, _pick(rng, {"delivery": 4, "order": 2, "return": 3}))
        return last

    def _returned_post(self, at: datetime) -> datetime:
        rng = self.rng
        at = _waking(rng, at, 9, 17)
        self.record(
            "post",
            "outbound",
            "letter",
            at,
            purpose="invoice",
            text="Reminder: your invoice is due",
        )
        back = _waking(rng, at + timedelta(days=rng.uniform(4, 12)), 9, 17)
        self.record(
            "post",
            "inbound",
            "returned_mail",
            back,
            purpose="invoice",
            text="Letter returned: addressee unknown",
            metadata={"reason": "moved, address unknown"},
        )
        if rng.random() < 0.5 and (self.has_phone or self.has_email):
            return self._service(back + timedelta(days=rng.uniform(1, 10)), "account", moved=True)
        return back

    def _service(self, at: datetime, purpose: str, *, moved: bool = False) -> datetime:
        rng, tx = self.rng, self.tx
        channel = self._channel(_PURPOSES[purpose][1])
        at = _waking(rng, at, 10 if channel == "store" else 7, 18 if channel == "store" else 22)
        live = channel in _LIVE
        agent = self._agent(channel) if live else None
        subject = rng.choice(_SUBJECTS[purpose])
        first = self.record(
            channel,
            "inbound",
            _KIND.get(channel, "message"),
            at,
            purpose=purpose,
            text=subject,
            subject=subject if channel == "email" else None,
            agent=agent,
        )
        if moved:
            self._moved(at, channel)
        if first.case_id is None and (
            purpose == "product_question" and channel in ("store", "webchat") and rng.random() < 0.6
        ):
            return at  # answered on the spot; nobody opened a case
        owner = agent or self._agent(channel)
        if first.case_id is not None:
            case = tx.cases[first.case_id]
            now = self._reply(case, channel, owner, at)
        else:
            queue, priority = self._queue(channel, purpose)
            self.batch.clock.at = at
            case = open_case(
                self.batch.shadow,
                self.store,
                customer_id=self.id,
                subject=subject,
                priority=priority,
                queue=queue,
                channel=channel,
                purpose=(purpose,),
                actor=agent,
                interaction=first,
            )
            if live and rng.random() < {"phone": 0.55, "webchat": 0.5}.get(channel, 0.6):
                now = self._assign(case.id, owner, at + timedelta(minutes=1))
                if channel == "phone" and self.has_email and rng.random() < 0.4:
                    now = self.record(
                        "email",
                        "outbound",
                        "message",
                        now + timedelta(minutes=rng.uniform(3, 15)),
                        purpose=purpose,
                        subject=f"Re: {subject}",
                        text="As discussed on the phone: this is what we agreed.",
                        case_id=case.id,
                        agent=owner,
                        receipt=True,
                    ).occurred_at
                now = self._move(case.id, CaseStatus.RESOLVED, now + timedelta(minutes=5), owner)
            else:
                now = self._work(case.id, channel, owner, at, purpose)
        return self._afterwards(case.id, channel, owner, now, purpose)

    def _work(self, case_id: str, channel: str, owner: str, at: datetime, purpose: str) -> datetime:
        """From triage to resolution: answers, questions back, the customer's answers
        (on the same channel or another), a hand-over now and then."""
        rng = self.rng
        reply_at = _SERVICE_HOURS.add(at, timedelta(hours=rng.lognormvariate(0.5, 0.9)))
        self._assign(case_id, owner, reply_at - timedelta(minutes=rng.uniform(2, 30)))
        self._move(case_id, CaseStatus.OPEN, reply_at - timedelta(minutes=1), owner)
        now = self._answer(case_id, channel, owner, reply_at, purpose)
        for _ in range(_pick(rng, {0: 35, 1: 35, 2: 20, 3: 10})):
            if rng.random() < 0.35:
                self._move(case_id, CaseStatus.PENDING, now + timedelta(minutes=1), owner)
                if rng.random() < 0.15:  # the customer never answers
                    later = _SERVICE_HOURS.add(now, timedelta(days=rng.uniform(3, 6)))
                    return self._move(case_id, CaseStatus.RESOLVED, later, owner, "no answer")
            if channel not in _LIVE and rng.random() < 0.35:
                channel = self._channel(_SWITCH[channel])
            elif channel in _LIVE:
                channel = self._channel(_SWITCH[channel]) if rng.random() < 0.5 else channel
            wrote = _waking(rng, now + timedelta(hours=rng.lognormvariate(2.0, 1.0)), 7, 22)
            live = channel in _LIVE
            contact = self.record(
                channel,
                "inbound",
                _KIND.get(channel, "message"),
                wrote,
                purpose=purpose,
                text="Any news about this?",
                subject="Re: my question" if channel == "email" else None,
                case_id=case_id if live else None,
                agent=owner if live else None,
            )
            if contact.case_id not in (None, case_id):
                case_id = contact.case_id  # continuity took it to another case
            if rng.random() < 0.1:
                colleague = self._agent(channel, besides=owner)
                self._assign(case_id, colleague, wrote + timedelta(minutes=10), actor="lead")
                owner = colleague
            if live:
                now = wrote + timedelta(minutes=rng.uniform(4, 20))
            else:
                now = _SERVICE_HOURS.add(wrote, timedelta(hours=rng.lognormvariate(0.4, 0.9)))
                now = self._answer(case_id, channel, owner, now, purpose)
        if rng.random() < 0.9:
            return self._move(
                case_id, CaseStatus.RESOLVED, now + timedelta(minutes=rng.uniform(1, 60)), owner
            )
        return now

    def _afterwards(
        self, case_id: str, channel: str, owner: str, at: datetime, purpose: str
    ) -> datetime:
        """After resolution: the customer writes again (a reopen within 72 hours, a
        follow-up case later), or the case is closed a week on."""
        rng = self.rng
        case = self.tx.cases[case_id]
        if case.status is not CaseStatus.RESOLVED:
            return at
        roll = rng.random()
        if roll < 0.12:
            hours = rng.uniform(2, 68) if roll < 0.08 else rng.uniform(80, 160)
            again = _waking(rng, at + timedelta(hours=hours), 7, 22)
            channel = channel if channel not in _LIVE else self._channel({"email": 2, "phone": 1})
            contact = self.record(
                channel,
                "inbound",
                _KIND.get(channel, "message"),
                again,
                purpose=purpose,
                text="It is still not right.",
                subject="Still not solved" if channel == "email" else None,
                agent=owner if channel in _LIVE else None,
            )
            if contact.case_id is None:
                return again
            reply = _SERVICE_HOURS.add(again, timedelta(hours=rng.lognormvariate(0.5, 1.0)))
            reply = self._answer(contact.case_id, channel, owner, reply, purpose)
            return self._move(
                contact.case_id, CaseStatus.RESOLVED, reply + timedelta(minutes=5), owner
            )
        if roll < 0.6:
            return self._move(
                case_id, CaseStatus.CLOSED, at + timedelta(days=7, minutes=1), "auto-close"
            )
        return at

    def _reply(self, case: Case, channel: str, owner: str, at: datetime) -> datetime:
        """A contact continuity joined to an earlier case: answer it, resolve it."""
        purpose = case.purpose[0] if case.purpose else "order"
        if case.assignee is None:
            self._assign(case.id, owner, at + timedelta(minutes=1))
        reply = _SERVICE_HOURS.add(at, timedelta(hours=self.rng.lognormvariate(0.8, 1.0)))
        reply = self._answer(case.id, channel, owner, reply, purpose)
        return self._move(case.id, CaseStatus.RESOLVED, reply + timedelta(minutes=10), owner)

    # the API calls, played on memory ---------------------------------------------------

    def _create(self, at: datetime, source: str | None) -> None:
        rng = self.rng
        raw_phone = rng.choice(
            (
                f"0{self.phone}",
                f"+31 {self.phone[0]} {self.phone[1:]}",
                f"0{self.phone[:1]}-{self.phone[1:]}",
            )
        )
        wanted = collect_identifiers(
            phone=raw_phone if self.has_phone else None,
            email=self.email if self.has_email else None,
            handles={"twitter": self.handle} if self.handle else None,
            external_ids={"webshop": self.webshop} if self.webshop else None,
            address=self.address,
            region="NL",
            channels=self.batch.shadow.channels,
        )
        self.created = at
        self.source = source
        for identifier in wanted:
            self.identities.append(new_identity(self.id, identifier, at, source))
        self.updated = at
        if self.vip:
            self.updated = at + timedelta(minutes=1)
            self.batch.customer_events.append(
                CustomerEvent(
                    id=new_id(),
                    customer_id=self.id,
                    at=self.updated,
                    type="attributes_set",
                    actor="crm-sync",
                    detail=["vip"],
                )
            )
        for channel, share, where, stop in (
            ("email", 0.45, "web shop checkout", "unsubscribe link"),
            ("sms", 0.12, "app settings", "sms STOP"),
        ):
            if (self.has_email if channel == "email" else self.has_phone) and rng.random() < share:
                granted = at + timedelta(minutes=2)
                self._consent(channel, True, granted, where)
                if rng.random() < 0.12:
                    later = granted + (self.batch.end - granted) * rng.random()
                    self._consent(channel, False, later, stop)

    def _consent(self, channel: str, granted: bool, at: datetime, source: str) -> None:
        self.batch.consents.append(
            ConsentRecord(
                id=new_id(),
                customer_id=self.id,
                purpose="marketing",
                channel=channel,
                granted=granted,
                at=at,
                source=source,
            )
        )

    def record(
        self,
        channel: str,
        direction: str,
        kind: str,
        at: datetime,
        *,
        purpose: str,
        text: str,
        subject: str | None = None,
        case_id: str | None = None,
        agent: str | None = None,
        external_id: str | None = None,
        metadata: dict[str, JsonValue] | None = None,
        receipt: bool = False,
    ) -> Interaction:
        """``kit.record`` at ``at``: continuity for an inbound contact that names no
        case, the case's service levels for one that does, returned post marks the
        address; ``receipt``: the provider's delivery statuses arrive afterwards."""
        if at >= self.batch.end:
            raise _PeriodOver
        self._catch_up(at)
        self.batch.clock.at = at
        self.counter += 1
        way = Direction(direction)
        interaction = Interaction.trusted(
            id=new_id(),
            customer_id=self.id,
            channel=channel,
            direction=way,
            kind=kind,
            occurred_at=at,
            recorded_at=at,
            text=text,
            subject=subject,
            attachments=(),
            external_id=external_id or f"{channel}-{self.n:06d}-{self.counter:03d}",
            case_id=case_id,
            agent=agent,
            purpose=(purpose,),
            status=None,
            metadata=metadata or {},
        )
        tx, shadow = self.tx, self.batch.shadow
        if case_id is not None:
            join(shadow, self.store, tx.cases[case_id], interaction, agent, stored=True)
        elif way is Direction.INBOUND:
            found = continue_case(shadow, self.store, interaction)
            if found is not None:
                interaction = interaction.model_copy(update={"case_id": found.id})
        if way is Direction.INBOUND:
            self._seen(channel, at)
        if kind == "returned_mail" and channel == "post":
            self._returned(at, "moved, address unknown")
        stored = interaction
        if receipt and channel in _FAILURES:
            status = self._receipt(channel)
            extra = _FAILURES[channel] if status is DeliveryStatus.FAILED else {}
            stored = interaction.model_copy(
                update={"status": status, "metadata": {**interaction.metadata, **extra}}
            )
        self.batch.interactions.append(stored)
        return interaction

    def _receipt(self, channel: str) -> DeliveryStatus:
        roll = self.rng.random()
        failed = {"email": 0.03, "sms": 0.06, "whatsapp": 0.03, "app": 0.05}[channel]
        if roll < failed:
            return DeliveryStatus.FAILED
        if channel in ("whatsapp", "app") and roll < 0.7:
            return DeliveryStatus.READ
        return DeliveryStatus.DELIVERED

    def _answer(
        self, case_id: str, channel: str, owner: str, at: datetime, purpose: str
    ) -> datetime:
        """The agent's answer, attached to the case: a call back on live channels."""
        out = _REPLY_ON.get(channel, channel)
        if out == "email" and not self.has_email:
            out = "phone"
        return self.record(
            out,
            "outbound",
            "call" if out == "phone" else "message",
            at,
            purpose=purpose,
            text="Thank you for waiting; here is what we found.",
            subject="Re: your question" if out == "email" else None,
            case_id=case_id,
            agent=owner,
            receipt=True,
        ).occurred_at

    def _assign(
        self, case_id: str, agent: str, at: datetime, *, actor: str | None = None
    ) -> datetime:
        """``kit.cases.assign`` at ``at``."""
        if at >= self.batch.end:
            raise _PeriodOver
        self._catch_up(at)
        self.batch.clock.at = at
        case = self.tx.cases[case_id]
        apply_change(
            self.batch.shadow, self.store, case, {"assignee": agent}, "assigned", actor or agent
        )
        return at

    def _move(
        self,
        case_id: str,
        status: CaseStatus,
        at: datetime,
        actor: str,
        note: str | None = None,
    ) -> datetime:
        """``kit.cases.transition`` at ``at``, when the lifecycle allows it now."""
        if at >= self.batch.end:
            raise _PeriodOver
        self._catch_up(at)
        self.batch.clock.at = at
        case = self.tx.cases[case_id]
        if status not in TRANSITIONS[case.status]:
            return at
        updates = _status_updates(self.store, case, status, at)
        apply_change(self.batch.shadow, self.store, case, updates, "transitioned", actor, note=note)
        return at

    def _catch_up(self, at: datetime) -> None:
        """``kit.cases.check_sla`` as a worker running every minute would have run it
        up to ``at``, for this customer's cases."""
        tx, shadow = self.tx, self.batch.shadow
        for case_id in tx.of_customer.get(self.id, ()):
            while True:
                case = tx.cases[case_id]
                if case.sla is None or not case.status.is_open:
                    break
                due = [d for t, d in case.sla.due().items() if t not in case.sla.breached]
                if not due or min(due) > at:
                    break
                when = min(min(due) + _CHECK_EVERY, at)
                self.batch.clock.at = when
                targets = sla.breached_targets(case.sla, when)
                dues = case.sla.due()
                changed = case.model_copy(
                    update={
                        "sla": case.sla.model_copy(
                            update={"breached": (*case.sla.breached, *targets)}
                        ),
                        "version": case.version + 1,
                        "updated_at": when,
                    }
                )
                tx.update_case(changed)
                for target in targets:
                    tx.insert_case_event(
                        case_event(
                            shadow,
                            changed,
                            "sla_breached",
                            None,
                            None,
                            {"target": target.value, "due": dues[target].isoformat()},
                        )
                    )

    def _returned(self, at: datetime, reason: str) -> None:
        """What ``kit.record`` does with returned post: the newest deliverable postal
        address is marked undeliverable."""
        usable = [
            (n, i)
            for n, i in enumerate(self.identities)
            if i.kind is IdentityKind.POSTAL and not i.undeliverable
        ]
        if not usable:
            return
        n, target = max(usable, key=lambda pair: (pair[1].first_seen_at, pair[1].id))
        self.identities[n] = target.model_copy(
            update={"undeliverable_reason": reason, "undeliverable_at": at}
        )

    def _moved(self, at: datetime, channel: str) -> None:
        """The customer gives a new address: ``identify`` adds it."""
        rng = self.rng
        city, postcode = rng.choice(_CITIES)
        street = f"{rng.choice(_STREETS)} {self.n // len(_STREETS) + 1}a"
        raw = f"{street}, {postcode + rng.randrange(80)} AA {city}"
        wanted = collect_identifiers(address=raw, region="NL", channels=self.batch.shadow.channels)
        self.identities.append(
            Identity(
                id=new_id(),
                customer_id=self.id,
                kind=IdentityKind.POSTAL,
                value=wanted[0].value,
                raw=raw,
                source=channel,
                first_seen_at=at,
                last_seen_at=at,
            )
        )

    def _seen(self, channel: str, at: datetime) -> None:
        kind = {"phone": "phone", "sms": "phone", "whatsapp": "phone", "email": "email"}.get(
            channel
        )
        if channel == "twitter":
            kind = "handle"
        elif channel in ("webshop", "app"):
            kind = "external" if self.webshop else "email"
        if kind is not None:
            self.seen.setdefault(kind, []).append(at)

    def _finish(self) -> None:
        """The customer as stored: identities seen again get ``last_seen_at`` the way
        ``identify`` writes it (once a day at most)."""
        identities = []
        for identity in self.identities:
            last = identity.last_seen_at
            for at in sorted(self.seen.get(identity.kind.value, ())):
                if at - last >= _DAY:
                    last = at
            if last != identity.last_seen_at:
                identity = identity.model_copy(update={"last_seen_at": last})
            identities.append(identity)
        self.batch.customers.append(
            Customer.trusted(
                id=self.id,
                name=self.name,
                language=self.language,
                attributes={"vip": True} if self.vip else {},
                identities=tuple(identities),
                created_at=self.created,
                updated_at=self.updated,
            )
        )

    # choices -------------------------------------------------------------------------

    def _channel(self, weights: dict[str, int]) -> str:
        usable = {c: w for c, w in weights.items() if self._can(c)}
        return _pick(self.rng, usable) if usable else ("email" if self.has_email else "phone")

    def _can(self, channel: str) -> bool:
        need = _NEEDS.get(channel)
        return (
            need is None
            or (need == "phone" and self.has_phone)
            or (need == "email" and self.has_email)
            or (need == "twitter" and self.handle is not None)
            or (need == "address" and self.address is not None)
        )

    def _agent(self, channel: str, besides: str | None = None) -> str:
        if channel == "store":
            pool: Sequence[str] = _STORES
        elif channel == "twitter":
            pool = _SOCIAL_AGENTS
        else:
            pool = _AGENTS[self.language]
        choices = [a for a in pool if a != besides] or list(pool)
        return self.rng.choice(choices)

    def _queue(self, channel: str, purpose: str) -> tuple[str, Priority]:
        if channel == "twitter":
            return "social", Priority.HIGH if purpose == "complaint" else Priority.NORMAL
        if self.vip:
            return "vip", Priority.HIGH
        if purpose == "complaint":
            return "complaints", Priority.HIGH
        if purpose in ("return", "repair"):
            return "returns", Priority.NORMAL
        roll = self.rng.random()
        if purpose == "product_question" and roll < 0.4:
            return "service", Priority.LOW
        return "service", Priority.HIGH if roll > 0.95 else Priority.NORMAL


_PRODUCTS = (
    "cordless drill",
    "garden hose 25 m",
    "LED desk lamp",
    "coffee grinder",
    "winter jacket",
    "running shoes",
    "robot vacuum",
    "bookcase, oak",
    "kettle",
    "headphones",
)


def _pick(rng: random.Random, weights: dict[_T, int]) -> _T:
    items = list(weights)
    return rng.choices(items, weights=[weights[i] for i in items])[0]


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth), for counts of stories per customer."""
    limit, k, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _waking(rng: random.Random, at: datetime, first: int, last: int) -> datetime:
    """``at``, or the next moment between ``first`` and ``last`` o'clock (Amsterdam)."""
    local = at.astimezone(_ZONE)
    if first <= local.hour < last:
        return at
    day = local.date() + (_DAY if local.hour >= last else timedelta(0))
    moment = datetime.combine(day, clock_time(first), _ZONE) + timedelta(
        minutes=rng.uniform(0, 60 * min(3, last - first))
    )
    return moment.astimezone(UTC)
