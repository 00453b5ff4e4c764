"""From a provider's webhook to recorded interactions: ``kit.adapters`` and ``kit.receive``.

Adapters parse; this module is where parsed events meet the store. A message event
identifies its sender and is recorded idempotently by the provider's id; a status
event moves the interaction it names forward (queued → sent → delivered → read, or
failed), never back. Each event is its own transaction, so a provider's retry after a
failure records exactly what is missing.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from omnikit._ids import new_id
from omnikit.adapters.base import (
    Adapter,
    EventType,
    InboundEvent,
    InboundRequest,
    Response,
    Sender,
)
from omnikit.adapters.registry import adapter_class, adapter_names
from omnikit.errors import (
    AmbiguousIdentityError,
    ConflictError,
    InvalidIdentityError,
    StoreError,
    UnknownAdapterError,
    ValidationError,
)
from omnikit.merge import survivor
from omnikit.model import Customer, DeliveryStatus, Direction, Interaction, OutboxStatus
from omnikit.model._base import Model
from omnikit.store import DuplicateKeyError, StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["Adapters", "ReceiveResult", "advance_status", "receive"]

log = logging.getLogger("omnikit.inbound")

_ATTEMPTS = 5

_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
}


def advance_status(
    current: DeliveryStatus | None, reported: DeliveryStatus | None
) -> DeliveryStatus | None:
    """The status after ``reported`` arrives: statuses only move forward.

    queued → sent → delivered → read; ``failed`` replaces queued or sent only. A late
    ``delivered`` leaves ``read`` as it is, and nothing leaves ``failed``.
    """
    if reported is None or current is None:
        return reported or current
    if current is DeliveryStatus.FAILED:
        return current
    if reported is DeliveryStatus.FAILED:
        return reported if _RANK[current] <= _RANK[DeliveryStatus.SENT] else current
    return reported if _RANK[reported] > _RANK[current] else current


class ReceiveResult(Model):
    """What ``kit.receive`` did with one webhook request."""

    adapter: str
    events: tuple[InboundEvent, ...] = ()
    """Everything the request carried, in order."""
    interactions: tuple[Interaction, ...] = ()
    """The interaction of each message event: new, or recorded by an earlier delivery
    of the same provider id."""
    updated: tuple[Interaction, ...] = ()
    """Interactions a status event changed."""
    ignored: tuple[InboundEvent, ...] = ()
    """Events acknowledged without recording anything (``reason`` says why)."""
    response: Response
    """What to answer the provider."""


class Adapters:
    """The adapters a kit receives from and sends through (``kit.adapters``)."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit
        self._configured: dict[str, Adapter] = {}

    def __repr__(self) -> str:
        return f"<Adapters {sorted(self._configured)}>"

    def use(self, name_or_adapter: str | Adapter | type, /, **settings: Any) -> Adapter:
        """Configure an adapter and return it.

        ``name_or_adapter`` is a registry name (``"twilio"``, or one an installed
        package provides) or class, built with ``settings`` (its secrets and options),
        or an adapter instance, used as it is. Configuring a name again replaces the
        earlier one.

        Raises ``UnknownAdapterError`` for an unknown name, ``ValidationError`` for
        settings the adapter rejects and ``UnknownChannelError`` when its channel is not
        registered in this kit.
        """
        if isinstance(name_or_adapter, str):
            factory = adapter_class(name_or_adapter)
            adapter = _build(factory, name_or_adapter, settings)
        elif isinstance(name_or_adapter, type):
            adapter = _build(name_or_adapter, name_or_adapter.__name__, settings)
        else:
            if settings:
                raise ValidationError(
                    f"settings {sorted(settings)} cannot be given with an adapter instance; "
                    "pass them when building it"
                )
            adapter = name_or_adapter
        if not isinstance(adapter, Adapter):
            raise ValidationError(
                f"{adapter!r} is not an adapter: it lacks part of the Adapter protocol "
                "(name, channel, capabilities, handshake, verify, parse, ack, render, send, "
                "asend)"
            )
        name = adapter.name
        if not isinstance(name, str) or not name:
            raise ValidationError(f"adapter {adapter!r} has no name")
        self._kit.channels.get(adapter.channel)
        self._configured[name] = adapter
        return adapter

    def get(self, name: str) -> Adapter:
        """The configured adapter ``name``; ``UnknownAdapterError`` if there is none."""
        adapter = self._configured.get(name) if isinstance(name, str) else None
        if adapter is None:
            hint = (
                f"configure it with kit.adapters.use({name!r}, ...)"
                if isinstance(name, str) and name in adapter_names(check=False)
                else f"configured: {', '.join(sorted(self._configured)) or 'none'}"
            )
            raise UnknownAdapterError(f"no adapter {name!r} is configured; {hint}")
        return adapter

    def available(self) -> builtins.list[str]:
        """Every adapter name ``use`` accepts: built in or from installed packages."""
        return adapter_names()

    def __contains__(self, name: object) -> bool:
        return name in self._configured

    def __iter__(self) -> Iterator[Adapter]:
        return iter(list(self._configured.values()))

    def __len__(self) -> int:
        return len(self._configured)


