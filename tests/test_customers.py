"""kit.customers: identify finds or creates, find only finds, get raises."""

from __future__ import annotations

import phonenumbers
import pytest

from omnikit import (
    AmbiguousIdentityError,
    IdentityKind,
    InvalidIdentityError,
    NotFoundError,
    Omnikit,
    PostalAddress,
)
from omnikit.identity import _phone, _phone_key


def test_identify_creates_then_finds_by_any_identifier(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl", phone="+31 20 123 4567", name="Jan")
    assert jan.name == "Jan"
    assert set(jan.values("phone")) == {"+31201234567"}
    assert kit.customers.identify(phone="020 123 4567").id == jan.id
    assert kit.customers.identify(email="JAN@example.NL").id == jan.id
    assert kit.customers.get(jan.id) == kit.customers.identify(phone="020-1234567")


def test_identify_attaches_identifiers_the_customer_lacks(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    again = kit.customers.identify(
        email="jan@example.nl",
        handles={"twitter": "@JanJ"},
        external_ids={"webshop": "C-1001"},
        address="Damrak 1, 1012ab Amsterdam",
    )
    assert again.id == jan.id
    kinds = {(i.kind, i.scope, i.value) for i in again.identities}
    assert kinds == {
        (IdentityKind.EMAIL, None, "jan@example.nl"),
        (IdentityKind.HANDLE, "twitter", "janj"),
        (IdentityKind.EXTERNAL, "webshop", "C-1001"),
        (IdentityKind.POSTAL, None, "DAMRAK 1 1012 AB AMSTERDAM, NL"),
    }
    assert kit.customers.find(handles={"twitter": "janj"}) == again
    address = PostalAddress(street="Damrak 1", postcode="1012 AB", city="Amsterdam")
    assert kit.customers.find(address=address) == again


def test_identify_keeps_raw_value_and_first_seen(kit: Omnikit) -> None:
    jan = kit.customers.identify(phone="020 123 4567")
    (phone,) = jan.identities
    assert phone.raw == "020 123 4567"
    assert phone.value == "+31201234567"
    assert phone.first_seen_at.tzinfo is not None
    assert not phone.verified and not phone.undeliverable


def test_name_and_language_fill_in_but_never_overwrite(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    assert jan.name is None
    named = kit.customers.identify(email="jan@example.nl", name="Jan", language="NL")
    assert (named.name, named.language) == ("Jan", "nl")
    again = kit.customers.identify(email="jan@example.nl", name="Someone Else", language="en")
    assert (again.name, again.language) == ("Jan", "nl")


def test_identify_per_call_region(kit: Omnikit) -> None:
    ola = kit.customers.identify(phone="22 123 45 67", region="PL")
    assert ola.values("phone") == ["+48221234567"]
    assert kit.customers.identify(phone="+48 22 123 45 67").id == ola.id


def test_find_only_finds(kit: Omnikit) -> None:
    assert kit.customers.find(email="nobody@example.nl") is None
    assert kit.customers.find(email="nobody@example.nl") is None  # still nothing created
    with pytest.raises(NotFoundError, match="no customer with id 'missing'"):
        kit.customers.get("missing")


def test_identifiers_of_two_customers_are_ambiguous(kit: Omnikit) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    piet = kit.customers.identify(phone="020 123 4567")
    with pytest.raises(AmbiguousIdentityError) as caught:
        kit.customers.identify(email="jan@example.nl", phone="020 123 4567")
    assert set(caught.value.customer_ids) == {jan.id, piet.id}
    assert jan.id in str(caught.value) and piet.id in str(caught.value)
    with pytest.raises(AmbiguousIdentityError):
        kit.customers.find(email="jan@example.nl", phone="020 123 4567")
    # nothing was attached to either
    assert kit.customers.get(jan.id).values("phone") == []


def test_customer_ids_are_time_ordered(kit: Omnikit) -> None:
    ids = [kit.customers.identify(email=f"c{n}@example.nl").id for n in range(20)]
    assert ids == sorted(ids)
    assert all(len(i) == 36 and i[14] == "7" for i in ids)  # UUIDv7 layout


def _count_validity_checks(
    monkeypatch: pytest.MonkeyPatch, *, answer: bool | None = None
) -> list[str]:
    """Count ``phonenumbers.is_valid_number`` calls (by E.164); with ``answer``, give it.

    Clears the normalisation caches first: they remember numbers found valid.
    """
    _phone.cache_clear()
    _phone_key.cache_clear()
    calls: list[str] = []
    real = phonenumbers.is_valid_number

    def check(number: phonenumbers.PhoneNumber) -> bool:
        calls.append(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        return real(number) if answer is None else answer

    monkeypatch.setattr(phonenumbers, "is_valid_number", check)
    return calls


def test_identify_of_a_stored_number_skips_the_validity_check(
    kit: Omnikit, monkeypatch: pytest.MonkeyPatch
) -> None:
    jan = kit.customers.identify(phone="020 555 0101", name="Jan")
    calls = _count_validity_checks(monkeypatch)
    # written forms this process has not normalised yet, so none is cached
    assert kit.customers.identify(phone="+31 20 555 0101").id == jan.id
    assert kit.customers.find(phone="0031 20 555 0101") == kit.customers.get(jan.id)
    assert calls == []  # the stored identity passed the check when it was stored
    assert kit.customers.find(phone="020 555 0102") is None  # not stored: checked
    assert calls == ["+31205550102"]
    piet = kit.customers.identify(phone="020 555 0103")  # a new customer: checked
    assert calls == ["+31205550102", "+31205550103"]
    assert piet.values("phone") == ["+31205550103"]


def test_a_stored_number_is_recognised_without_the_check_a_new_one_must_pass(
    kit: Omnikit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if phonenumbers' metadata had changed since the number was stored: the check
    # now refuses every number. A stored number still finds its customer; a number that
    # would be stored, or that matches nothing, is refused.
    jan = kit.customers.identify(phone="020 555 0201", email="jan@example.nl")
    _count_validity_checks(monkeypatch, answer=False)
    assert kit.customers.identify(phone="+31 20 555 0201").id == jan.id
    assert kit.customers.find(phone="020-5550201") == kit.customers.get(jan.id)
    for call in (
        lambda: kit.customers.identify(phone="020 555 0202"),
        lambda: kit.customers.find(phone="020 555 0202"),
        lambda: kit.customers.identify(phone="020 555 0203", email="jan@example.nl"),
        lambda: kit.customers.add_identity(jan.id, phone="020 555 0204"),
    ):
        with pytest.raises(InvalidIdentityError, match="is not a valid phone number"):
            call()
    assert kit.customers.get(jan.id).values("phone") == ["+31205550201"]
    assert kit.customers.find(email="jan@example.nl") == kit.customers.get(jan.id)
