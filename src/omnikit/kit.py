"""The ``Omnikit`` facade: the one object an application holds.

It wires the channel registry, identity normalisation and the store together, and
owns the clock every time-dependent rule asks. Each public call is one store
transaction: it either happens whole or leaves the store as it was.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, TypedDict

from pydantic import JsonValue

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import Clock, require_utc, system_clock
from omnikit.adapters.base import InboundRequest
from omnikit.analytics import Analytics
from omnikit.card import card_alerts
from omnikit.cases import Cases, join
from omnikit.channels import ChannelRegistry
from omnikit.continuity import continue_case
from omnikit.customers import Customers
from omnikit.errors import (
    AmbiguousIdentityError,
    ConflictError,
    NotFoundError,
    OmnikitError,
    ValidationError,
)
from omnikit.events import EventHandler, Events
from omnikit.identity import normalize_address, normalize_phone, normalize_region
from omnikit.inbound import Adapters, ReceiveResult, receive
from omnikit.merge import survivor
from omnikit.message import Message
from omnikit.model import (
    Attachment,
    CallerMatch,
    Case,
    CaseStatus,
    Customer,
    CustomerCard,
    Delivery,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    Journey,
    NotifyResult,
    RoutingDecision,
)
from omnikit.outbound import Consent, Policies, PreferenceBook, Preview, notify, preview, send
from omnikit.outbox import Outbox, Webhooks
from omnikit.routing import Routing, route
from omnikit.store import Store, StoreTransaction, open_store

__all__ = [
    "DEFAULT_CONTINUITY_WINDOW",
    "DEFAULT_REOPEN_WINDOW",
    "DEFAULT_URL",
    "Omnikit",
    "RecordData",
]

log = logging.getLogger("omnikit")

DEFAULT_URL = "sqlite:///omnikit.db"
"""The store used when neither a URL nor ``OMNIKIT_URL`` is given: a file in the
working directory."""

DEFAULT_CONTINUITY_WINDOW = timedelta(days=7)
"""How recently a case must have been active for a new contact to continue it."""

DEFAULT_REOPEN_WINDOW = timedelta(hours=72)
"""How soon after resolution a contact reopens a case instead of starting a follow-up."""

_OPEN = [status.value for status in CaseStatus if status.is_open]


class RecordData(TypedDict, total=False):
    """One interaction for ``kit.record_many``: the keyword arguments of ``kit.record``."""

    customer: str | Customer
    channel: str
    direction: Direction | Literal["inbound", "outbound", "internal"]
    kind: str
    text: str | None
    subject: str | None
    occurred_at: datetime | None
    external_id: str | None
    case: str | Case | None
    agent: str | None
    purpose: str | Iterable[str]
    metadata: Mapping[str, JsonValue] | None
    attachments: Iterable[Attachment]


_REQUIRED = ("customer", "channel", "direction", "kind")
_FIELDS = frozenset(RecordData.__annotations__)


class Omnikit:
    """Record, recognise and route customer contacts across every channel.

    ``Omnikit()`` opens the store named by ``OMNIKIT_URL``, or an SQLite file
    ``omnikit.db`` in the working directory; ``Omnikit("sqlite:///:memory:")`` keeps
    everything in memory. ``default_region`` (``"NL"``) reads phone numbers and
    addresses written without a country; ``clock`` (a function returning an aware
    datetime) replaces the wall clock for every time-dependent rule.

    ``continuity_window`` (default 7 days) is how recently a case must have been
    active for an inbound contact to join it by itself, and ``reopen_window`` (default
    72 hours) how soon after resolution such a contact reopens the case rather than
    start a follow-up; ``None`` turns either off (see ``docs/cases.md``).

    The kit is safe to share between threads. Close it (or use it as a context
    manager) to release the store's connections.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        default_region: str | None = None,
        clock: Clock | None = None,
        merge_policy: Literal["never", "verified"] = "never",
        continuity_window: timedelta | None = DEFAULT_CONTINUITY_WINDOW,
        reopen_window: timedelta | None = DEFAULT_REOPEN_WINDOW,
        pool_size: int | None = None,
        max_overflow: int | None = None,
        pool_timeout: float | None = None,
        pool_recycle: int | None = None,
    ) -> None:
        if clock is not None and not callable(clock):
            raise ValidationError(f"clock must be a function returning a datetime, not {clock!r}")
        self.default_region: str | None = normalize_region(default_region)
        """The region for numbers and addresses written without a country."""
        self._clock: Clock = clock or system_clock
        if merge_policy not in ("never", "verified"):
            raise ValidationError(
                f"merge_policy {merge_policy!r} is not one of 'never', 'verified'"
            )
        self.merge_policy: Literal["never", "verified"] = merge_policy
        """When ``identify`` may merge customers by itself: ``"never"`` (ambiguity is
        an error), or ``"verified"`` (when every identity involved is verified)."""
        for name, window in (
            ("continuity_window", continuity_window),
            ("reopen_window", reopen_window),
        ):
            if window is not None and (not isinstance(window, timedelta) or window <= timedelta(0)):
                raise ValidationError(
                    f"{name} {window!r} must be a positive timedelta, or None to turn it off"
                )
        self.continuity_window: timedelta | None = continuity_window
        """How recently a case must have been active for an inbound contact to join it
        (``None``: contacts join cases only when told)."""
        self.reopen_window: timedelta | None = reopen_window
        """How soon after resolution a contact reopens the case (``None``: never; a
        follow-up case starts instead)."""
        self.events = Events()
        """The handlers ``on`` registers."""
        self.channels = ChannelRegistry()
        """The channels this kit knows: the built-in ones and any registered."""
        if url is None:
            url = os.environ.get("OMNIKIT_URL") or DEFAULT_URL
        self.store: Store = open_store(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=pool_recycle,
        )
        """The store the kit writes to."""
        self.customers = Customers(self)
        """Find, create and read customers."""
        self.cases = Cases(self)
        """Open, assign and move cases."""
        self.routing = Routing(self)
        """The agents and queues routing chooses from."""
        self.adapters = Adapters(self)
        """The channel adapters this kit receives from and sends through."""
        self.policies = Policies(self)
        """The business's rules per purpose of messages: consent, caps, criticality."""
        self.preferences = PreferenceBook(self)
        """How each customer wants to hear from the business."""
        self.consent = Consent(self)
        """Consent per customer, purpose and channel, with its history."""
        self.outbox = Outbox(self)
        """Promised deliveries and the worker that sends them."""
        self.webhooks = Webhooks(self)
        """Systems that receive the kit's events as signed POSTs."""
        self.events.durable = self.webhooks.wants
        self.analytics = Analytics(self)
        """Contact volumes, channel switches and paths, channel performance."""

    def __repr__(self) -> str:
        return f"Omnikit({self.store.url!r}, default_region={self.default_region!r})"

    def __enter__(self) -> Omnikit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the store's connections. The kit cannot be used afterwards."""
        self.outbox.close()
        self.store.close()

    @contextmanager
    def _writing(self) -> Iterator[StoreTransaction]:
        """A write transaction whose events reach handlers after commit and webhook
        subscribers through the outbox, written in the same transaction."""
        self.webhooks.refresh()
        with self.events.collecting(), self.store.transaction(write=True) as tx:
            mark = self.events.mark()
            yield tx
            self.webhooks.persist(tx, self.events.since(mark))

    def now(self) -> datetime:
        """The current time by the kit's clock, in UTC."""
        return require_utc(self._clock(), "the kit's clock returned")

    def on(self, event_type: str, handler: EventHandler) -> EventHandler:
        """Call ``handler(event)`` after every committed change of ``event_type``:
        ``customer.created``, ``customer.merged``, ``interaction.recorded``,
        ``case.opened``, ``case.assigned``, ``case.transitioned``, ``sla.breached``,
        or ``"*"`` for all. A rolled-back call emits nothing; a handler that raises is
        logged and undoes nothing. Returns ``handler``.
        """
        return self.events.on(event_type, handler)

    def route(
        self, case_or_interaction: Case | Interaction | str, *, channel: str | None = None
    ) -> RoutingDecision:
        """Send a case or an interaction to an agent or a queue and say why.

        The case's owner or the customer's previous agent first (when available with
        room), else the least loaded agent who qualifies for the first queue whose
        rules match, else a place in that queue (see ``docs/routing.md``). The
        decision goes into the case's history; an assigned agent's capacity on the
        channel is taken until ``kit.routing.release`` or the case is resolved.
        ``channel`` overrides the channel the contact came in on.

        Raises ``NotFoundError`` for an unknown id, ``ConflictError`` for a case that
        is resolved or closed and ``ValidationError`` for a case with no channel.
        """
        return route(self, case_or_interaction, channel=channel)

    def receive(self, adapter: str, request: InboundRequest) -> ReceiveResult:
        """Turn one webhook request into recorded interactions and the provider's answer.

        The configured adapter ``adapter`` answers a subscription challenge, or verifies
        the request's signature, parses it, and for each event: identifies the sender
        (an identifier it cannot read, such as a withheld caller ID, is left out; a
        sender with none left gets a customer of its own) and records the
        message idempotently by the provider's id, or moves the interaction a delivery
        status names forward (never back: read stays read). ``result.response`` is what
        the provider expects back.

        Raises ``UnknownAdapterError`` for an adapter not configured, ``SignatureError``
        for a forged, tampered, missing or stale signature (nothing is recorded),
        ``PayloadError`` for a body that cannot be read and ``StoreError`` when the store
        fails: events recorded before the failure stay, and a retry records the rest.
        """
        return receive(self, adapter, request)

    # outbound ----------------------------------------------------------------------------

    def notify(
        self,
        customer_id: str | Customer,
        message: Message | str,
        *,
        purpose: str,
        critical: bool = False,
        data: Mapping[str, JsonValue] | None = None,
    ) -> NotifyResult:
        """Send ``message`` to the customer for ``purpose`` on the channels their
        preferences and the purpose's policy allow, and say why per channel.

        Channels are tried in the customer's order for the purpose (else the policy's):
        each is skipped with a reason (opted out, no consent where required, no or an
        undeliverable address, no adapter, too long, outside a session window without
        a template, frequency cap), deferred to the end of quiet hours, or queued in
        the outbox with its outbound interaction, in one transaction. ``critical`` (or
        a critical policy) bypasses quiet hours and caps, never an opt-out. With the
        policy's ``reach="first"`` one channel is used and the rest are kept for
        fallback when it fails for good. ``data`` fills the message's templates.

        Raises ``NotFoundError`` for an unknown customer, ``ValidationError`` for an
        unknown purpose or bad data, ``TemplateError`` for a template that cannot
        render and ``MessageTooLongError`` when the message fits no channel; nothing
        is queued then.
        """
        return notify(self, customer_id, message, purpose=purpose, critical=critical, data=data)

    def send(
        self,
        customer_id: str | Customer,
        channel: str,
        message: Message | str,
        *,
        case: str | Case | None = None,
        agent: str | None = None,
        purpose: str = "service",
        data: Mapping[str, JsonValue] | None = None,
    ) -> Delivery:
        """Queue an agent's message to the customer on ``channel`` (a reply on
        ``case``, threaded onto the customer's last message there).

        No quiet hours or caps apply, and a service message needs no consent; an
        opt-out still holds, and so do a missing or undeliverable address, a missing
        adapter and a closed session window: the delivery then says ``skipped`` and why.

        Raises ``NotFoundError`` for an unknown customer or case,
        ``UnknownChannelError`` for an unknown channel, ``TemplateError`` and
        ``MessageTooLongError`` as ``notify`` does.
        """
        return send(
            self,
            customer_id,
            channel,
            message,
            case=case,
            agent=agent,
            purpose=purpose,
            data=data,
        )

    def preview(
        self,
        customer_id: str | Customer,
        message: Message | str,
        *,
        purpose: str,
        critical: bool = False,
        data: Mapping[str, JsonValue] | None = None,
        channels: Sequence[str] | None = None,
    ) -> Preview:
        """What ``notify`` would decide, and what each channel would get, without
        writing anything. ``channels`` previews those channels instead of the
        customer's preferred ones. Raises as ``notify`` does.
        """
        return preview(
            self,
            customer_id,
            message,
            purpose=purpose,
            critical=critical,
            data=data,
            channels=channels,
        )

    # recording ---------------------------------------------------------------------------

    def record(
        self,
        *,
        customer: str | Customer,
        channel: str,
        direction: Direction | Literal["inbound", "outbound", "internal"],
        kind: str,
        text: str | None = None,
        subject: str | None = None,
        occurred_at: datetime | None = None,
        external_id: str | None = None,
        case: str | Case | None = None,
        agent: str | None = None,
        purpose: str | Iterable[str] = (),
        metadata: Mapping[str, JsonValue] | None = None,
        attachments: Iterable[Attachment] = (),
    ) -> Interaction:
        """Record one interaction and return it; the same ``(channel, external_id)``
        again returns the first one unchanged.

        ``occurred_at`` defaults to now by the kit's clock and must be timezone-aware.
        ``case`` attaches the interaction to a case of the same customer.

        Raises ``NotFoundError`` for an unknown customer or case,
        ``UnknownChannelError`` for an unregistered channel, ``ValidationError`` for a
        bad value (naive datetime, text over 1 MiB, metadata that is not JSON), and
        ``ConflictError`` when the external id is recorded for another customer.
        """
        interaction = self._interaction(
            customer=customer,
            channel=channel,
            direction=direction,
            kind=kind,
            text=text,
            subject=subject,
            occurred_at=occurred_at,
            external_id=external_id,
            case=case,
            agent=agent,
            purpose=purpose,
            metadata=metadata,
            attachments=attachments,
        )
        with self._writing() as tx:
            return self._store_interactions(tx, [interaction], follow=True)[0]

    def record_many(self, records: Iterable[RecordData | Mapping[str, Any]]) -> list[Interaction]:
        """Record a batch of interactions in one transaction, idempotently; return them
        in input order (the first recording where an external id was already known).

        Each record takes ``kit.record``'s keyword arguments. A bad record rejects the
        whole batch, naming its position, and nothing is written.
        """
        if isinstance(records, Mapping) or not isinstance(records, Iterable):
            raise ValidationError("record_many() takes an iterable of records (mappings)")
        batch = []
        with _position(many=True) as at:
            for at.position, record in enumerate(records):
                if not isinstance(record, Mapping):
                    kind = type(record).__name__
                    raise ValidationError(f"a record must be a mapping, not {kind}")
                unknown = sorted(set(record) - _FIELDS)
                if unknown:
                    raise ValidationError(f"unknown field(s) {', '.join(map(repr, unknown))}")
                missing = [name for name in _REQUIRED if name not in record]
                if missing:
                    raise ValidationError(f"missing field(s) {', '.join(map(repr, missing))}")
                batch.append(self._interaction(**record))
        if not batch:
            return []
        with self._writing() as tx:
            return self._store_interactions(tx, batch, many=True)

    def _interaction(
        self,
        *,
        customer: object,
        channel: object,
        direction: object,
        kind: object,
        text: object = None,
        subject: object = None,
        occurred_at: object = None,
        external_id: object = None,
        case: object = None,
        agent: object = None,
        purpose: object = (),
        metadata: object = None,
        attachments: object = (),
    ) -> Interaction:
        """Validate one interaction's fields; nothing here touches the store."""
        channel_id = self.channels.get(channel).id  # type: ignore[arg-type]
        now = self.now()
        when = now if occurred_at is None else require_utc(occurred_at, "occurred_at")
        return Interaction.trusted(
            id=new_id(),
            customer_id=_validate.object_id(_id_of(customer), "customer"),
            channel=channel_id,
            direction=_validate.choice(Direction, direction, "direction"),
            kind=_validate.name_id(kind, "interaction kind"),
            occurred_at=when,
            recorded_at=now,
            text=_validate.optional_text(text, "text"),
            subject=_validate.optional_text(subject, "subject", max_chars=1000),
            attachments=_attachments(attachments),
            external_id=_external_id(external_id),
            case_id=None if case is None else _validate.object_id(_id_of(case), "case"),
            agent=_validate.optional_text(agent, "agent", max_chars=128),
            purpose=_validate.tags(purpose, "purpose"),
            status=None,
            metadata=_validate.json_object(metadata, "metadata"),
        )

    def _store_interactions(
        self,
        tx: StoreTransaction,
        batch: list[Interaction],
        *,
        many: bool = False,
        follow: bool = False,
        current: bool = False,
    ) -> list[Interaction]:
        """Check and insert ``batch`` inside ``tx``; errors name the record's position.

        An interaction for a customer that was merged goes to the survivor (``current``:
        the caller has just read the customer in ``tx``, unmerged). With ``follow``, an
        inbound interaction that names no case joins the case it continues
        (``omnikit.continuity``).
        """
        if current:
            customers = {i.customer_id: i.customer_id for i in batch}
        elif len(batch) == 1:
            found = tx.resolve_customer(batch[0].customer_id)
            customers = {} if found is None else {batch[0].customer_id: found}
        else:  # one query per 500 customers, not one per customer
            customers = tx.resolve_customers([i.customer_id for i in batch])
        cases: dict[str, Case] = {}
        with _position(many) as at:
            for at.position, interaction in enumerate(batch):
                owner = customers.get(interaction.customer_id)
                if owner is None:
                    raise NotFoundError(f"no customer with id {interaction.customer_id!r}")
                if owner != interaction.customer_id:
                    batch[at.position] = interaction = interaction.model_copy(
                        update={"customer_id": owner}
                    )
                if interaction.case_id is not None:
                    case = cases.get(interaction.case_id) or tx.get_case(interaction.case_id)
                    if case is None:
                        raise NotFoundError(f"no case with id {interaction.case_id!r}")
                    cases[case.id] = case
                    if case.customer_id != interaction.customer_id:
                        raise ValidationError(
                            f"case {case.id} belongs to customer {case.customer_id}, "
                            f"not to customer {interaction.customer_id}"
                        )
        if len(batch) == 1:
            inserted = tx.insert_interaction(batch[0])
        else:
            inserted = tx.insert_interactions(batch) == len(batch)
        result = batch
        if not inserted:
            result = []
            with _position(many) as at:
                for at.position, interaction in enumerate(batch):
                    result.append(_first_recording(tx, interaction))
        for position, (new, stored) in enumerate(zip(batch, result, strict=True)):
            if stored.id != new.id:
                continue  # recorded before: nothing happens twice
            if new.case_id is not None:
                cases[new.case_id] = join(self, tx, cases[new.case_id], new, new.agent, stored=True)
            elif follow and self.continuity_window is not None:
                case = continue_case(self, tx, new)
                if case is not None:
                    result[position] = new = new.model_copy(update={"case_id": case.id})
            if new.kind == "returned_mail" and new.channel == "post":
                self._mark_returned(tx, new)
            self.events.add(
                "interaction.recorded",
                at=new.recorded_at,
                customer_id=new.customer_id,
                interaction=new,
            )
        log.debug("recorded %d interaction(s)", len(batch))
        return result

    def _mark_returned(self, tx: StoreTransaction, letter: Interaction) -> None:
        """Mark the address a returned letter went to as undeliverable.

        The address is ``metadata["address"]`` when given (added to the customer if it
        is new to them), else the customer's newest deliverable postal address.
        """
        customer = tx.get_customer(letter.customer_id)
        assert customer is not None  # resolved before the insert
        postal = [i for i in customer.identities if i.kind is IdentityKind.POSTAL]
        raw = letter.metadata.get("address")
        reason = letter.metadata.get("reason") or "returned to sender"
        if raw is not None:
            if not isinstance(raw, str):
                raise ValidationError(f"metadata address {raw!r} must be a string")
            value = normalize_address(raw, self.default_region)
            target = next((i for i in postal if i.value == value), None)
            if target is None:
                if tx.find_identities(IdentityKind.POSTAL.value, "", value):
                    # Another customer lives there: their post is not this letter's fault.
                    log.debug("returned letter %s names another customer's address", letter.id)
                    return
                target = Identity(
                    id=new_id(),
                    customer_id=customer.id,
                    kind=IdentityKind.POSTAL,
                    value=value,
                    raw=raw,
                    source="post",
                    first_seen_at=letter.occurred_at,
                    last_seen_at=letter.occurred_at,
                )
                tx.insert_identity(target)
        else:
            usable = [i for i in postal if not i.undeliverable]
            if not usable:
                return
            target = max(usable, key=lambda i: (i.first_seen_at, i.id))
        tx.update_identity(
            target.model_copy(
                update={"undeliverable_reason": str(reason), "undeliverable_at": letter.occurred_at}
            )
        )

    # reading -------------------------------------------------------------------------------

    def caller_id(self, number: str | None, *, region: str | None = None) -> CallerMatch:
        """Who is calling from ``number``, in any written form.

        ``region`` (default: the kit's ``default_region``) reads national numbers. A
        withheld, empty or unreadable caller ID is ``"unknown"``, never an error: it
        is provider data. A shared number held by several customers is
        ``"ambiguous"`` with the ``candidates``; one holder is ``"known"`` with its
        ``card``.
        """
        where = normalize_region(region) if region is not None else self.default_region
        try:
            e164 = normalize_phone(number, where) if isinstance(number, str) else None
        except OmnikitError:
            e164 = None
        if e164 is None:
            return CallerMatch(status="unknown")
        with self.store.transaction() as tx:
            # The common case, one holder of the number: one query finds the customer.
            customer = tx.customer_by_identity(IdentityKind.PHONE.value, "", e164)
            if customer is None:
                owners: list[str] = []
                for identity in tx.find_identities(IdentityKind.PHONE.value, "", e164):
                    owner = tx.resolve_customer(identity.customer_id)
                    if owner is not None and owner not in owners:
                        owners.append(owner)
                if not owners:
                    return CallerMatch(status="unknown", number=e164)
                if len(owners) > 1:
                    candidates = tuple(c for c in map(tx.get_customer, owners) if c is not None)
                    return CallerMatch(status="ambiguous", number=e164, candidates=candidates)
                customer = tx.get_customer(owners[0])
                assert customer is not None  # resolved inside this transaction
            card = self._card_of(tx, customer, 20)
        return CallerMatch(
            status="known",
            number=e164,
            customer=card.customer,
            candidates=(card.customer,),
            card=card,
        )

    def customer_card(self, customer_id: str | Customer, *, limit: int = 20) -> CustomerCard:
        """What an agent sees first: the customer, their identities, the ``limit``
        newest interactions on any channel, their open cases and a per-channel summary.

        Raises ``NotFoundError`` for an unknown customer.
        """
        customer_id = _validate.object_id(_id_of(customer_id), "customer")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 1000:
            raise ValidationError(f"limit {limit!r} must be a whole number from 0 to 1000")
        with self.store.transaction() as tx:
            return self._card(tx, customer_id, limit)

    def _card(self, tx: StoreTransaction, customer_id: str, limit: int) -> CustomerCard:
        return self._card_of(tx, survivor(tx, customer_id), limit)

    def _card_of(self, tx: StoreTransaction, customer: Customer, limit: int) -> CustomerCard:
        now = self.now()
        recent, cases, channels = tx.customer_activity(customer.id, limit, _OPEN, 1000)
        open_cases = tuple(cases)
        return CustomerCard.trusted(
            customer=customer,
            identities=customer.identities,
            recent=tuple(recent),
            open_cases=open_cases,
            channels=tuple(channels),
            alerts=card_alerts(customer, open_cases, now),
            as_of=now,
        )

    def journey(self, customer_id: str | Customer) -> Journey:
        """Every interaction of the customer, oldest first, and the channels they took.

        Raises ``NotFoundError`` for an unknown customer.
        """
        customer_id = _validate.object_id(_id_of(customer_id), "customer")
        with self.store.transaction() as tx:
            resolved = tx.resolve_customer(customer_id)
            if resolved is None:
                raise NotFoundError(f"no customer with id {customer_id!r}")
            return Journey.trusted(customer_id=resolved, steps=tuple(tx.timeline(resolved)))