def _build(factory: Any, name: str, settings: Mapping[str, Any]) -> Any:
    try:
        return factory(**settings)
    except TypeError as error:
        raise ValidationError(f"adapter {name!r} does not take these settings: {error}") from None


def receive(kit: Omnikit, name: str, request: InboundRequest) -> ReceiveResult:
    """``kit.receive``: see its docstring."""
    adapter = kit.adapters.get(name)
    if not isinstance(request, InboundRequest):
        raise ValidationError(f"request must be an InboundRequest, not {type(request).__name__}")
    if request.received_at is None:
        request = request.model_copy(update={"received_at": kit.now()})
    answer = adapter.handshake(request)
    if answer is not None:
        return ReceiveResult(adapter=name, response=answer)
    adapter.verify(request)
    events = adapter.parse(request)
    if not isinstance(events, list) or not all(isinstance(e, InboundEvent) for e in events):
        raise ValidationError(
            f"adapter {name!r}: parse() must return a list of InboundEvent, not "
            + (
                f"a list of {sorted({type(e).__name__ for e in events})}"
                if isinstance(events, list)
                else type(events).__name__
            )
        )
    interactions: list[Interaction] = []
    updated: list[Interaction] = []
    ignored: list[InboundEvent] = []
    for event in events:
        if event.type is EventType.MESSAGE:
            interactions.append(_message(kit, event))
        elif event.type is EventType.STATUS:
            changed, reason = _status(kit, event)
            if changed is not None:
                updated.append(changed)
            elif reason is not None:
                ignored.append(event.model_copy(update={"reason": reason}))
        else:
            ignored.append(event)
    for event in ignored:
        log.info("%s: ignored a %s event: %s", name, event.channel, event.reason)
    response = adapter.ack(events)
    if not isinstance(response, Response):
        raise ValidationError(
            f"adapter {name!r}: ack() must return a Response, not {type(response).__name__}"
        )
    return ReceiveResult.trusted(  # every part is checked already
        adapter=name,
        events=tuple(events),
        interactions=tuple(interactions),
        updated=tuple(updated),
        ignored=tuple(ignored),
        response=response,
    )


def _message(kit: Omnikit, event: InboundEvent) -> Interaction:
    """Identify the sender and record one message event, in one write transaction (or
    return its earlier recording: recording is idempotent by ``(channel, external_id)``).
    """
    channel = kit.channels.get(event.channel).id
    for _ in range(_ATTEMPTS):
        try:
            with kit._writing() as tx:
                customer, metadata = _sender(kit, tx, event, channel)
                interaction = kit._interaction(
                    customer=customer,
                    channel=channel,
                    direction=Direction.INBOUND,
                    kind=event.kind,
                    text=event.text,
                    subject=event.subject,
                    occurred_at=event.occurred_at,
                    external_id=event.external_id,
                    metadata=metadata,
                    attachments=event.attachments,
                )
                return kit._store_interactions(tx, [interaction], follow=True, current=True)[0]
        except DuplicateKeyError:
            log.debug("receiving lost a race to another writer; trying again")
        except ConflictError:
            # Recorded before for another customer: the sender's identifiers have moved
            # on since (a merge, a number that changed hands). The first recording stands.
            if event.external_id is None:
                raise
            with kit.store.transaction() as tx:
                earlier = tx.interaction_by_external_id(channel, event.external_id)
            if earlier is None:
                raise
            return earlier
    raise StoreError(f"receiving kept colliding with other writers ({_ATTEMPTS} attempts)")


