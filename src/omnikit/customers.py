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
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.errors import AmbiguousIdentityError, NotFoundError, StoreError, ValidationError
from omnikit.identity import Identifier, collect_identifiers, normalize_region
from omnikit.model import Customer, Identity, PostalAddress
from omnikit.store import DuplicateKeyError, StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = ["Customers"]

log = logging.getLogger("omnikit.customers")

_ATTEMPTS = 5


class Customers:
    """``kit.customers``: find, create and read customers."""

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
    ) -> Customer:
        """Find the customer these identifiers lead to, or create one; return it.

        Identifiers the customer lacks are attached; ``name`` and ``language`` fill in
        what the customer lacks and never overwrite. ``region`` (default: the kit's
        ``default_region``) reads phone numbers and addresses written without a country.

        Raises ``InvalidIdentityError`` for an identifier that cannot be normalised,
        ``ValidationError`` when no identifier is given, and ``AmbiguousIdentityError``
        when the identifiers belong to different customers.
        """
        wanted = self._identifiers(phone, email, handles, external_ids, address, region)
        name = _validate.optional_text(name, "name", max_chars=500)
        language = _validate.language(language)
        store = self._kit.store
        for _ in range(_ATTEMPTS):
            try:
                with store.transaction() as tx:
                    customer = _known(tx, wanted)
                    if customer is not None and not _missing(customer, wanted, name, language):
                        return customer
                with store.transaction(write=True) as tx:
                    return self._identify_locked(tx, wanted, name, language)
            except DuplicateKeyError:
                log.debug("identify lost a race to another writer; trying again")
        raise StoreError(f"identify() kept colliding with other writers ({_ATTEMPTS} attempts)")

    def _identify_locked(
        self,
        tx: StoreTransaction,
        wanted: list[Identifier],
        name: str | None,
        language: str | None,
    ) -> Customer:
        now = self._kit.now()
        found = _owner(tx, wanted)
        if found is None:
            customer_id = new_id()
            tx.insert_customer(
                Customer(
                    id=customer_id,
                    name=name,
                    language=language,
                    identities=tuple(_identity(customer_id, i, now) for i in wanted),
                    created_at=now,
                    updated_at=now,
                )
            )
            log.info("created customer %s", customer_id)
            return _get(tx, customer_id)
        customer = _get(tx, found)
        have = {(i.kind, i.scope or "", i.value) for i in customer.identities}
        for identifier in wanted:
            if identifier[:3] not in have:
                tx.insert_identity(_identity(customer.id, identifier, now))
        if (name and not customer.name) or (language and not customer.language):
            tx.update_customer(
                customer.id,
                name=customer.name or name,
                language=customer.language or language,
                updated_at=to_micros(now),
            )
        log.debug("identified customer %s", customer.id)
        return _get(tx, customer.id)

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
        wanted = self._identifiers(phone, email, handles, external_ids, address, region)
        with self._kit.store.transaction() as tx:
            return _known(tx, wanted)

    def get(self, customer_id: str) -> Customer:
        """The customer with this id; raises ``NotFoundError`` when there is none."""
        customer_id = _validate.object_id(customer_id, "customer")
        with self._kit.store.transaction() as tx:
            return _get(tx, customer_id)

    def _identifiers(
        self,
        phone: str | None,
        email: str | None,
        handles: Mapping[str, str] | None,
        external_ids: Mapping[str, str] | None,
        address: str | PostalAddress | None,
        region: str | None,
    ) -> list[Identifier]:
        wanted = collect_identifiers(
            phone=phone,
            email=email,
            handles=handles,
            external_ids=external_ids,
            address=address,
            region=normalize_region(region) if region is not None else self._kit.default_region,
            channels=self._kit.channels,
        )
        if not wanted:
            raise ValidationError(
                "no identifier given: pass at least one of phone=, email=, handles=, "
                "external_ids= or address="
            )
        return wanted


def _get(tx: StoreTransaction, customer_id: str) -> Customer:
    customer = tx.get_customer(customer_id)
    if customer is None:
        raise NotFoundError(f"no customer with id {customer_id!r}")
    return customer


def _known(tx: StoreTransaction, wanted: list[Identifier]) -> Customer | None:
    """The one customer holding any of ``wanted``, or ``None``; ambiguity raises."""
    if len(wanted) == 1:  # the common case (caller ID, one e-mail): one query
        (only,) = wanted
        return tx.customer_by_identity(only.kind.value, only.scope, only.value)
    found = _owner(tx, wanted)
    return None if found is None else _get(tx, found)


def _owner(tx: StoreTransaction, wanted: list[Identifier]) -> str | None:
    """The one customer holding any of ``wanted``; ambiguity raises."""
    owners: dict[str, Identifier] = {}
    for identifier in wanted:
        owner = tx.find_identity(identifier.kind.value, identifier.scope, identifier.value)
        if owner is not None:
            owners.setdefault(owner, identifier)
    if len(owners) > 1:
        ids = tuple(sorted(owners))
        described = "; ".join(
            f"{i.kind.value} {i.value!r} belongs to customer {owner}" for owner, i in owners.items()
        )
        raise AmbiguousIdentityError(
            f"the identifiers lead to {len(ids)} different customers: {described}", ids
        )
    return next(iter(owners), None)


def _missing(
    customer: Customer, wanted: list[Identifier], name: str | None, language: str | None
) -> bool:
    """True when ``identify`` has something to add to ``customer``."""
    have = {(i.kind, i.scope or "", i.value) for i in customer.identities}
    return (
        any(identifier[:3] not in have for identifier in wanted)
        or bool(name and not customer.name)
        or bool(language and not customer.language)
    )


def _identity(customer_id: str, identifier: Identifier, now: datetime) -> Identity:
    return Identity.model_validate(
        {
            "id": new_id(),
            "customer_id": customer_id,
            "kind": identifier.kind,
            "scope": identifier.scope or None,
            "value": identifier.value,
            "raw": identifier.raw,
            "first_seen_at": now,
            "last_seen_at": now,
        }
    )