def _first_recording(tx: StoreTransaction, interaction: Interaction) -> Interaction:
    """The stored interaction an idempotent insert of ``interaction`` collided with."""
    if interaction.external_id is None:
        return interaction
    stored = tx.interaction_by_external_id(interaction.channel, interaction.external_id)
    if stored is None:  # pragma: no cover - the insert was skipped for this key
        raise ConflictError(f"interaction {interaction.external_id!r} vanished while recording")
    if stored.customer_id != interaction.customer_id:
        raise ConflictError(
            f"external id {interaction.external_id!r} on channel {interaction.channel!r} is "
            f"already recorded for customer {stored.customer_id}, not {interaction.customer_id}"
        )
    return stored


class _Position:
    position = 0


@contextmanager
def _position(many: bool) -> Iterator[_Position]:
    """Prefix errors about one record of a batch with its position (``records[2]: …``).

    The loop inside assigns ``at.position`` as it goes.
    """
    at = _Position()
    try:
        yield at
    except AmbiguousIdentityError:
        raise
    except OmnikitError as error:
        if not many:
            raise
        raise type(error)(f"records[{at.position}]: {error}") from None


def _id_of(value: object) -> object:
    return value.id if isinstance(value, Customer | Case) else value


def _external_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise ValidationError(
            f"external_id {value!r} must be a non-empty string of at most 256 characters"
        )
    return _validate.optional_text(value, "external_id")


def _attachments(value: object) -> tuple[Attachment, ...]:
    if isinstance(value, Attachment):
        return (value,)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(f"attachments must be a list of Attachment, not {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, Attachment):
            raise ValidationError(f"attachments must be Attachment objects, not {item!r}")
    return items