def _sender(
    kit: Omnikit, tx: StoreTransaction, event: InboundEvent, channel: str
) -> tuple[Customer, dict[str, Any]]:
    """The customer an event's sender is, and the metadata to record.

    An identifier that cannot be read (a withheld caller ID, ``anonymous``) is left
    out and the others are used; a sender with none left is recorded on a customer of
    its own, keyed by the contact's provider id, so that a
    retried delivery finds the same one. A number several customers share is recorded
    on the first of them in a stable order, naming all in ``metadata["candidates"]``.
    """
    metadata: dict[str, JsonValue] = dict(event.metadata)
    sender = event.sender or Sender()
    customers = kit.customers
    # An identifier that cannot be read (a withheld number) is dropped, the rest used.
    attempts = [(sender.phone, sender.email)]
    if sender.phone:
        attempts.append((None, sender.email))
    if sender.email:
        attempts.append((None, None))
    for phone, email in attempts:
        if not (phone or email or sender.handles or sender.external_ids):
            break
        try:
            return customers._identify_in(
                tx,
                phone=phone,
                email=email,
                handles=sender.handles or None,
                external_ids=sender.external_ids or None,
                name=sender.name,
                language=sender.language,
                source=channel,
            ), metadata
        except AmbiguousIdentityError as error:
            metadata["candidates"] = list(error.customer_ids)
            return survivor(tx, error.customer_ids[0]), metadata
        except InvalidIdentityError as error:
            log.info("%s: a sender identifier is not readable (%s)", channel, type(error).__name__)
    metadata["sender"] = "unknown"
    key = event.external_id or new_id()
    return customers._identify_in(
        tx,
        external_ids={channel: f"unknown-sender:{key}"},
        name=sender.name or "Unknown sender",
        source=channel,
    ), metadata


def _status(kit: Omnikit, event: InboundEvent) -> tuple[Interaction | None, str | None]:
    """Apply one status event; (the changed interaction, None) or (None, why not)."""
    channel = kit.channels.get(event.channel).id
    if event.external_id is None:
        return None, "status event without a provider id"
    for _ in range(_ATTEMPTS):
        with kit._writing() as tx:
            stored = tx.interaction_by_external_id(channel, event.external_id)
            if stored is None:
                return None, f"no interaction with provider id {event.external_id!r} on {channel}"
            status = advance_status(stored.status, event.status)
            metadata = {**stored.metadata, **event.metadata}
            if status == stored.status and metadata == stored.metadata:
                return None, None
            expected = None if stored.status is None else stored.status.value
            if not tx.set_interaction_status(
                stored.id, expected, None if status is None else status.value, metadata
            ):
                continue  # another delivery moved it first: read it again
            changed = stored.model_copy(update={"status": status, "metadata": metadata})
            if status is DeliveryStatus.FAILED and stored.status is not DeliveryStatus.FAILED:
                _bounced(kit, tx, changed, event)
            kit.events.add(
                "interaction.updated",
                at=kit.now(),
                customer_id=changed.customer_id,
                interaction=changed,
                detail={
                    "before": None if stored.status is None else stored.status.value,
                    "after": None if status is None else status.value,
                },
            )
            return changed, None
    return None, f"provider id {event.external_id!r} kept changing; status not applied"


def _bounced(
    kit: Omnikit, tx: StoreTransaction, interaction: Interaction, event: InboundEvent
) -> None:
    """A sent message failed for good after all (a bounce, an undeliverable report):
    its notification falls back to the customer's next channel, in this transaction."""
    from omnikit.outbound import fall_back

    item = tx.outbox_for_interaction(interaction.id)
    if item is None or item.status is not OutboxStatus.SENT:
        return
    error = event.metadata.get("error") or event.metadata.get("reason") or "delivery failed"
    fall_back(kit, tx, item, str(error))
