"""Identity normalisation: every written form of an identifier becomes one value."""

from __future__ import annotations

import phonenumbers
import pytest

from omnikit import (
    InvalidIdentityError,
    PostalAddress,
    ValidationError,
    normalize_address,
    normalize_email,
    normalize_external_id,
    normalize_handle,
    normalize_phone,
)
from omnikit.identity import _phone, _phone_key, normalize_region, phone_key


@pytest.mark.parametrize(
    "raw", ["020 123 4567", "020-1234567", "0031 20 123 4567", "+31 20 123 4567", "(020) 123.45.67"]
)
def test_dutch_landline_forms_normalise_to_one_value(raw: str) -> None:
    assert normalize_phone(raw, "NL") == "+31201234567"


def test_dutch_mobile_national_format() -> None:
    assert normalize_phone("06 12345678", "NL") == "+31612345678"


def test_international_number_needs_no_region() -> None:
    assert normalize_phone("+48 22 123 45 67") == "+48221234567"
    assert normalize_phone("+48 22 123 45 67", "NL") == "+48221234567"


def test_region_is_never_assumed() -> None:
    with pytest.raises(InvalidIdentityError, match="has no country code"):
        normalize_phone("020 123 4567")


def test_national_numbers_follow_the_region_given() -> None:
    assert normalize_phone("22 123 45 67", "PL") == "+48221234567"
    assert normalize_phone("(212) 555-0100", "US") == "+12125550100"


@pytest.mark.parametrize("raw", ["not a number", "+31 12", "", "++31201234567", "06 1234"])
def test_bad_phone_numbers_name_the_value(raw: str) -> None:
    with pytest.raises(InvalidIdentityError) as caught:
        normalize_phone(raw, "NL")
    assert repr(raw) in str(caught.value)


def test_bad_region_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="'XX' is not a known region"):
        normalize_phone("020 123 4567", "XX")
    assert normalize_region("nl") == "NL"


def test_second_normalisation_is_a_cache_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_parse = phonenumbers.parse

    def counting_parse(number: str, region: str | None = None) -> phonenumbers.PhoneNumber:
        calls.append(number)
        return real_parse(number, region)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    raw = "020 765 4321"
    first = normalize_phone(raw, "NL")
    second = normalize_phone(raw, "NL")
    assert first == second == "+31207654321"
    assert calls.count(raw) <= 1  # at most the first call parses; the second is cached


@pytest.mark.parametrize(
    "raw", ["jan@example.nl", "Jan@Example.NL", "  JAN@EXAMPLE.NL ", "jan@EXAMPLE.nl"]
)
def test_email_is_case_insensitive(raw: str) -> None:
    assert normalize_email(raw) == "jan@example.nl"


@pytest.mark.parametrize("raw", ["jan@@example", "jan", "@example.nl", "jan@example", ""])
def test_bad_email_is_rejected_with_its_value(raw: str) -> None:
    with pytest.raises(InvalidIdentityError) as caught:
        normalize_email(raw)
    assert repr(raw) in str(caught.value)


def test_handles_strip_at_and_ignore_case() -> None:
    assert normalize_handle("twitter", "@JanJ") == "janj"
    assert normalize_handle("twitter", " janj ") == "janj"
    with pytest.raises(InvalidIdentityError):
        normalize_handle("twitter", "@")
    with pytest.raises(InvalidIdentityError):
        normalize_handle("twitter", "jan j")


def test_external_ids_keep_their_case() -> None:
    assert normalize_external_id("webshop", " C-1001 ") == "C-1001"
    assert normalize_external_id("webshop", "c-1001") != "C-1001"
    with pytest.raises(InvalidIdentityError):
        normalize_external_id("webshop", "   ")


def test_dutch_postcode_is_written_the_standard_way() -> None:
    assert normalize_address("Damrak 1, 1012ab Amsterdam", "NL") == "DAMRAK 1 1012 AB AMSTERDAM, NL"


@pytest.mark.parametrize(
    "raw",
    [
        "Damrak 1, 1012ab Amsterdam",
        "damrak 1\n1012 AB  AMSTERDAM",
        "Damrak 1; 1012 AB Amsterdam; Nederland",
        "Damrak 1, 1012AB, Amsterdam, NL",
        PostalAddress(street="Damrak 1", postcode="1012ab", city="Amsterdam"),
        PostalAddress(street="Damrak 1", postcode="1012 AB", city="AMSTERDAM", country="NL"),
    ],
    ids=str,
)
def test_same_address_written_differently_compares_equal(raw: str | PostalAddress) -> None:
    assert normalize_address(raw, "NL") == "DAMRAK 1 1012 AB AMSTERDAM, NL"


def test_address_country_from_text_wins_over_region() -> None:
    assert normalize_address("ul. Marszałkowska 1, 00-950 Warszawa, Polska", "NL").endswith(", PL")


def test_empty_address_is_rejected() -> None:
    with pytest.raises(InvalidIdentityError):
        normalize_address(" , ", "NL")


@pytest.mark.parametrize(
    "raw",
    [
        "020 123 4567",
        "0031 20 123 4567",
        "+31 20 123 4567",
        "(020) 123.45.67",
        "\uff10\uff12\uff10 1234567",
    ],
)
def test_phone_key_is_the_normalised_value_of_a_valid_number(raw: str) -> None:
    assert phone_key(raw, "NL") == normalize_phone(raw, "NL") == "+31201234567"


@pytest.mark.parametrize(("raw", "key"), [("+31 12", "+3112"), ("06 1234", "+3161234")])
def test_phone_key_leaves_the_validity_check_to_normalize_phone(raw: str, key: str) -> None:
    assert phone_key(raw, "NL") == key
    with pytest.raises(InvalidIdentityError) as caught:
        normalize_phone(raw, "NL")
    assert repr(raw) in str(caught.value)
    assert phone_key(raw, "NL") == key  # the refusal is not cached as a value


@pytest.mark.parametrize(
    ("raw", "region"),
    [("not a number", "NL"), ("", "NL"), ("++31201234567", "NL"), ("020 1", None)],
)
def test_phone_key_refuses_what_normalize_phone_refuses_before_the_check(
    raw: str, region: str | None
) -> None:
    with pytest.raises(InvalidIdentityError) as by_normalize:
        normalize_phone(raw, region)
    with pytest.raises(InvalidIdentityError) as by_key:
        phone_key(raw, region)
    assert str(by_key.value) == str(by_normalize.value)


def test_phone_key_runs_no_validity_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _phone.cache_clear()
    _phone_key.cache_clear()
    calls: list[phonenumbers.PhoneNumber] = []
    real_check = phonenumbers.is_valid_number

    def counting_check(number: phonenumbers.PhoneNumber) -> bool:
        calls.append(number)
        return real_check(number)

    monkeypatch.setattr(phonenumbers, "is_valid_number", counting_check)
    raw = "020 765 4399"
    assert phone_key(raw, "NL") == phone_key("+31 20 765 4399") == "+31207654399"
    assert calls == []
    assert normalize_phone(raw, "NL") == normalize_phone(raw, "NL") == "+31207654399"
    assert len(calls) == 1  # the second normalize_phone is a cache hit
    for _ in range(2):
        with pytest.raises(InvalidIdentityError):
            normalize_phone("020 76", "NL")  # an invalid number is checked every time
    assert len(calls) == 3
