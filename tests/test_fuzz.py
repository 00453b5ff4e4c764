"""Property tests: whatever text a caller sends, only ``OmnikitError`` comes back out.

The normalisers must either return a well-formed, idempotent value or raise an
``OmnikitError``; ``kit.record`` and ``kit.customers.identify`` must either succeed and
store exactly what was given, or raise an ``OmnikitError``. No driver, codec or pydantic
exception may escape.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from omnikit import (
    ConflictError,
    Customer,
    InvalidIdentityError,
    Omnikit,
    OmnikitError,
    PostalAddress,
    ValidationError,
    normalize_address,
    normalize_email,
    normalize_external_id,
    normalize_handle,
    normalize_phone,
)

FUZZ = settings(max_examples=250, deadline=None)
"""Modest example counts and no deadline: the whole module runs in seconds."""

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
REGIONS = st.sampled_from([None, "NL", "PL", "US", "GB"])
HANDLE_CHANNELS = st.sampled_from(["twitter", "instagram", "telegram", "messenger"])

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()))
"""Every code point, lone surrogates included."""

FULLWIDTH_DIGITS = str.maketrans(string.digits, "".join(chr(0xFF10 + n) for n in range(10)))
"""Turns ``0123`` into the full-width digits some keyboards type."""

PHONE_LIKE = st.text(alphabet="0123456789 +-()./", max_size=30)
"""Text from the characters a phone number is written with."""


@st.composite
def written_numbers(draw: st.DrawFn) -> str:
    """A plausible written phone number: a prefix, then digits in separated groups."""
    prefix = draw(st.sampled_from(["+31", "0031", "+48", "+1", "+44", "0", "", "+", "00"]))
    groups = draw(st.lists(st.text(string.digits, min_size=1, max_size=4), min_size=1, max_size=5))
    separators = draw(
        st.lists(st.sampled_from([" ", "-", ".", "/", "", "  "]), min_size=len(groups))
    )
    body = "".join(sep + group for sep, group in zip(separators, groups, strict=False))
    if draw(st.booleans()):
        body = f" ({body.strip()}) "
    return prefix + body


@st.composite
def plausible_emails(draw: st.DrawFn) -> str:
    """An address that looks right: letters (any script), digits, dots, plus, mixed case."""
    atom = st.text(
        alphabet=st.characters(categories=("Lu", "Ll", "Nd")) | st.sampled_from("+-_"),
        min_size=1,
        max_size=12,
    )
    local = ".".join(draw(st.lists(atom, min_size=1, max_size=3)))
    domain = draw(
        st.sampled_from(
            [
                "example.com",
                "EXAMPLE.nl",
                "Mail.Example.PL",
                "bücher.de",
                "ÉCOLE.fr",
                "xn--bcher-kva.de",
            ]
        )
    )
    return f"{local}@{domain}"


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | ANY_TEXT
    | st.text()
    | st.characters(blacklist_categories=())
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT | st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


# phone numbers -----------------------------------------------------------------------------


@FUZZ
@given(raw=st.text() | ANY_TEXT | PHONE_LIKE | written_numbers(), region=REGIONS)
@example(raw="020 123 4567", region="NL")
@example(raw="+31 20 123 4567", region=None)
@example(raw="0031-20-1234567", region="PL")
@example(raw="(202) 555-0143", region="US")
@example(raw="+48 22 123 45 67", region="GB")
@example(raw="020 123 4567".translate(FULLWIDTH_DIGITS), region="NL")
def test_normalize_phone_returns_e164_or_raises_omnikit_error(raw: str, region: str | None) -> None:
    try:
        result = normalize_phone(raw, region)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert E164.fullmatch(result), result
    assert normalize_phone(result) == result
    assert normalize_phone(result, region) == result


@FUZZ
@given(raw=written_numbers(), region=REGIONS)
@example(raw="020 123 4567", region="NL")
@example(raw="+1 202 555 0143", region=None)
def test_normalize_phone_round_trips_its_own_result(raw: str, region: str | None) -> None:
    try:
        result = normalize_phone(raw, region)
    except InvalidIdentityError as error:
        assert str(error)
        return
    for other in (None, "NL", "PL", "US", "GB"):
        assert normalize_phone(result, other) == result


# e-mail addresses ------------------------------------------------------------------------


@FUZZ
@given(raw=st.text() | ANY_TEXT | st.emails() | plausible_emails())
@example(raw="Jan.Jansen@Example.NL")
@example(raw="  jan@example.nl  ")
@example(raw="jan@@example")
def test_normalize_email_is_lower_case_idempotent_or_raises(raw: str) -> None:
    try:
        result = normalize_email(raw)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert result == result.lower()
    assert normalize_email(result) == result


@FUZZ
@given(raw=plausible_emails())
def test_normalize_email_ignores_case(raw: str) -> None:
    try:
        lower = normalize_email(raw.lower())
    except InvalidIdentityError as error:
        assert str(error)
        return
    assert normalize_email(raw) == lower


# handles, external ids, addresses ---------------------------------------------------------


@FUZZ
@given(channel=HANDLE_CHANNELS, raw=st.text() | ANY_TEXT)
@example(channel="twitter", raw="@JanJ")
@example(channel="twitter", raw=" @@jan ")
def test_normalize_handle_is_idempotent_or_raises(channel: str, raw: str) -> None:
    try:
        result = normalize_handle(channel, raw)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert result
    assert not result.startswith("@")
    assert result == result.strip()
    assert normalize_handle(channel, result) == result


@FUZZ
@given(system=st.sampled_from(["webshop", "crm", "app"]), raw=st.text() | ANY_TEXT)
@example(system="webshop", raw="  C-1001 ")
def test_normalize_external_id_keeps_case_and_is_idempotent(system: str, raw: str) -> None:
    try:
        result = normalize_external_id(system, raw)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert result == raw.strip()
    assert normalize_external_id(system, result) == result


@FUZZ
@given(raw=st.text() | ANY_TEXT, region=REGIONS)
def test_normalize_address_returns_a_key_or_raises(raw: str, region: str | None) -> None:
    try:
        result = normalize_address(raw, region)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert result
    assert "\n" not in result
    assert result == " ".join(result.split())


ADDRESS_TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ,;.-/'\n", max_size=60)
"""Addresses written with plain ASCII letters, digits and punctuation."""


@FUZZ
@given(raw=ADDRESS_TEXT, region=REGIONS)
@example(raw="Damrak 1, 1012ab Amsterdam", region="NL")
@example(raw="ul. Marszalkowska 1, 00-001 Warszawa, Polska", region=None)
def test_normalize_address_is_idempotent(raw: str, region: str | None) -> None:
    try:
        result = normalize_address(raw, region)
    except OmnikitError as error:
        assert type(error) is InvalidIdentityError, repr(error)
        return
    assert normalize_address(result, region) == result
    assert normalize_address(result) == result


@FUZZ
@given(
    street=st.text() | ANY_TEXT,
    postcode=st.text(max_size=10),
    city=st.text(),
    country=st.none() | st.sampled_from(["NL", "nl", "PL", "XX", ""]) | st.text(max_size=3),
    region=REGIONS,
)
def test_normalize_postal_address_returns_a_key_or_raises(
    street: str, postcode: str, city: str, country: str | None, region: str | None
) -> None:
    address = PostalAddress(street=street, postcode=postcode, city=city, country=country)
    try:
        result = normalize_address(address, region)
    except OmnikitError as error:
        assert isinstance(error, ValidationError), repr(error)
        return
    assert result
    assert "\n" not in result


WORDS = st.lists(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True), min_size=1, max_size=6)


CASINGS = st.sampled_from([str.upper, str.lower, str.swapcase, str.title, str.strip])


@FUZZ
@given(words=WORDS, data=st.data())
@example(words=["Damrak", "1", "1012ab", "Amsterdam"], data=None)
def test_addresses_written_differently_give_one_key(
    words: list[str], data: st.DataObject | None
) -> None:
    plain = " ".join(words)
    if data is None:
        written = "damrak 1  .  1012 AB\tAMSTERDAM"
    else:
        separators = data.draw(
            st.lists(
                st.sampled_from([" ", "  ", "\t", " . ", ". ", " ' ", "' "]),
                min_size=len(words),
                max_size=len(words),
            )
        )
        casings = data.draw(st.lists(CASINGS, min_size=len(words), max_size=len(words)))
        written = "".join(
            separator + casing(word)
            for separator, casing, word in zip(separators, casings, words, strict=True)
        )
    try:
        expected = normalize_address(plain, "NL")
    except InvalidIdentityError as error:
        assert str(error)
        return
    assert normalize_address(written, "NL") == expected


def test_address_examples_give_one_key() -> None:
    key = normalize_address("Damrak 1, 1012ab Amsterdam", "NL")
    assert key == "DAMRAK 1 1012 AB AMSTERDAM, NL"
    assert normalize_address("damrak 1\n1012 AB  AMSTERDAM", "NL") == key
    parts = PostalAddress(street="Damrak 1", postcode="1012 AB", city="AMSTERDAM")
    assert normalize_address(parts, "NL") == key
    assert normalize_address("Damrak 1, 1012 ab Amsterdam, Nederland") == key
    assert normalize_address("1234ab") == "1234 AB"
    assert normalize_address("1234ab", "NL") == "1234 AB, NL"


# the kit ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def memory_kit() -> Iterator[tuple[Omnikit, Customer]]:
    """One in-memory kit for the module, and a customer to record for."""
    kit = Omnikit("sqlite:///:memory:")
    try:
        yield kit, kit.customers.identify(email="fuzz@example.nl")
    finally:
        kit.close()


@pytest.fixture(scope="module")
def identify_kit() -> Iterator[Omnikit]:
    """One in-memory kit, reading Dutch national numbers, for the identify tests."""
    kit = Omnikit("sqlite:///:memory:", default_region="NL")
    try:
        yield kit
    finally:
        kit.close()


@FUZZ
@given(
    text=st.none() | st.text() | ANY_TEXT,
    subject=st.none() | st.text() | ANY_TEXT,
    metadata=st.none() | st.dictionaries(ANY_TEXT | st.text(), JSON_VALUES, max_size=5),
    channel=st.sampled_from(["email", "whatsapp", "phone", "store"]),
)
@example(text="", subject="", metadata={}, channel="email")
@example(text="line\r\nbreak\u2028", subject="\U0001f4e6", metadata={"": [None]}, channel="email")
def test_record_stores_exactly_what_was_given_or_raises(
    memory_kit: tuple[Omnikit, Customer],
    text: str | None,
    subject: str | None,
    metadata: dict[str, Any] | None,
    channel: str,
) -> None:
    kit, customer = memory_kit
    try:
        interaction = kit.record(
            customer=customer,
            channel=channel,
            direction="inbound",
            kind="message",
            text=text,
            subject=subject,
            metadata=metadata,
        )
    except OmnikitError as error:
        assert isinstance(error, ValidationError), repr(error)
        return
    assert interaction.text == text
    assert interaction.subject == subject
    assert interaction.metadata == (metadata or {})
    stored = kit.customer_card(customer, limit=1).recent[0]
    assert stored.id == interaction.id
    assert stored.text == text
    assert stored.subject == subject
    assert stored.metadata == (metadata or {})


@FUZZ
@given(
    phone=st.none() | st.text() | ANY_TEXT | written_numbers(),
    email=st.none() | st.text() | ANY_TEXT | plausible_emails(),
    handle=st.none() | st.text() | ANY_TEXT,
)
@example(phone="020 123 4567", email="Fuzz.Identify@Example.NL", handle="@FuzzJan")
def test_identify_only_raises_omnikit_errors(
    identify_kit: Omnikit, phone: str | None, email: str | None, handle: str | None
) -> None:
    kit = identify_kit
    try:
        customer = kit.customers.identify(
            phone=phone, email=email, handles=None if handle is None else {"twitter": handle}
        )
    except OmnikitError as error:
        assert isinstance(error, ValidationError | ConflictError), repr(error)
        return
    if phone is not None:
        assert normalize_phone(phone, "NL") in customer.values("phone")
    if email is not None:
        assert normalize_email(email) in customer.values("email")
    if handle is not None:
        assert normalize_handle("twitter", handle) in customer.values("handle")
    assert kit.customers.get(customer.id).id == customer.id


@FUZZ
@given(address=st.text() | ANY_TEXT, external_id=st.none() | st.text() | ANY_TEXT)
@example(address="Damrak 1, 1012ab Amsterdam", external_id="C-1001")
@example(address="Damrak 1\ud800, Amsterdam", external_id=None)
def test_identify_by_address_only_raises_omnikit_errors(
    identify_kit: Omnikit, address: str, external_id: str | None
) -> None:
    kit = identify_kit
    external_ids = None if external_id is None else {"webshop": external_id}
    try:
        customer = kit.customers.identify(address=address, external_ids=external_ids)
    except OmnikitError as error:
        assert isinstance(error, ValidationError | ConflictError), repr(error)
        return
    assert normalize_address(address, "NL") in customer.values("postal")
