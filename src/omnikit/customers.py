"""Customers: recognise a person from any identifier, or create them once.

``identify`` is find-or-create. It normalises every identifier it is given, looks
each one up, and then either returns the one customer they lead to (attaching the
identifiers that customer lacked), creates a new customer holding all of them, or
raises ``AmbiguousIdentityError`` when they lead to different customers. The unique
key on identities makes find-or-create safe across processes: a writer that loses
the race to create sees ``DuplicateKeyError`` and tries again, finding the winner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from omnikit import _validate
from omnikit._audit import audit
from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.errors import (
    AmbiguousIdentityError,
    ConflictError,
    NotFoundError,
    StoreError,
    ValidationError,
)
from omnikit.identity import (
    Identifier,
    collect_identifiers,
    normalize_phone,
    normalize_region,
    phone_key,
)
from omnikit.merge import merge_customers, survivor, unmerge_customers
from omnikit.model import Customer, CustomerEvent, Identity, IdentityKind, Merge, PostalAddress
from omnikit.privacy import erase_customer, export_customer
from omnikit.store import DuplicateKeyError, StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["Customers"]

log = logging.getLogger("omnikit.customers")

_ATTEMPTS = 5

LAST_SEEN_RESOLUTION = timedelta(days=1)
"""How stale an identity's ``last_seen_at`` may get before ``identify`` writes it:
recognising a customer stays a read, and the time is right to the day."""


class Customers:
    """``kit.customers``: recognise, create, read, merge and erase customers."""

    def __init__(self, kit: Omnikit) -> None:
        self._kit = kit

    def identify(
        self,
        *,
        phone: str | None = None,
        email: str | None = None,
        handles: Mapping[str, str] | None = None,
        external_ids: Mapping[str, str] | None = None,
        address: str | PostalAddress | None = None,
        name: str | None = None,
        language: str | None = None,
        region: str | None = None,
        source: str | None = None,
    ) -> Customer:
        """Find the customer these identifiers lead to, or create one; return it.

        Identifiers the customer lacks are attached; ``name`` and ``language`` fill in
        what the customer lacks and never overwrite. ``region`` (default: the kit's
        ``default_region``) reads phone numbers and addresses written without a country.
        ``source`` (a channel id, ``"manual"`` or ``"import"``) is kept on identities
        this call adds.

        Raises ``InvalidIdentityError`` for an identifier that cannot be normalised,
        ``ValidationError`` when no identifier is given, and ``AmbiguousIdentityError``
        when the identifiers belong to different customers (unless the kit's
        ``merge_policy="verified"`` merges them because every identity involved is
        verified).
        """
        region = self._region(region)
        wanted = self._identifiers(
            phone, email, handles, external_ids, address, region, lookup=True
        )
        source = self._source(source)
        name = _validate.optional_text(name, "name", max_chars=500)
        language = _validate.language(language)
        store = self._kit.store
        for _ in range(_ATTEMPTS):
            try:
                with store.transaction() as tx:
                    try:
                        customer = _known(tx, wanted)
                    except AmbiguousIdentityError:
                        if self._kit.merge_policy == "never":
                            raise
                        customer = None  # the write step may merge them
                    if customer is not None and not _missing(
                        customer, wanted, name, language, self._kit.now()
                    ):
                        return customer
                if customer is None:
                    _check(wanted, region)  # before taking the write lock
                with self._kit._writing() as tx:
                    return self._identify_locked(tx, wanted, name, language, source, region)
            except DuplicateKeyError:
                log.debug("identify lost a race to another writer; trying again")
        raise StoreError(f"identify() kept colliding with other writers ({_ATTEMPTS} attempts)")

    def _identify_in(
        self,
        tx: StoreTransaction,
        *,
        phone: str | None = None,
        email: str | None = None,
        handles: Mapping[str, str] | None = None,
        external_ids: Mapping[str, str] | None = None,
        name: str | None = None,
        language: str | None = None,
        source: str | None = None,
    ) -> Customer:
        """``identify`` inside the write transaction ``tx`` of a larger call (receiving
        a webhook identifies and records in one transaction). Same errors; a lost race
        raises ``DuplicateKeyError`` for the caller to retry the whole transaction."""
        region = self._region(None)
        wanted = self._identifiers(phone, email, handles, external_ids, None, region, lookup=True)
        name = _validate.optional_text(name, "name", max_chars=500)
        language = _validate.language(language)
        if len(wanted) == 1:  # the common case: one query finds a customer with nothing new
            only = wanted[0]
            known = tx.customer_by_identity(only.kind.value, only.scope, only.value)
            if known is not None and not _missing(known, wanted, name, language, self._kit.now()):
                return known
        return self._identify_locked(tx, wanted, name, language, self._source(source), region)

    def _identify_locked(
        self,
        tx: StoreTransaction,
        wanted: list[Identifier],
        name: str | None,
        language: str | None,
        source: str | None,
        region: str | None,
    ) -> Customer:
        now = self._kit.now()
        holders = _holders(tx, wanted)
        if len(holders) > 1:
            self._auto_merge(tx, holders, now)
            holders = _holders(tx, wanted)
        found = next(iter(holders), None)
        if found is None:
            _check(wanted, region)
            customer_id = new_id()
            tx.insert_customer(
                Customer(
                    id=customer_id,
                    name=name,
                    language=language,
                    identities=tuple(new_identity(customer_id, i, now, source) for i in wanted),
                    created_at=now,
                    updated_at=now,
                )
            )
            log.info("created customer %s", customer_id)
            created = survivor(tx, customer_id)
            self._kit.events.add(
                "customer.created", at=now, customer_id=customer_id, customer=created
            )
            return created
        customer = survivor(tx, found)
        have = {(i.kind, i.scope or "", i.value): i for i in customer.identities}
        _check((i for i in wanted if (i.kind, i.scope, i.value) not in have), region)
        for identifier in wanted:
            known = have.get((identifier.kind, identifier.scope, identifier.value))
            if known is None:
                tx.insert_identity(new_identity(customer.id, identifier, now, source))
            elif now - known.last_seen_at >= LAST_SEEN_RESOLUTION:
                tx.update_identity(known.model_copy(update={"last_seen_at": now}))
        if (name and not customer.name) or (language and not customer.language):
            tx.update_customer(
                customer.id,
                name=customer.name or name,
                language=customer.language or language,
                updated_at=to_micros(now),
            )
        log.debug("identified customer %s", customer.id)
        return survivor(tx, customer.id)

    def find(
        self,
        *,
        phone: str | None = None,
        email: str | None = None,
        handles: Mapping[str, str] | None = None,
        external_ids: Mapping[str, str] | None = None,
        address: str | PostalAddress | None = None,
        region: str | None = None,
    ) -> Customer | None:
        """The customer these identifiers lead to, or ``None``; never creates.

        Raises like ``identify`` for bad identifiers and for ambiguity.
        """
        region = self._region(region)
        wanted = self._identifiers(
            phone, email, handles, external_ids, address, region, lookup=True
        )
        with self._kit.store.transaction() as tx:
            customer = _known(tx, wanted)
        if customer is None:
            _check(wanted, region)
        return customer

    def get(self, customer_id: str) -> Customer:
        """The customer with this id; raises ``NotFoundError`` when there is none."""
        customer_id = _validate.object_id(customer_id, "customer")
        with self._kit.store.transaction() as tx:
            return survivor(tx, customer_id)

    def set_attributes(
        self,
        customer_id: str | Customer,
        attributes: Mapping[str, JsonValue],
        *,
        actor: str | None = None,
    ) -> Customer:
        """Merge ``attributes`` into the customer's (``{"vip": True}``); a key set to
        ``None`` is removed. Routing rules can match them. Returns the customer.

        Raises ``NotFoundError`` for an unknown customer and ``ValidationError`` for
        attributes that are not a JSON object.
        """
        raw_id = customer_id.id if isinstance(customer_id, Customer) else customer_id
        raw_id = _validate.object_id(raw_id, "customer")
        given = _validate.json_object(attributes, "attributes")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            customer = survivor(tx, raw_id)
            merged = {**customer.attributes, **given}
            merged = {key: value for key, value in merged.items() if value is not None}
            _validate.json_object(merged, "attributes")
            tx.set_customer_attributes(customer.id, merged, to_micros(now))
            audit(
                tx, customer.id, "attributes_set", at=now, actor=actor, detail=list(sorted(given))
            )
            return survivor(tx, customer.id)

    def _source(self, source: object) -> str | None:
        if source is None:
            return None
        if source in ("manual", "import") or source in self._kit.channels:
            return str(source)
        raise ValidationError(f"source {source!r} is not a channel id, 'manual' or 'import'")

    def _auto_merge(
        self, tx: StoreTransaction, holders: dict[str, list[Identity]], now: datetime
    ) -> None:
        """Merge the holders when the kit's policy allows it, else raise the ambiguity."""
        involved = [identity for found in holders.values() for identity in found]
        if self._kit.merge_policy != "verified" or not all(
            i.verified and not i.shared for i in involved
        ):
            raise _ambiguous(holders)
        keep, *others = sorted(holders)  # ids are time-ordered: the oldest survives
        for other in others:
            merge = merge_customers(
                tx,
                keep,
                other,
                reason="automatic: verified identities of both customers were used together",
                actor="omnikit",
                now=now,
            )
            log.info("merged customer %s into %s automatically", other, keep)
            self._kit.events.add("customer.merged", at=now, customer_id=keep, merge=merge)

    # identities -----------------------------------------------------------------------

    def add_identity(
        self,
        customer_id: str,
        *,
        phone: str | None = None,
        email: str | None = None,
        handles: Mapping[str, str] | None = None,
        external_ids: Mapping[str, str] | None = None,
        address: str | PostalAddress | None = None,
        verified: bool = False,
        source: str | None = None,
        shared: bool = False,
        region: str | None = None,
        actor: str | None = None,
    ) -> Customer:
        """Give the customer more identities; return the customer.

        An identity the customer already has is updated instead: ``verified=True``
        verifies it, ``shared=True`` marks it shared. A value another customer holds
        raises ``ConflictError``, unless ``shared=True``: then it is marked shared for
        every holder (a switchboard, a family landline), and recognising by it alone
        becomes ambiguous.
        """
        customer_id = _validate.object_id(customer_id, "customer")
        wanted = self._identifiers(
            phone, email, handles, external_ids, address, self._region(region)
        )
        source = self._source(source)
        if not isinstance(verified, bool) or not isinstance(shared, bool):
            raise ValidationError("verified and shared must be True or False")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            customer = survivor(tx, customer_id)
            if tx.erased_at(customer.id) is not None:
                raise ConflictError(f"customer {customer.id} was erased")
            for identifier in wanted:
                self._add_one(tx, customer, identifier, now, source, verified, shared, actor)
            return survivor(tx, customer.id)

    def _add_one(
        self,
        tx: StoreTransaction,
        customer: Customer,
        identifier: Identifier,
        now: datetime,
        source: str | None,
        verified: bool,
        shared: bool,
        actor: str | None,
    ) -> None:
        found = tx.find_identities(identifier.kind.value, identifier.scope, identifier.value)
        mine = [i for i in found if i.customer_id == customer.id]
        others = [i for i in found if i.customer_id != customer.id]
        if others and not shared and not all(i.shared for i in others):
            holder = others[0].customer_id
            raise ConflictError(
                f"{identifier.kind.value} {identifier.value!r} belongs to customer {holder}; "
                "pass shared=True for a value several customers share, or merge the customers"
            )
        if others and not shared:
            shared = True  # joining a value that is already shared
        for other in others:
            if not other.shared:
                tx.update_identity(other.model_copy(update={"shared": True}))
        if mine:
            (current,) = mine
            update = {
                "verified": current.verified or verified,
                "shared": current.shared or shared,
                "source": current.source or source,
                "last_seen_at": now,
            }
            tx.update_identity(current.model_copy(update=update))
            return
        identity = new_identity(
            customer.id, identifier, now, source, verified=verified, shared=shared
        )
        tx.insert_identity(identity)
        audit(
            tx,
            customer.id,
            "identity_added",
            at=now,
            actor=actor,
            detail={"identity": identity.id, "kind": identity.kind.value},
        )

    def remove_identity(self, identity_id: str, *, actor: str | None = None) -> Customer:
        """Remove one identity; return its customer. Its history stays untouched."""
        identity_id = _validate.object_id(identity_id, "identity")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            identity = tx.get_identity(identity_id)
            if identity is None:
                raise NotFoundError(f"no identity with id {identity_id!r}")
            tx.delete_identity(identity_id)
            audit(
                tx,
                identity.customer_id,
                "identity_removed",
                at=now,
                actor=actor,
                detail={"identity": identity.id, "kind": identity.kind.value},
            )
            return survivor(tx, identity.customer_id)

    def deliverable(self, customer_id: str, channel: str) -> bool:
        """True when the business can reach the customer on ``channel``: the channel
        takes outbound contact and the customer has an identity for it that is not
        marked undeliverable (post that came back, a bounced address)."""
        customer_id = _validate.object_id(customer_id, "customer")
        target = self._kit.channels.get(channel)
        with self._kit.store.transaction() as tx:
            customer = survivor(tx, customer_id)
        if not target.outbound or target.identity_kind is None:
            return False
        return any(
            i.kind is target.identity_kind
            and (i.kind is not IdentityKind.HANDLE or i.scope == target.id)
            and not i.undeliverable
            for i in customer.identities
        )

    # merges, privacy, history ------------------------------------------------------------

    def merge(self, keep_id: str, other_id: str, *, reason: str, actor: str | None = None) -> Merge:
        """Merge ``other_id`` into ``keep_id``: its identities, interactions and cases
        move to the customer kept, and ``get(other_id)`` returns the survivor.

        Undo it with ``unmerge(merge.id)``. Raises ``ValidationError`` for a merge of a
        customer with itself or a missing reason, ``NotFoundError`` for an unknown
        customer and ``ConflictError`` when either was merged or erased already.
        """
        keep_id = _validate.object_id(keep_id, "customer")
        other_id = _validate.object_id(other_id, "customer")
        reason_text = _reason(reason)
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        now = self._kit.now()
        with self._kit._writing() as tx:
            merge = merge_customers(tx, keep_id, other_id, reason=reason_text, actor=actor, now=now)
            self._kit.events.add("customer.merged", at=now, customer_id=keep_id, merge=merge)
        log.info("merged customer %s into %s (merge %s)", other_id, keep_id, merge.id)
        return merge

    def unmerge(
        self, merge_id: str, *, actor: str | None = None, reason: str | None = None
    ) -> Merge:
        """Undo a merge: exactly what it moved goes back. Returns the merge, undone.

        Raises ``NotFoundError`` for an unknown merge and ``ConflictError`` when it was
        undone already or the survivor has since been merged or erased.
        """
        merge_id = _validate.object_id(merge_id, "merge")
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        reason = _validate.optional_text(reason, "reason", max_chars=1000)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            merge = unmerge_customers(tx, merge_id, actor=actor, reason=reason, now=now)
        log.info("undid merge %s", merge_id)
        return merge

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything omnikit holds about the customer, as JSON-serialisable data."""
        customer_id = _validate.object_id(customer_id, "customer")
        with self._kit.store.transaction() as tx:
            return export_customer(tx, customer_id)

    def erase(self, customer_id: str, *, reason: str, actor: str | None = None) -> None:
        """Erase the customer's personal data, keeping anonymous interaction facts.

        Names, identities, texts, subjects, metadata, attachments, provider ids and
        attributes go; channel, kind, direction, time and case status stay for
        analytics. Records merged into the customer are erased with it. Afterwards
        ``find`` by any old identifier returns ``None``. Raises ``NotFoundError`` for
        an unknown customer and ``ConflictError`` when it was erased already.
        """
        customer_id = _validate.object_id(customer_id, "customer")
        reason_text = _reason(reason)
        actor = _validate.optional_text(actor, "actor", max_chars=128)
        now = self._kit.now()
        with self._kit.store.transaction(write=True) as tx:
            erased = erase_customer(tx, customer_id, reason=reason_text, actor=actor, now=now)
        self._kit.store.purge()
        log.info("erased customer %s (%d record(s))", erased[0], len(erased))

    def history(self, customer_id: str) -> list[CustomerEvent]:
        """The customer's audit trail (merges, unmerges, identity changes, erasure)."""
        customer_id = _validate.object_id(customer_id, "customer")
        with self._kit.store.transaction() as tx:
            customer = survivor(tx, customer_id)
            return tx.customer_events(customer.id)

    def _region(self, region: str | None) -> str | None:
        """The region for numbers and addresses without a country: the call's or the kit's."""
        return normalize_region(region) if region is not None else self._kit.default_region

    def _identifiers(
        self,
        phone: str | None,
        email: str | None,
        handles: Mapping[str, str] | None,
        external_ids: Mapping[str, str] | None,
        address: str | PostalAddress | None,
        region: str | None,
        *,
        lookup: bool = False,
    ) -> list[Identifier]:
        """The normalised identifiers of a call; ``region`` is already ``_region``'s.

        With ``lookup``, a phone number given alone skips the validity check (see
        ``phone_key``): a look-up that finds it stored needs none, and the caller
        ``_check``s it before storing it or answering that nothing matched.
        """
        if (
            lookup
            and phone is not None
            and email is None
            and handles is None
            and external_ids is None
            and address is None
        ):
            return [Identifier(IdentityKind.PHONE, "", phone_key(phone, region), phone)]
        wanted = collect_identifiers(
            phone=phone,
            email=email,
            handles=handles,
            external_ids=external_ids,
            address=address,
            region=region,
            channels=self._kit.channels,
        )
        if not wanted:
            raise ValidationError(
                "no identifier given: pass at least one of phone=, email=, handles=, "
                "external_ids= or address="
            )
        return wanted


