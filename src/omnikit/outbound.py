"""Outbound messaging: which channels a message may use, and putting it in the outbox.

``kit.preferences``, ``kit.consent`` and ``kit.policies`` hold the customer's and the
business's rules; ``notify`` (``kit.notify``) weighs them per channel, in the
customer's order of preference, and writes each delivery it decides on to the outbox
in the same transaction as its outbound interaction. ``send`` (``kit.send``) is an
agent's direct reply, and ``preview`` (``kit.preview``) decides without writing.

The decision for one channel, in order (the first rule that stops it is the reason):
the channel can carry outbound messages; consent (required for the purpose, or not
withdrawn); a deliverable address of the channel's identity kind; an adapter that
sends on the channel; the message fits the channel; a session window (WhatsApp)
is open or the message has a template; then, unless the message is critical, the
frequency caps and the customer's quiet hours (which defer rather than skip).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import require_utc, to_micros
from omnikit.adapters.base import Adapter, OutboundMessage
from omnikit.errors import MessageTooLongError, NotFoundError, OmnikitError, ValidationError
from omnikit.merge import survivor
from omnikit.message import Message, Rendered, render
from omnikit.model import (
    Case,
    Channel,
    ConsentRecord,
    Customer,
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Direction,
    Identity,
    IdentityKind,
    Interaction,
    NotifyResult,
    OutboxItem,
    OutboxStatus,
    Policy,
    Preferences,
    QuietHours,
)
from omnikit.model._base import Model
from omnikit.model.outbound import zone
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = [
    "DEFAULT_POLICIES",
    "Consent",
    "Policies",
    "PreferenceBook",
    "Preview",
    "notify",
    "preview",
    "send",
]

DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy(purpose="service"),
    Policy(purpose="order_updates"),
    Policy(purpose="marketing", consent_required=True),
    Policy(purpose="security", critical=True),
)
"""The purposes every kit knows from the start; ``kit.policies.set`` replaces them."""

SESSION_WINDOWS: dict[str, timedelta] = {"whatsapp": timedelta(hours=24)}
"""Channels where free-form messages need a customer message within this window;
outside it only a provider template may be sent. An adapter's
``capabilities.session_window`` takes precedence."""

_ANY = "*"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class Policies:
    """The business's rules per purpose (``kit.policies``)."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit
        self._policies: dict[str, Policy] = {p.purpose: p for p in DEFAULT_POLICIES}

    def __repr__(self) -> str:
        return f"<Policies {sorted(self._policies)}>"

    def set(self, policy: Policy) -> Policy:
        """Add or replace the policy for ``policy.purpose``; return it.

        Raises ``UnknownChannelError`` when it names a channel the kit does not know and
        ``ValidationError`` for a channel that cannot carry outbound messages.
        """
        if not isinstance(policy, Policy):
            raise ValidationError(f"policies.set() takes a Policy, not {policy!r}")
        for channel_id in (*policy.channels, *(c.channel for c in policy.caps if c.channel)):
            _outbound_channel(self._kit, channel_id)
        self._policies[policy.purpose] = policy
        return policy

    def get(self, purpose: str) -> Policy:
        """The policy for ``purpose``; ``ValidationError`` naming the known ones if none."""
        policy = self._policies.get(purpose) if isinstance(purpose, str) else None
        if policy is None:
            known = ", ".join(sorted(self._policies))
            raise ValidationError(
                f"{purpose!r} is not a known purpose; known: {known} "
                "(add one with kit.policies.set(Policy(purpose=...)))"
            )
        return policy

    def remove(self, purpose: str) -> None:
        """Forget the policy for ``purpose``; ``ValidationError`` when there is none."""
        self.get(purpose)
        del self._policies[purpose]

    def __contains__(self, purpose: object) -> bool:
        return purpose in self._policies

    def __iter__(self) -> Iterator[Policy]:
        return iter(list(self._policies.values()))

    def __len__(self) -> int:
        return len(self._policies)