def _reason(value: object) -> str:
    text = _validate.optional_text(value, "reason", max_chars=1000)
    if not text or not text.strip():
        raise ValidationError(f"reason {value!r} is empty; say why, for the audit trail")
    return text.strip()


def _check(identifiers: Iterable[Identifier], region: str | None) -> None:
    """Raise ``InvalidIdentityError`` for a phone number among ``identifiers`` that
    ``normalize_phone`` refuses: before it is stored, or reported as matching nothing.

    A phone number looked up alone was normalised without the validity check
    (``phone_key``); a stored number passed it when it was stored. Every other
    identifier was checked in full already, and checking again is a cache hit.
    """
    for identifier in identifiers:
        if identifier.kind is IdentityKind.PHONE:
            normalize_phone(identifier.raw, region)


def _known(tx: StoreTransaction, wanted: list[Identifier]) -> Customer | None:
    """The one customer holding any of ``wanted``, or ``None``; ambiguity raises."""
    if len(wanted) == 1:  # the common case (caller ID, one e-mail): one query
        (only,) = wanted
        customer = tx.customer_by_identity(only.kind.value, only.scope, only.value)
        if customer is not None:
            return customer
    found = _owner(tx, wanted)
    return None if found is None else survivor(tx, found)


def _holders(tx: StoreTransaction, wanted: list[Identifier]) -> dict[str, list[Identity]]:
    """Per customer (survivors of merges), the stored identities matching ``wanted``.

    Shared values (a family landline) decide only when nothing else does: the number
    with Jan's e-mail address is Jan, the number alone is any of the family.
    """
    unshared: dict[str, list[Identity]] = {}
    shared: dict[str, list[Identity]] = {}
    for identifier in wanted:
        for identity in tx.find_identities(
            identifier.kind.value, identifier.scope, identifier.value
        ):
            owner = tx.resolve_customer(identity.customer_id) or identity.customer_id
            (shared if identity.shared else unshared).setdefault(owner, []).append(identity)
    return unshared or shared