class PreferenceBook:
    """How each customer wants to hear from the business (``kit.preferences``)."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit

    def get(self, customer: str | Customer) -> Preferences:
        """The customer's preferences (empty ones when none are set).

        Raises ``NotFoundError`` for an unknown customer.
        """
        customer_id = _customer_id(customer)
        with self._kit.store.transaction() as tx:
            found = survivor(tx, customer_id)
            return tx.get_preferences(found.id) or Preferences(customer_id=found.id)

    def set(
        self,
        customer: str | Customer,
        *,
        channels: Mapping[str, Sequence[str]] = UNSET,
        quiet_hours: QuietHours | None = UNSET,
        language: str | None = UNSET,
    ) -> Preferences:
        """Change what is given and keep the rest; return the preferences now held.

        ``channels`` maps a purpose to the channels wanted for it, most preferred first
        (``{"order_updates": ["app", "email"]}``); an empty list forgets the purpose's
        preference (the policy's order applies again). Purposes not named keep theirs.
        ``quiet_hours`` (``None`` clears them) and ``language`` (a BCP 47 tag, ``None``
        clears it) replace the old values.

        Raises ``NotFoundError`` for an unknown customer, ``ValidationError`` for an
        unknown purpose, a channel that cannot carry outbound messages or a malformed
        quiet-hours value, and ``UnknownChannelError`` for an unknown channel.
        """
        customer_id = _customer_id(customer)
        wanted: dict[str, tuple[str, ...]] = {}
        if channels is not UNSET:
            if not isinstance(channels, Mapping):
                raise ValidationError(
                    f"channels must map a purpose to a list of channels, not {channels!r}"
                )
            for purpose, chosen in channels.items():
                self._kit.policies.get(purpose)
                if isinstance(chosen, str) or not isinstance(chosen, Sequence):
                    raise ValidationError(
                        f"channels for {purpose!r} must be a list of channel ids, not {chosen!r}"
                    )
                wanted[purpose] = tuple(_outbound_channel(self._kit, c).id for c in chosen)
        if quiet_hours not in (UNSET, None) and not isinstance(quiet_hours, QuietHours):
            raise ValidationError(f"quiet_hours must be a QuietHours or None, not {quiet_hours!r}")
        if language is not UNSET:
            language = _validate.language(language)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            found = survivor(tx, customer_id)
            old = tx.get_preferences(found.id) or Preferences(customer_id=found.id)
            merged = {**old.channels, **wanted}
            prefs = Preferences(
                customer_id=found.id,
                channels={p: c for p, c in merged.items() if c},
                quiet_hours=old.quiet_hours if quiet_hours is UNSET else quiet_hours,
                language=old.language if language is UNSET else language,
                updated_at=now,
            )
            tx.put_preferences(prefs, to_micros(now))
        return prefs


class Consent:
    """Consent per purpose and channel, kept as history (``kit.consent``)."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit

    def grant(
        self,
        customer: str | Customer,
        *,
        purpose: str,
        channel: str,
        source: str,
        actor: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> ConsentRecord:
        """Record that the customer agreed to messages for ``purpose`` on ``channel``
        (``"*"``: every channel), where (``source``), by whom (``actor``) and when
        (``at``, default now). The newest record for a purpose and channel holds.

        Raises ``NotFoundError`` for an unknown customer, ``ValidationError`` for an
        unknown purpose or an empty source, ``UnknownChannelError`` for an unknown
        channel.
        """
        return self._record(customer, True, purpose, channel, source, actor, note, at)

    def revoke(
        self,
        customer: str | Customer,
        *,
        purpose: str,
        channel: str,
        source: str,
        actor: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> ConsentRecord:
        """Record that the customer withdrew consent, or opted out, for ``purpose``
        (``"*"``: every purpose) on ``channel`` (``"*"``: every channel). No message of
        that purpose goes there afterwards, critical or not, until a newer grant.

        Raises as ``grant`` does.
        """
        return self._record(customer, False, purpose, channel, source, actor, note, at)

    def _record(
        self,
        customer: str | Customer,
        granted: bool,
        purpose: str,
        channel: str,
        source: str,
        actor: str | None,
        note: str | None,
        at: datetime | None,
    ) -> ConsentRecord:
        customer_id = _customer_id(customer)
        if not (purpose == _ANY and not granted):
            self._kit.policies.get(purpose)
        if channel != _ANY:
            channel = self._kit.channels.get(channel).id
        text = _validate.optional_text(source, "source", max_chars=500)
        if text is None or not text.strip():
            raise ValidationError(
                f"source {source!r} must say where consent was given or withdrawn"
            )
        now = self._kit.now()
        when = now if at is None else require_utc(at, "at")
        if when > now + timedelta(minutes=5):
            raise ValidationError(f"at {when.isoformat()} is in the future")
        with self._kit.store.transaction(write=True) as tx:
            found = survivor(tx, customer_id)
            record = ConsentRecord(
                id=new_id(),
                customer_id=found.id,
                purpose=purpose,
                channel=channel,
                granted=granted,
                at=when,
                source=text,
                actor=_validate.optional_text(actor, "actor", max_chars=128),
                note=_validate.optional_text(note, "note", max_chars=2000),
            )
            tx.insert_consent(record)
        return record

    def history(
        self, customer: str | Customer, *, purpose: str | None = None
    ) -> list[ConsentRecord]:
        """Every grant and withdrawal for the customer (and the customers merged into
        them), oldest first; only ``purpose``'s (and every-purpose withdrawals) when given.

        Raises ``NotFoundError`` for an unknown customer.
        """
        customer_id = _customer_id(customer)
        with self._kit.store.transaction() as tx:
            found = survivor(tx, customer_id)
            records = _consents(tx, found.id)
        if purpose is not None:
            records = [r for r in records if r.purpose in (purpose, _ANY)]
        return records

    def allowed(self, customer: str | Customer, *, purpose: str, channel: str) -> bool:
        """Whether a message for ``purpose`` may go to the customer on ``channel`` as far
        as consent goes (the purpose's policy decides whether consent is required)."""
        policy = self._kit.policies.get(purpose)
        channel = self._kit.channels.get(channel).id
        return _consented(policy, self.history(customer), channel) is None


class Preview(Model):
    """What ``kit.preview`` shows: the decision per channel and what each would get."""

    customer_id: str
    purpose: str
    deliveries: tuple[Delivery, ...]
    rendered: dict[str, Rendered]


# the decision ------------------------------------------------------------------------------


@dataclass
class _Context:
    """What one decision reads about a customer, read once."""

    kit: Omnikit
    tx: StoreTransaction
    customer: Customer
    policy: Policy
    prefs: Preferences
    consents: list[ConsentRecord]
    message: Message
    data: dict[str, JsonValue]
    critical: bool
    now: datetime
    notification: str = ""
    """The notification being decided: it counts once against an overall cap however
    many channels it reaches."""
    rendered: dict[str, Rendered] = field(default_factory=dict)
    too_long: int = 0


@dataclass
class _Choice:
    """One channel the decision found usable."""

    channel: Channel
    adapter: Adapter
    identity: Identity
    to: str
    rendered: Rendered
    until: datetime | None
    out: dict[str, JsonValue]
    """The ``OutboundMessage`` fields the outbox item carries (its key added on queueing)."""


def _context(
    kit: Omnikit,
    tx: StoreTransaction,
    customer_id: str,
    message: Message,
    policy: Policy,
    critical: bool,
    data: dict[str, JsonValue],
) -> _Context:
    customer = survivor(tx, customer_id)
    prefs = tx.get_preferences(customer.id) or Preferences(customer_id=customer.id)
    return _Context(
        kit=kit,
        tx=tx,
        customer=customer,
        policy=policy,
        prefs=prefs,
        consents=_consents(tx, customer.id),
        message=message,
        data=data,
        critical=critical or policy.critical,
        now=kit.now(),
    )


def _consents(tx: StoreTransaction, customer_id: str) -> list[ConsentRecord]:
    """The customer's consent records and those of customers merged into them: a
    withdrawal given under either id still holds."""
    records = tx.consents(customer_id, None)
    pending = tx.merged_from(customer_id)
    seen = {customer_id}
    while pending:
        other = pending.pop()
        if other in seen:
            continue
        seen.add(other)
        records += tx.consents(other, None)
        pending += tx.merged_from(other)
    if len(seen) > 1:
        records.sort(key=lambda r: (r.at, r.id))
    return records


def _consented(policy: Policy, records: Sequence[ConsentRecord], channel: str) -> str | None:
    """None when consent allows ``policy``'s messages on ``channel``, else the reason."""
    latest: ConsentRecord | None = None
    for record in records:  # oldest first: the last match is the newest
        if record.purpose in (policy.purpose, _ANY) and record.channel in (channel, _ANY):
            latest = record
    if latest is not None and not latest.granted:
        where = "every channel" if latest.channel == _ANY else latest.channel
        return (
            f"opted out of {policy.purpose if latest.purpose != _ANY else 'all messages'} "
            f"on {where} ({latest.source}, {latest.at:%Y-%m-%d})"
        )
    if policy.consent_required and latest is None:
        return f"no consent for {policy.purpose} on {channel} (the policy requires it)"
    return None


def _addresses(customer: Customer, channel: Channel) -> tuple[list[Identity], str | None]:
    """The identities that can address ``channel``, best first, or none and why not.

    The channel's identity kind (scoped to the channel for handles and external ids);
    on a handle channel an external id scoped to it comes first (a Telegram bot can
    write only to the numeric chat id). Verified and recently seen ones come first.
    """
    kind = channel.identity_kind
    if kind is None:
        return [], f"{channel.id} has no address to send to"
    scoped = kind in (IdentityKind.HANDLE, IdentityKind.EXTERNAL)
    kinds = (IdentityKind.EXTERNAL, kind) if kind is IdentityKind.HANDLE else (kind,)
    found = [
        i for i in customer.identities if i.kind in kinds and (not scoped or i.scope == channel.id)
    ]
    usable = sorted(
        (i for i in found if not i.undeliverable),
        key=lambda i: (kinds.index(i.kind), not i.verified, -to_micros(i.last_seen_at), i.id),
    )
    if usable:
        return usable, None
    what = f"{kind.value} identity" + (f" for {channel.id}" if scoped else "")
    if found:
        reasons = sorted({i.undeliverable_reason or "undeliverable" for i in found})
        return [], f"{what} marked undeliverable: {'; '.join(reasons)}"
    return [], f"no {what}"


def _sender(kit: Omnikit, channel: str) -> Adapter | None:
    """The first configured adapter that sends on ``channel``."""
    for adapter in kit.adapters:
        if channel in getattr(adapter, "sends", (adapter.channel,)):
            return adapter
    return None


def _recipient(adapter: Adapter, channel: str, value: str) -> str:
    recipient = getattr(adapter, "recipient", None)
    return str(recipient(channel, value)) if callable(recipient) else value


def _render(ctx: _Context, channel: Channel) -> Rendered | str:
    """The message as ``channel`` gets it, or why it cannot (too long)."""
    done = ctx.rendered.get(channel.id)
    if done is not None:
        return done
    language = ctx.prefs.language or ctx.customer.language
    try:
        rendered = render(ctx.message, channel, language=language, data=ctx.data)
    except MessageTooLongError as error:
        ctx.too_long += 1
        return str(error)
    ctx.rendered[channel.id] = rendered
    return rendered


def _evaluate(
    ctx: _Context,
    channel_id: str,
    *,
    caps: bool = True,
    quiet: bool = True,
    reply_to: str | None = None,
) -> _Choice | str:
    """Whether the message can go out on ``channel_id``: a choice, or the reason not."""
    kit = ctx.kit
    channel = kit.channels.get(channel_id)
    if not channel.outbound:
        return f"{channel.id} cannot carry outbound messages"
    refused = _consented(ctx.policy, ctx.consents, channel.id)
    if refused is not None:
        return refused
    identities, missing = _addresses(ctx.customer, channel)
    if not identities:
        return missing or "no address"
    adapter = _sender(kit, channel.id)
    if adapter is None:
        return f"no adapter is configured to send on {channel.id}"
    rendered = _render(ctx, channel)
    if isinstance(rendered, str):
        return rendered
    window = adapter.capabilities.session_window or SESSION_WINDOWS.get(channel.id)
    if window is not None:
        last = ctx.tx.last_inbound(ctx.customer.id, channel.id)
        closed = last is None or last < to_micros(ctx.now - window)
        if closed and rendered.template is None:
            hours = window.total_seconds() / 3600
            return (
                f"outside {channel.name}'s {hours:g}-hour session window and the message has "
                f"no approved template for {channel.id}"
            )
        if not closed and rendered.text and rendered.template is not None:
            # Inside the window free-form text is allowed: send the text itself.
            rendered = rendered.model_copy(update={"template": None, "template_params": ()})
    if caps and not ctx.critical:
        capped = _capped(ctx, channel.id)
        if capped is not None:
            return capped
    until = None
    quiet_hours = ctx.prefs.quiet_hours
    if quiet and not ctx.critical and quiet_hours is not None:
        until = quiet_hours.until(ctx.now)
    if rendered.template is not None and not adapter.capabilities.templates:
        if not rendered.text:
            return f"the message has only a provider template, which {adapter.name} cannot send"
        rendered = rendered.model_copy(update={"template": None, "template_params": ()})
    identity, to = None, ""
    refusals = []
    for candidate in identities:
        try:
            identity, to = candidate, _recipient(adapter, channel.id, candidate.value)
            break
        except OmnikitError as error:
            refusals.append(str(error))
            identity = None
    if identity is None:
        return f"the {adapter.name} adapter cannot address the customer: {refusals[0]}"
    out: dict[str, JsonValue] = {
        "to": to,
        "text": rendered.text,
        "subject": rendered.subject,
        "html": rendered.html,
        "template": rendered.template,
        "template_params": list(rendered.template_params),
        "language": rendered.language,
        "reply_to": reply_to,
    }
    try:  # what the worker will ask of the adapter: refuse now, not at send time
        adapter.render(outbound_message(out))
    except OmnikitError as error:
        return f"the {adapter.name} adapter cannot send it: {error}"
    return _Choice(
        channel=channel,
        adapter=adapter,
        identity=identity,
        to=to,
        rendered=rendered,
        until=until,
        out=out,
    )


def _capped(ctx: _Context, channel: str) -> str | None:
    # The store counts (it sees what this decision queued already), one pass per
    # window. A notification may reach several channels, so an overall cap counts
    # notifications; their messages are an upper bound that settles it in most
    # cases, and the exact (costlier: DISTINCT) count is made only when that bound
    # reaches the cap. With 1,000 messages in the window, SQLite: both caps 0.7 ms
    # counted exactly, 0.26 ms so.
    counts: dict[timedelta, tuple[int, int]] = {}
    for cap in ctx.policy.caps:
        if cap.channel not in (None, channel):
            continue
        since = to_micros(ctx.now - cap.per)
        if cap.per not in counts:
            counts[cap.per] = ctx.tx.count_outbox(
                ctx.customer.id, ctx.policy.purpose, since, channel, ctx.notification
            )
        messages, on_channel = counts[cap.per]
        count = on_channel if cap.channel else messages
        if cap.channel is None and count >= cap.limit:
            count = ctx.tx.count_notifications(
                ctx.customer.id, ctx.policy.purpose, since, ctx.notification
            )
        if count >= cap.limit:
            where = f"on {cap.channel}" if cap.channel else "over all channels"
            return (
                f"frequency cap reached: {count} of {cap.limit} {ctx.policy.purpose} "
                f"messages per {_span(cap.per)} {where}"
            )
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def _candidates(ctx: _Context, channels: Sequence[str] | None = None) -> tuple[str, ...]:
    if channels is not None:
        return tuple(channels)
    return ctx.prefs.channels.get(ctx.policy.purpose) or ctx.policy.channels


def _queue(
    ctx: _Context,
    choice: _Choice,
    notification: str,
    fallback: tuple[str, ...],
    *,
    case: Case | None = None,
    agent: str | None = None,
) -> Delivery:
    """Write the outbound interaction and its outbox item; the delivery that says so."""
    kit = ctx.kit
    rendered = choice.rendered
    outbox_id = new_id()
    due = choice.until or ctx.now
    interaction = Interaction(
        id=new_id(),
        customer_id=ctx.customer.id,
        channel=choice.channel.id,
        direction=Direction.OUTBOUND,
        kind="message",
        occurred_at=ctx.now,
        recorded_at=ctx.now,
        text=rendered.text if rendered.text is not None else _template_text(rendered),
        subject=rendered.subject,
        case_id=None if case is None else case.id,
        agent=agent,
        purpose=(ctx.policy.purpose,),
        status=DeliveryStatus.QUEUED,
        metadata={"notification_id": notification, "outbox_id": outbox_id},
    )
    stored = kit._store_interactions(ctx.tx, [interaction], current=True)[0]
    out = {**choice.out, "idempotency_key": outbox_id}
    item = OutboxItem(
        id=outbox_id,
        kind="message",
        status=OutboxStatus.QUEUED,
        channel=choice.channel.id,
        adapter=choice.adapter.name,
        customer_id=ctx.customer.id,
        interaction_id=stored.id,
        notification_id=notification,
        purpose=ctx.policy.purpose,
        payload={
            "message": out,
            "identity": choice.identity.id,
            "source": ctx.message.model_dump(mode="json", exclude_defaults=True),
            "data": ctx.data,
            "critical": ctx.critical,
        },
        fallback=fallback,
        due_at=due,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.tx.insert_outbox([item])
    if choice.until is not None:
        outcome, reason = DeliveryOutcome.DEFERRED, _deferred(ctx, choice.until)
    else:
        outcome, reason = DeliveryOutcome.QUEUED, "queued"
    return Delivery(
        channel=choice.channel.id,
        outcome=outcome,
        reason=reason,
        until=choice.until,
        outbox_id=outbox_id,
        interaction_id=stored.id,
        to=choice.to,
    )


def _deferred(ctx: _Context, until: datetime) -> str:
    """Why a delivery waits: the end of the quiet hours, on the customer's clock."""
    hours = ctx.prefs.quiet_hours
    timezone = hours.timezone if hours is not None else "UTC"
    return f"quiet hours until {until.astimezone(zone(timezone)):%H:%M} ({timezone})"


def _template_text(rendered: Rendered) -> str | None:
    if rendered.template is None:
        return None
    params = ", ".join(rendered.template_params)
    return f"[template {rendered.template}]" + (f" {params}" if params else "")


def _decide(
    ctx: _Context, candidates: Sequence[str], notification: str, *, write: bool
) -> list[Delivery]:
    """Evaluate ``candidates`` in order and (``write``) queue what the policy reaches."""
    deliveries: list[Delivery] = []
    chosen = False
    ctx.notification = notification
    for position, channel_id in enumerate(candidates):
        if chosen and ctx.policy.reach == "first":
            deliveries.append(
                Delivery(
                    channel=channel_id,
                    outcome=DeliveryOutcome.FALLBACK,
                    reason="kept for fallback: an earlier channel was chosen",
                )
            )
            continue
        choice = _evaluate(ctx, channel_id)
        if isinstance(choice, str):
            deliveries.append(
                Delivery(channel=channel_id, outcome=DeliveryOutcome.SKIPPED, reason=choice)
            )
            continue
        chosen = True
        fallback = tuple(candidates[position + 1 :]) if ctx.policy.reach == "first" else ()
        if write:
            deliveries.append(_queue(ctx, choice, notification, fallback))
        else:
            deliveries.append(_would(ctx, choice))
    if ctx.too_long and ctx.too_long == len(candidates):
        raise MessageTooLongError(
            "the message is too long for every channel it could go to: "
            + "; ".join(d.reason for d in deliveries)
        )
    return deliveries


def _would(ctx: _Context, choice: _Choice) -> Delivery:
    """The delivery ``preview`` shows for a channel ``notify`` would use."""
    if choice.until is not None:
        return Delivery(
            channel=choice.channel.id,
            outcome=DeliveryOutcome.DEFERRED,
            reason=_deferred(ctx, choice.until),
            until=choice.until,
            to=choice.to,
        )
    return Delivery(
        channel=choice.channel.id, outcome=DeliveryOutcome.QUEUED, reason="queued", to=choice.to
    )


def _message(value: object) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, str):
        return Message(body=value)
    raise ValidationError(f"message must be a Message or a string, not {type(value).__name__}")


def _data(value: object) -> dict[str, JsonValue]:
    return {} if value is None else _validate.json_object(value, "data")


def notify(
    kit: Omnikit,
    customer: str | Customer,
    message: Message | str,
    *,
    purpose: str,
    critical: bool = False,
    data: Mapping[str, JsonValue] | None = None,
) -> NotifyResult:
    """``kit.notify``: decide per channel and queue; see ``Omnikit.notify``."""
    customer_id = _customer_id(customer)
    msg = _message(message)
    policy = kit.policies.get(purpose)
    if not isinstance(critical, bool):
        raise ValidationError(f"critical must be True or False, not {critical!r}")
    values = _data(data)
    notification = new_id()
    with kit._writing() as tx:
        ctx = _context(kit, tx, customer_id, msg, policy, critical, values)
        deliveries = _decide(ctx, _candidates(ctx), notification, write=True)
    return NotifyResult(
        id=notification,
        customer_id=ctx.customer.id,
        purpose=policy.purpose,
        critical=ctx.critical,
        deliveries=tuple(deliveries),
    )


def preview(
    kit: Omnikit,
    customer: str | Customer,
    message: Message | str,
    *,
    purpose: str,
    critical: bool = False,
    data: Mapping[str, JsonValue] | None = None,
    channels: Sequence[str] | None = None,
) -> Preview:
    """``kit.preview``: the decision without writing, and each channel's rendering."""
    customer_id = _customer_id(customer)
    msg = _message(message)
    policy = kit.policies.get(purpose)
    values = _data(data)
    if channels is not None:
        channels = [kit.channels.get(c).id for c in channels]
    with kit.store.transaction() as tx:
        ctx = _context(kit, tx, customer_id, msg, policy, critical, values)
        candidates = _candidates(ctx, channels)
        deliveries = _decide(ctx, candidates, "", write=False)
        for channel_id in candidates:
            channel = kit.channels.get(channel_id)
            if channel.outbound and channel_id not in ctx.rendered:
                _render(ctx, channel)
    return Preview(
        customer_id=ctx.customer.id,
        purpose=policy.purpose,
        deliveries=tuple(deliveries),
        rendered=dict(ctx.rendered),
    )


def send(
    kit: Omnikit,
    customer: str | Customer,
    channel: str,
    message: Message | str,
    *,
    case: str | Case | None = None,
    agent: str | None = None,
    purpose: str = "service",
    data: Mapping[str, JsonValue] | None = None,
) -> Delivery:
    """``kit.send``: an agent's direct message; see ``Omnikit.send``."""
    customer_id = _customer_id(customer)
    msg = _message(message)
    policy = kit.policies.get(purpose)
    channel_id = kit.channels.get(channel).id
    values = _data(data)
    agent = _validate.optional_text(agent, "agent", max_chars=128)
    case_id = None
    if case is not None:
        case_id = _validate.object_id(case.id if isinstance(case, Case) else case, "case")
    with kit._writing() as tx:
        ctx = _context(kit, tx, customer_id, msg, policy, True, values)
        the_case = None
        if case_id is not None:
            the_case = tx.get_case(case_id)
            if the_case is None:
                raise NotFoundError(f"no case with id {case_id!r}")
        reply_to = _thread(tx, the_case, channel_id)
        choice = _evaluate(ctx, channel_id, caps=False, quiet=False, reply_to=reply_to)
        if isinstance(choice, str):
            if ctx.too_long:
                raise MessageTooLongError(choice)
            return Delivery(channel=channel_id, outcome=DeliveryOutcome.SKIPPED, reason=choice)
        return _queue(ctx, choice, new_id(), (), case=the_case, agent=agent)


def _thread(tx: StoreTransaction, case: Case | None, channel: str) -> str | None:
    """The provider id of the customer's last message on ``channel`` in ``case``: what
    an e-mail reply names in In-Reply-To."""
    if case is None:
        return None
    for interaction in reversed(tx.case_interactions(case.id)):
        if (
            interaction.channel == channel
            and interaction.direction is Direction.INBOUND
            and interaction.external_id
        ):
            return interaction.external_id
    return None


def fall_back(kit: Omnikit, tx: StoreTransaction, item: OutboxItem, reason: str) -> Delivery | None:
    """Queue ``item``'s message on the next channel of its fallback list that can be
    used, inside ``tx``; None when none can. Called when ``item`` failed for good."""
    if item.customer_id is None or not item.fallback or item.purpose is None:
        return None
    if item.purpose not in kit.policies:
        return None
    payload = item.payload
    try:
        msg = Message.model_validate(payload.get("source", {}))
    except OmnikitError:  # a message stored by an older version: no fallback
        return None
    data = payload.get("data")
    ctx = _context(
        kit,
        tx,
        item.customer_id,
        msg,
        kit.policies.get(item.purpose),
        bool(payload.get("critical", False)),
        data if isinstance(data, dict) else {},
    )
    ctx.notification = item.notification_id or ""
    for position, channel_id in enumerate(item.fallback):
        if channel_id not in kit.channels:
            continue
        choice = _evaluate(ctx, channel_id)
        if isinstance(choice, str):
            continue
        rest = tuple(item.fallback[position + 1 :])
        return _queue(ctx, choice, item.notification_id or new_id(), rest)
    return None


def _customer_id(customer: object) -> str:
    value = customer.id if isinstance(customer, Customer) else customer
    return _validate.object_id(value, "customer")


def _outbound_channel(kit: Omnikit, channel_id: object) -> Channel:
    channel = kit.channels.get(channel_id)  # type: ignore[arg-type]
    if not channel.outbound:
        raise ValidationError(f"channel {channel.id!r} cannot carry outbound messages")
    return channel


def outbound_message(payload: Mapping[str, Any]) -> OutboundMessage:
    """The ``OutboundMessage`` an outbox item's payload describes (fields this
    version's ``OutboundMessage`` does not know are left out)."""
    fields = OutboundMessage.model_fields
    values = {k: v for k, v in payload.items() if k in fields and v is not None}
    if "template_params" in values:
        values["template_params"] = tuple(values["template_params"])
    return OutboundMessage(**values)