def _owner(tx: StoreTransaction, wanted: list[Identifier]) -> str | None:
    """The one customer holding any of ``wanted``; ambiguity raises."""
    holders = _holders(tx, wanted)
    if len(holders) > 1:
        raise _ambiguous(holders)
    return next(iter(holders), None)


def _ambiguous(holders: dict[str, list[Identity]]) -> AmbiguousIdentityError:
    ids = tuple(sorted(holders))
    described = "; ".join(
        f"{found[0].kind.value} {found[0].value!r} belongs to customer {owner}"
        + (" (a shared value)" if found[0].shared else "")
        for owner, found in sorted(holders.items())
    )
    return AmbiguousIdentityError(
        f"the identifiers lead to {len(ids)} different customers: {described}", ids
    )


def _missing(
    customer: Customer,
    wanted: list[Identifier],
    name: str | None,
    language: str | None,
    now: datetime,
) -> bool:
    """True when ``identify`` has something to write: an identifier the customer
    lacks, a name or language to fill in, or a last-seen time a day old."""
    have = {(i.kind, i.scope or "", i.value): i for i in customer.identities}
    for identifier in wanted:
        known = have.get((identifier.kind, identifier.scope, identifier.value))
        if known is None or now - known.last_seen_at >= LAST_SEEN_RESOLUTION:
            return True
    return bool(name and not customer.name) or bool(language and not customer.language)


def new_identity(
    customer_id: str,
    identifier: Identifier,
    now: datetime,
    source: str | None,
    *,
    verified: bool = False,
    shared: bool = False,
) -> Identity:
    """A new identity of ``customer_id`` for a normalised ``identifier``, first and
    last seen ``now``: what identify, the importer and the demo data store."""
    return Identity(
        id=new_id(),
        customer_id=customer_id,
        kind=identifier.kind,
        scope=identifier.scope or None,
        value=identifier.value,
        raw=identifier.raw,
        source=source,
        verified=verified,
        first_seen_at=now,
        last_seen_at=now,
        shared=shared,
    )
