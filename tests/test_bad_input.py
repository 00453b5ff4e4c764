"""What a careless caller sends: every public call rejects it with its own error.

Each rejected call must raise the specific ``OmnikitError`` subclass for the mistake,
let no driver or pydantic exception escape, and leave the database exactly as it was:
a dump of the SQLite file, taken on a separate connection before and after the call,
must not change.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy.exc

from omnikit import (
    TRANSITIONS,
    AmbiguousIdentityError,
    Case,
    CaseStatus,
    ConflictError,
    Customer,
    Interaction,
    InvalidIdentityError,
    InvalidTransitionError,
    NotFoundError,
    Omnikit,
    OmnikitError,
    PostalAddress,
    UnknownChannelError,
    ValidationError,
    normalize_phone,
)

MIB = 1024 * 1024
MISSING_CUSTOMER = "no-such-customer"
MISSING_CASE = "no-such-case"

# fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The SQLite file the ``kit`` fixture keeps its records in."""
    return tmp_path / "kit.db"


@pytest.fixture
def kit(db: Path) -> Iterator[Omnikit]:
    """A kit on a real SQLite file, reading numbers without a country as Dutch."""
    kit = Omnikit(f"sqlite:///{db}", default_region="NL")
    try:
        yield kit
    finally:
        kit.close()


@pytest.fixture
def plain_kit(tmp_path: Path) -> Iterator[tuple[Omnikit, Path]]:
    """A kit without a default region, and the path of its SQLite file."""
    path = tmp_path / "plain.db"
    kit = Omnikit(f"sqlite:///{path}")
    try:
        yield kit, path
    finally:
        kit.close()


@pytest.fixture
def jan(kit: Omnikit) -> Customer:
    return kit.customers.identify(email="jan@example.nl", phone="020 123 4567", name="Jan")


@pytest.fixture
def piet(kit: Omnikit) -> Customer:
    return kit.customers.identify(email="piet@example.nl", phone="+48 22 123 45 67")


@pytest.fixture
def jan_case(kit: Omnikit, jan: Customer) -> Case:
    return kit.cases.open(customer=jan, subject="Parcel did not arrive")


@pytest.fixture
def piet_case(kit: Omnikit, piet: Customer) -> Case:
    return kit.cases.open(customer=piet, subject="Wrong size")


@pytest.fixture
def piet_interaction(kit: Omnikit, piet: Customer) -> Interaction:
    return kit.record(
        customer=piet, channel="email", direction="inbound", kind="message", text="Hallo"
    )


def dump(path: Path) -> str:
    """Every row and schema object of the store, as SQL, read on its own connection."""
    with closing(sqlite3.connect(path)) as connection:
        return "\n".join(connection.iterdump())


_FOREIGN = (sqlite3.Error, pydantic.ValidationError, sqlalchemy.exc.SQLAlchemyError)


def assert_no_leak(error: BaseException) -> None:
    """Neither the error nor anything its traceback would show is a driver/pydantic error."""
    seen: BaseException | None = error
    while seen is not None:
        assert not isinstance(seen, _FOREIGN), f"{type(seen).__module__}.{type(seen).__name__}"
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def rejects(
    path: Path,
    error_type: type[OmnikitError] | tuple[type[OmnikitError], ...],
    call: Callable[[], object],
) -> OmnikitError:
    """Run ``call``; it must raise exactly ``error_type`` (or one of several) and leave the
    store unchanged."""
    allowed = error_type if isinstance(error_type, tuple) else (error_type,)
    before = dump(path)
    with pytest.raises(OmnikitError) as info:
        call()
    error = info.value
    assert type(error) in allowed, f"expected {allowed}, got {error!r}"
    assert isinstance(error, OmnikitError)
    assert_no_leak(error)
    assert dump(path) == before, "a rejected call changed the store"
    return error


def names(value: str, message: str) -> bool:
    """True when ``message`` names ``value`` (as written, or quoted when empty)."""
    return (repr(value) in message or f'"{value}"' in message) if not value else value in message


def record_args(customer: object, /, **changes: Any) -> dict[str, Any]:
    """The keyword arguments of a good ``kit.record`` call, with ``changes`` applied."""
    args: dict[str, Any] = {
        "customer": customer,
        "channel": "email",
        "direction": "inbound",
        "kind": "message",
        "text": "Where is my parcel?",
    }
    args.update(changes)
    return args


# phone numbers and e-mail addresses --------------------------------------------------------

BAD_PHONES = ["not a number", "+31 12", "", "++31201234567"]


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_identify_rejects_bad_phone(kit: Omnikit, db: Path, jan: Customer, phone: str) -> None:
    error = rejects(db, InvalidIdentityError, lambda: kit.customers.identify(phone=phone))
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_identify_rejects_bad_phone_next_to_good_email(
    kit: Omnikit, db: Path, jan: Customer, phone: str
) -> None:
    error = rejects(
        db,
        InvalidIdentityError,
        lambda: kit.customers.identify(email="new@example.nl", phone=phone, name="New"),
    )
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_find_rejects_bad_phone(kit: Omnikit, db: Path, jan: Customer, phone: str) -> None:
    error = rejects(db, InvalidIdentityError, lambda: kit.customers.find(phone=phone))
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", BAD_PHONES)
@pytest.mark.parametrize("region", [None, "NL", "PL"])
def test_normalize_phone_rejects_bad_phone(phone: str, region: str | None) -> None:
    with pytest.raises(OmnikitError) as info:
        normalize_phone(phone, region)
    assert type(info.value) is InvalidIdentityError
    assert names(phone, str(info.value)), str(info.value)


def test_national_number_without_region_is_rejected(plain_kit: tuple[Omnikit, Path]) -> None:
    kit, path = plain_kit
    kit.customers.identify(email="someone@example.nl")
    phone = "020 123 4567"
    error = rejects(path, InvalidIdentityError, lambda: kit.customers.identify(phone=phone))
    assert phone in str(error)
    with pytest.raises(InvalidIdentityError, match="020 123 4567"):
        normalize_phone(phone)


def test_national_number_with_region_argument_is_accepted(
    plain_kit: tuple[Omnikit, Path],
) -> None:
    kit, _ = plain_kit
    customer = kit.customers.identify(phone="020 123 4567", region="NL")
    assert customer.values("phone") == ["+31201234567"]


def test_identify_rejects_malformed_email(kit: Omnikit, db: Path, jan: Customer) -> None:
    email = "jan@@example"
    error = rejects(db, InvalidIdentityError, lambda: kit.customers.identify(email=email))
    assert email in str(error)


@pytest.mark.parametrize("email", ["", "   ", "jan", "@example.nl", "jan@", "jan@exa mple.nl"])
def test_identify_rejects_other_bad_emails(
    kit: Omnikit, db: Path, jan: Customer, email: str
) -> None:
    error = rejects(db, InvalidIdentityError, lambda: kit.customers.identify(email=email))
    assert names(email, str(error)), str(error)


# channels and handles ----------------------------------------------------------------------


def test_record_rejects_unknown_channel(kit: Omnikit, db: Path, jan: Customer) -> None:
    error = rejects(
        db, UnknownChannelError, lambda: kit.record(**record_args(jan, channel="pigeon"))
    )
    assert "pigeon" in str(error)


def test_identify_rejects_handle_on_unknown_channel(kit: Omnikit, db: Path, jan: Customer) -> None:
    error = rejects(
        db, UnknownChannelError, lambda: kit.customers.identify(handles={"pigeon": "x"})
    )
    assert "pigeon" in str(error)


def test_identify_rejects_handle_on_channel_not_addressed_by_handles(
    kit: Omnikit, db: Path, jan: Customer
) -> None:
    error = rejects(
        db, InvalidIdentityError, lambda: kit.customers.identify(handles={"email": "x"})
    )
    assert "email" in str(error)


@pytest.mark.parametrize("handle", ["", "@", "   ", "jan jansen", "jan\x00", "x" * 300])
def test_identify_rejects_bad_handle(kit: Omnikit, db: Path, jan: Customer, handle: str) -> None:
    rejects(db, InvalidIdentityError, lambda: kit.customers.identify(handles={"twitter": handle}))


@pytest.mark.parametrize(
    ("external_ids", "error_type"),
    [
        ({"webshop": ""}, InvalidIdentityError),
        ({"webshop": "   "}, InvalidIdentityError),
        ({"webshop": "C-1\n001"}, InvalidIdentityError),
        ({"Web Shop!": "C-1001"}, InvalidIdentityError),
        ({"webshop": 1001}, InvalidIdentityError),
        ({"": "C-1001"}, InvalidIdentityError),
    ],
)
def test_identify_rejects_bad_external_ids(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    external_ids: dict[str, Any],
    error_type: type[OmnikitError],
) -> None:
    rejects(db, error_type, lambda: kit.customers.identify(external_ids=external_ids))


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        ", ; ,",
        "---",
        "x" * 1001,
        "Damrak 1\ud800, Amsterdam",
        PostalAddress(street="Damrak\ud800 1", postcode="1012 AB", city="Amsterdam"),
    ],
    ids=[
        "empty",
        "blank",
        "separators",
        "dashes",
        "too-long",
        "lone-surrogate",
        "postal-address-lone-surrogate",
    ],
)
def test_identify_rejects_bad_address(kit: Omnikit, db: Path, jan: Customer, address: str) -> None:
    rejects(db, InvalidIdentityError, lambda: kit.customers.identify(address=address))


def test_identify_rejects_postal_address_with_unknown_country(
    kit: Omnikit, db: Path, jan: Customer
) -> None:
    address = PostalAddress(street="Damrak 1", postcode="1012 AB", city="Amsterdam", country="XX")
    error = rejects(db, ValidationError, lambda: kit.customers.identify(address=address))
    assert "XX" in str(error)


# directions, datetimes and the clock ---------------------------------------------------------


def test_record_rejects_unknown_direction(kit: Omnikit, db: Path, jan: Customer) -> None:
    error = rejects(
        db, ValidationError, lambda: kit.record(**record_args(jan, direction="sideways"))
    )
    assert "sideways" in str(error)


@pytest.mark.parametrize(
    "occurred_at",
    [datetime(2024, 5, 1, 12, 30), datetime.now(), "2024-05-01T12:30:00+00:00", 1714566600],
    ids=["naive", "naive-now", "iso-string", "timestamp"],
)
def test_record_rejects_naive_or_non_datetime(
    kit: Omnikit, db: Path, jan: Customer, occurred_at: object
) -> None:
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan, occurred_at=occurred_at)))


def test_record_rejects_a_naive_clock(kit: Omnikit, db: Path, jan: Customer) -> None:
    naive = Omnikit(f"sqlite:///{db}", default_region="NL", clock=lambda: datetime(2024, 5, 1))
    try:
        error = rejects(db, ValidationError, lambda: naive.record(**record_args(jan.id)))
        assert "naive" in str(error)
        aware = datetime(2024, 5, 1, tzinfo=UTC)
        rejects(db, ValidationError, lambda: naive.record(**record_args(jan.id, occurred_at=aware)))
    finally:
        naive.close()


def test_kit_rejects_a_clock_that_is_not_callable(tmp_path: Path) -> None:
    path = tmp_path / "clock.db"
    with pytest.raises(OmnikitError) as info:
        Omnikit(f"sqlite:///{path}", clock=datetime.now(UTC))  # type: ignore[arg-type]
    assert type(info.value) is ValidationError
    assert not path.exists()


# metadata, sizes and wrong types ------------------------------------------------------------


class _Unserialisable:
    pass


@pytest.mark.parametrize(
    "metadata",
    [
        {"when": datetime.now(UTC)},
        {"x": float("nan")},
        {"x": float("inf")},
        {1: "int key"},
        {("a", "b"): "tuple key"},
        {"nested": {"deeper": [1, 2, {3, 4}]}},
        {"bytes": b"raw"},
        {"obj": _Unserialisable()},
        {"nul": "a\x00b"},
        object(),
        "not a mapping",
        ["a", "list"],
        {"x": "x" * MIB},
        {f"k{i}": "x" * 1024 for i in range(1100)},
    ],
    ids=[
        "datetime",
        "nan",
        "inf",
        "int-key",
        "tuple-key",
        "set-value",
        "bytes",
        "object-value",
        "nul",
        "object",
        "string",
        "list",
        "oversized-value",
        "oversized-many-keys",
    ],
)
def test_record_rejects_bad_metadata(
    kit: Omnikit, db: Path, jan: Customer, metadata: object
) -> None:
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan, metadata=metadata)))


def test_record_rejects_metadata_nested_too_deeply(kit: Omnikit, db: Path, jan: Customer) -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan, metadata=deep)))


@pytest.mark.parametrize(
    "changes",
    [
        {"text": "x" * (MIB + 1)},
        {"text": "é" * (MIB // 2 + 1)},
        {"subject": "x" * 1001},
        {"subject": "x" * (MIB + 1)},
        {"agent": "x" * 129},
        {"text": "nul \x00 inside"},
        {"text": "lone \ud800 surrogate"},
        {"subject": "lone \udfff surrogate"},
        {"text": b"bytes"},
        {"text": 42},
        {"external_id": ""},
        {"external_id": "   "},
        {"external_id": "x" * 257},
        {"external_id": 1001},
        {"external_id": "id\x00"},
    ],
    ids=[
        "text-over-1mib",
        "text-over-1mib-in-utf8",
        "subject-over-1000-chars",
        "subject-over-1mib",
        "agent-too-long",
        "text-nul",
        "text-surrogate",
        "subject-surrogate",
        "text-bytes",
        "text-int",
        "external-id-empty",
        "external-id-blank",
        "external-id-too-long",
        "external-id-int",
        "external-id-nul",
    ],
)
def test_record_rejects_oversized_or_unstorable_text(
    kit: Omnikit, db: Path, jan: Customer, changes: dict[str, Any]
) -> None:
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan, **changes)))


def test_record_accepts_text_of_exactly_one_mib(kit: Omnikit, jan: Customer) -> None:
    text = "x" * MIB
    interaction = kit.record(**record_args(jan, text=text))
    assert kit.journey(jan).steps[-1].id == interaction.id
    assert kit.journey(jan).steps[-1].text == text


@pytest.mark.parametrize(
    "changes",
    [
        {"customer": 123},
        {"customer": None},
        {"customer": ""},
        {"customer": "x" * 65},
        {"kind": "Not A Word"},
        {"kind": ""},
        {"kind": None},
        {"kind": "x" * 65},
        {"purpose": [1]},
        {"purpose": "Not A Word"},
        {"purpose": {"complaint": True}},
        {"purpose": 7},
        {"direction": None},
        {"direction": 1},
        {"case": 42},
        {"agent": 7},
        {"attachments": "invoice.pdf"},
        {"attachments": [{"name": "invoice.pdf"}]},
        {"attachments": 3},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}"[:30] for k, v in changes.items()),
)
def test_record_rejects_wrong_types(
    kit: Omnikit, db: Path, jan: Customer, changes: dict[str, Any]
) -> None:
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan, **changes)))


@pytest.mark.parametrize("channel", [None, 7, "", "EMAIL", "e-mail"])
def test_record_rejects_wrong_channel_values(
    kit: Omnikit, db: Path, jan: Customer, channel: object
) -> None:
    rejects(db, UnknownChannelError, lambda: kit.record(**record_args(jan, channel=channel)))


@pytest.mark.parametrize(
    ("arguments", "error_type"),
    [
        ({"email": "new@example.nl", "language": "not a language!"}, ValidationError),
        ({"email": "new@example.nl", "language": 31}, ValidationError),
        ({"email": "new@example.nl", "name": 31}, ValidationError),
        ({"email": "new@example.nl", "name": "x" * 501}, ValidationError),
        ({"email": "new@example.nl", "name": "bad \ud800 name"}, ValidationError),
        ({"email": "new@example.nl", "region": "XX"}, ValidationError),
        ({"phone": "+31 20 123 4567", "region": "XX"}, ValidationError),
        ({"address": "Damrak 1, Amsterdam", "region": 31}, ValidationError),
        ({"phone": 31201234567}, InvalidIdentityError),
        ({"email": ["jan@example.nl"]}, InvalidIdentityError),
        ({"handles": ["twitter", "@jan"]}, InvalidIdentityError),
        ({"handles": "@jan"}, InvalidIdentityError),
        ({"handles": {"twitter": 7}}, InvalidIdentityError),
        ({"external_ids": ["C-1001"]}, InvalidIdentityError),
        ({"address": 1012}, InvalidIdentityError),
    ],
    ids=[
        "language-not-a-tag",
        "language-int",
        "name-int",
        "name-too-long",
        "name-surrogate",
        "region-unknown-with-email",
        "region-unknown-with-phone",
        "region-int-with-address",
        "phone-int",
        "email-list",
        "handles-list",
        "handles-str",
        "handle-int",
        "external-ids-list",
        "address-int",
    ],
)
def test_identify_rejects_wrong_types(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    arguments: dict[str, Any],
    error_type: type[OmnikitError],
) -> None:
    rejects(db, error_type, lambda: kit.customers.identify(**arguments))


def test_identify_without_identifier_is_rejected(kit: Omnikit, db: Path, jan: Customer) -> None:
    rejects(db, ValidationError, lambda: kit.customers.identify())
    rejects(db, ValidationError, lambda: kit.customers.identify(name="Jan", language="nl"))
    rejects(db, ValidationError, lambda: kit.customers.identify(handles={}, external_ids={}))


def test_find_without_identifier_is_rejected(kit: Omnikit, db: Path, jan: Customer) -> None:
    rejects(db, ValidationError, lambda: kit.customers.find())


# unknown ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda kit: kit.record(**record_args(MISSING_CUSTOMER)),
        lambda kit: kit.customer_card(MISSING_CUSTOMER),
        lambda kit: kit.journey(MISSING_CUSTOMER),
        lambda kit: kit.customers.get(MISSING_CUSTOMER),
        lambda kit: kit.cases.open(customer=MISSING_CUSTOMER, subject="Lost parcel"),
    ],
    ids=["record", "customer_card", "journey", "customers.get", "cases.open"],
)
def test_unknown_customer_is_not_found(
    kit: Omnikit, db: Path, jan: Customer, call: Callable[[Omnikit], object]
) -> None:
    error = rejects(db, NotFoundError, lambda: call(kit))
    assert MISSING_CUSTOMER in str(error)
    assert isinstance(error, LookupError)


@pytest.mark.parametrize(
    "call",
    [
        lambda kit, jan: kit.record(**record_args(jan, case=MISSING_CASE)),
        lambda kit, jan: kit.cases.get(MISSING_CASE),
        lambda kit, jan: kit.cases.assign(MISSING_CASE, "agent-7"),
        lambda kit, jan: kit.cases.transition(MISSING_CASE, "open"),
        lambda kit, jan: kit.cases.history(MISSING_CASE),
        lambda kit, jan: kit.cases.interactions(MISSING_CASE),
        lambda kit, jan: kit.cases.attach(MISSING_CASE, "no-such-interaction"),
    ],
    ids=[
        "record",
        "cases.get",
        "cases.assign",
        "cases.transition",
        "cases.history",
        "cases.interactions",
        "cases.attach",
    ],
)
def test_unknown_case_is_not_found(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    jan_case: Case,
    call: Callable[[Omnikit, Customer], object],
) -> None:
    error = rejects(db, NotFoundError, lambda: call(kit, jan))
    assert MISSING_CASE in str(error)


def test_unknown_interaction_is_not_found(
    kit: Omnikit, db: Path, jan: Customer, jan_case: Case
) -> None:
    missing = "no-such-interaction"
    error = rejects(
        db,
        NotFoundError,
        lambda: kit.cases.open(customer=jan, subject="Lost parcel", interaction=missing),
    )
    assert missing in str(error)
    error = rejects(db, NotFoundError, lambda: kit.cases.attach(jan_case.id, missing))
    assert missing in str(error)


@pytest.mark.parametrize(
    "call",
    [
        lambda kit: kit.customers.get(None),
        lambda kit: kit.customers.get(""),
        lambda kit: kit.customers.get(123),
        lambda kit: kit.cases.get(None),
        lambda kit: kit.cases.get("x" * 65),
        lambda kit: kit.customer_card(123),
        lambda kit: kit.journey(["id"]),
        lambda kit: kit.cases.history(3.5),
    ],
    ids=[
        "customers.get-None",
        "customers.get-empty",
        "customers.get-int",
        "cases.get-None",
        "cases.get-too-long",
        "customer_card-int",
        "journey-list",
        "cases.history-float",
    ],
)
def test_malformed_ids_are_rejected(
    kit: Omnikit, db: Path, jan: Customer, call: Callable[[Omnikit], object]
) -> None:
    rejects(db, ValidationError, lambda: call(kit))


SURROGATE = "id-\ud800"


@pytest.mark.parametrize(
    "call",
    [
        lambda kit, jan, case: kit.customers.get(SURROGATE),
        lambda kit, jan, case: kit.customer_card(SURROGATE),
        lambda kit, jan, case: kit.journey(SURROGATE),
        lambda kit, jan, case: kit.record(**record_args(SURROGATE)),
        lambda kit, jan, case: kit.record(**record_args(jan, case=SURROGATE)),
        lambda kit, jan, case: kit.record_many([record_args(SURROGATE)]),
        lambda kit, jan, case: kit.cases.open(customer=SURROGATE, subject="Lost"),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="Lost", interaction=SURROGATE),
        lambda kit, jan, case: kit.cases.get(SURROGATE),
        lambda kit, jan, case: kit.cases.assign(SURROGATE, "agent-7"),
        lambda kit, jan, case: kit.cases.transition(SURROGATE, "open"),
        lambda kit, jan, case: kit.cases.history(SURROGATE),
        lambda kit, jan, case: kit.cases.interactions(SURROGATE),
        lambda kit, jan, case: kit.cases.attach(case.id, SURROGATE),
        lambda kit, jan, case: kit.cases.list(customer=SURROGATE),
    ],
    ids=[
        "customers.get",
        "customer_card",
        "journey",
        "record-customer",
        "record-case",
        "record_many-customer",
        "cases.open-customer",
        "cases.open-interaction",
        "cases.get",
        "cases.assign",
        "cases.transition",
        "cases.history",
        "cases.interactions",
        "cases.attach-interaction",
        "cases.list-customer",
    ],
)
def test_ids_with_a_lone_surrogate_are_rejected(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    jan_case: Case,
    call: Callable[[Omnikit, Customer, Case], object],
) -> None:
    """An id that cannot be encoded is either invalid or unknown; never a UnicodeEncodeError."""
    rejects(db, (ValidationError, NotFoundError), lambda: call(kit, jan, jan_case))


@pytest.mark.parametrize("limit", [-1, 1001, "5", 2.0, True, None])
def test_customer_card_rejects_bad_limit(
    kit: Omnikit, db: Path, jan: Customer, limit: object
) -> None:
    rejects(db, ValidationError, lambda: kit.customer_card(jan, limit=limit))  # type: ignore[arg-type]


# cross-customer references ---------------------------------------------------------------


def test_record_rejects_case_of_another_customer(
    kit: Omnikit, db: Path, jan: Customer, piet_case: Case
) -> None:
    error = rejects(db, ValidationError, lambda: kit.record(**record_args(jan, case=piet_case)))
    assert piet_case.id in str(error)
    rejects(db, ValidationError, lambda: kit.record(**record_args(jan.id, case=piet_case.id)))


def test_open_case_rejects_interaction_of_another_customer(
    kit: Omnikit, db: Path, jan: Customer, piet_interaction: Interaction
) -> None:
    error = rejects(
        db,
        ValidationError,
        lambda: kit.cases.open(customer=jan, subject="Lost parcel", interaction=piet_interaction),
    )
    assert piet_interaction.id in str(error)
    assert kit.cases.list(customer=jan) == []


def test_attach_rejects_interaction_of_another_customer(
    kit: Omnikit, db: Path, jan_case: Case, piet_interaction: Interaction
) -> None:
    error = rejects(db, ValidationError, lambda: kit.cases.attach(jan_case.id, piet_interaction.id))
    assert piet_interaction.id in str(error)


# idempotency and conflicts -----------------------------------------------------------------


def test_external_id_of_another_customer_is_a_conflict(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer
) -> None:
    first = kit.record(**record_args(jan, external_id="msg-1"))
    error = rejects(
        db, ConflictError, lambda: kit.record(**record_args(piet, external_id="msg-1", text="hi"))
    )
    assert "msg-1" in str(error)
    assert [step.id for step in kit.journey(jan).steps] == [first.id]
    assert kit.journey(piet).steps == ()


def test_external_id_conflict_with_a_case_writes_no_case_event(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer, piet_case: Case
) -> None:
    kit.record(**record_args(jan, external_id="msg-1"))
    history = kit.cases.history(piet_case.id)
    rejects(
        db,
        ConflictError,
        lambda: kit.record(**record_args(piet, external_id="msg-1", case=piet_case)),
    )
    assert kit.cases.history(piet_case.id) == history


def test_same_external_id_same_customer_returns_the_first_recording(
    kit: Omnikit, db: Path, jan: Customer, jan_case: Case
) -> None:
    first = kit.record(**record_args(jan, external_id="msg-1", text="first"))
    before = dump(db)
    again = kit.record(
        **record_args(
            jan,
            external_id="msg-1",
            text="second",
            subject="other",
            direction="outbound",
            case=jan_case,
            metadata={"changed": True},
        )
    )
    assert again.id == first.id
    assert again.text == "first"
    assert again == first
    assert dump(db) == before
    assert [step.id for step in kit.journey(jan).steps] == [first.id]


def test_record_many_with_a_known_external_id_returns_the_first_recording(
    kit: Omnikit, db: Path, jan: Customer
) -> None:
    first = kit.record(**record_args(jan, external_id="msg-1", text="first"))
    result = kit.record_many(
        [
            record_args(jan, external_id="msg-2", text="new"),
            record_args(jan, external_id="msg-1", text="second"),
        ]
    )
    assert result[1] == first
    assert result[0].text == "new"
    assert [step.id for step in kit.journey(jan).steps] == [first.id, result[0].id]


def test_identify_with_identifiers_of_two_customers_is_ambiguous(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer
) -> None:
    error = rejects(
        db,
        AmbiguousIdentityError,
        lambda: kit.customers.identify(email="jan@example.nl", phone="+48 22 123 45 67"),
    )
    assert isinstance(error, AmbiguousIdentityError)
    assert isinstance(error, ConflictError)
    assert set(error.customer_ids) == {jan.id, piet.id}
    assert len(error.customer_ids) == 2
    assert list(error.customer_ids) == sorted(error.customer_ids)
    assert jan.id in str(error)
    assert piet.id in str(error)


def test_find_with_identifiers_of_two_customers_is_ambiguous(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer
) -> None:
    error = rejects(
        db,
        AmbiguousIdentityError,
        lambda: kit.customers.find(email="piet@example.nl", phone="020 123 4567"),
    )
    assert isinstance(error, AmbiguousIdentityError)
    assert set(error.customer_ids) == {jan.id, piet.id}
    assert jan.id in str(error)
    assert piet.id in str(error)


def test_ambiguous_identify_does_not_attach_the_new_identifiers(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer
) -> None:
    rejects(
        db,
        AmbiguousIdentityError,
        lambda: kit.customers.identify(
            email="jan@example.nl",
            phone="+48 22 123 45 67",
            handles={"twitter": "@jan"},
            name="Someone",
        ),
    )
    assert kit.customers.find(handles={"twitter": "jan"}) is None
    assert kit.customers.get(jan.id) == jan


# case lifecycle --------------------------------------------------------------------------

DISALLOWED = [
    (source, target)
    for source in CaseStatus
    for target in CaseStatus
    if target not in TRANSITIONS[source]
]


def test_disallowed_transitions_include_the_documented_examples() -> None:
    assert (CaseStatus.OPEN, CaseStatus.NEW) in DISALLOWED
    assert (CaseStatus.CLOSED, CaseStatus.RESOLVED) in DISALLOWED
    assert all((status, status) in DISALLOWED for status in CaseStatus)


def _reach(kit: Omnikit, case: Case, status: CaseStatus) -> Case:
    """Move a new case to ``status`` along allowed transitions."""
    path = {
        CaseStatus.NEW: [],
        CaseStatus.OPEN: [CaseStatus.OPEN],
        CaseStatus.PENDING: [CaseStatus.OPEN, CaseStatus.PENDING],
        CaseStatus.RESOLVED: [CaseStatus.OPEN, CaseStatus.RESOLVED],
        CaseStatus.CLOSED: [CaseStatus.OPEN, CaseStatus.RESOLVED, CaseStatus.CLOSED],
    }[status]
    current = case
    for step in path:
        assert step in TRANSITIONS[current.status]
        current = kit.cases.transition(case.id, step)
    assert current.status is status
    return current


@pytest.mark.parametrize(
    ("source", "target"), DISALLOWED, ids=[f"{s.value}->{t.value}" for s, t in DISALLOWED]
)
@pytest.mark.parametrize("as_string", [False, True], ids=["enum", "str"])
def test_disallowed_transition_is_rejected(
    kit: Omnikit,
    db: Path,
    jan_case: Case,
    source: CaseStatus,
    target: CaseStatus,
    as_string: bool,
) -> None:
    reached = _reach(kit, jan_case, source)
    history = kit.cases.history(jan_case.id)
    wanted: CaseStatus | str = target.value if as_string else target
    error = rejects(
        db, InvalidTransitionError, lambda: kit.cases.transition(jan_case.id, wanted, note="why")
    )
    message = str(error)
    assert source.value in message
    assert target.value in message
    assert kit.cases.get(jan_case.id) == reached
    assert kit.cases.history(jan_case.id) == history


@pytest.mark.parametrize("status", ["sideways", "", "OPEN!", None, 3])
def test_transition_to_unknown_status_is_rejected(
    kit: Omnikit, db: Path, jan_case: Case, status: object
) -> None:
    rejects(db, ValidationError, lambda: kit.cases.transition(jan_case.id, status))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda kit, jan, case: kit.cases.open(customer=jan, subject=""),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="   "),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject=None),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="x" * 1001),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="Lost", priority="asap"),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="Lost", queue=7),
        lambda kit, jan, case: kit.cases.open(customer=jan, subject="Lost", actor="x" * 129),
        lambda kit, jan, case: kit.cases.open(customer=123, subject="Lost"),
        lambda kit, jan, case: kit.cases.assign(case.id, 7),
        lambda kit, jan, case: kit.cases.assign(case.id, "x" * 129),
        lambda kit, jan, case: kit.cases.transition(case.id, "open", note=b"bytes"),
        lambda kit, jan, case: kit.cases.transition(case.id, "open", actor="x" * 129),
        lambda kit, jan, case: kit.cases.list(status="bogus"),
        lambda kit, jan, case: kit.cases.list(limit=0),
        lambda kit, jan, case: kit.cases.list(customer=123),
    ],
    ids=[
        "open-empty-subject",
        "open-blank-subject",
        "open-none-subject",
        "open-long-subject",
        "open-bad-priority",
        "open-int-queue",
        "open-long-actor",
        "open-int-customer",
        "assign-int-agent",
        "assign-long-agent",
        "transition-bytes-note",
        "transition-long-actor",
        "list-bad-status",
        "list-zero-limit",
        "list-int-customer",
    ],
)
def test_case_calls_reject_bad_values(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    jan_case: Case,
    call: Callable[[Omnikit, Customer, Case], object],
) -> None:
    rejects(db, ValidationError, lambda: call(kit, jan, jan_case))


# record_many -------------------------------------------------------------------------------

BAD_RECORDS: list[tuple[str, type[OmnikitError], Callable[..., Any]]] = [
    ("bad-direction", ValidationError, lambda jan, piet, case: record_args(jan, direction="x")),
    ("unknown-channel", UnknownChannelError, lambda jan, piet, case: record_args(jan, channel="x")),
    (
        "naive-datetime",
        ValidationError,
        lambda jan, piet, case: record_args(jan, occurred_at=datetime(2024, 5, 1)),
    ),
    (
        "nan-metadata",
        ValidationError,
        lambda jan, piet, case: record_args(jan, metadata={"x": float("nan")}),
    ),
    (
        "oversized-text",
        ValidationError,
        lambda jan, piet, case: record_args(jan, text="x" * (MIB + 1)),
    ),
    ("bad-kind", ValidationError, lambda jan, piet, case: record_args(jan, kind="Not A Word")),
    ("int-customer", ValidationError, lambda jan, piet, case: record_args(123)),
    (
        "missing-field",
        ValidationError,
        lambda jan, piet, case: {k: v for k, v in record_args(jan).items() if k != "kind"},
    ),
    ("unknown-field", ValidationError, lambda jan, piet, case: record_args(jan, colour="red")),
    ("not-a-mapping", ValidationError, lambda jan, piet, case: ["customer", jan.id]),
    ("unknown-customer", NotFoundError, lambda jan, piet, case: record_args(MISSING_CUSTOMER)),
    ("unknown-case", NotFoundError, lambda jan, piet, case: record_args(jan, case=MISSING_CASE)),
    (
        "case-of-another-customer",
        ValidationError,
        lambda jan, piet, case: record_args(piet, case=case),
    ),
    (
        "external-id-of-another-customer",
        ConflictError,
        lambda jan, piet, case: record_args(piet, external_id="known-1"),
    ),
]


@pytest.mark.parametrize(
    ("bad", "error_type"),
    [(make, error_type) for _, error_type, make in BAD_RECORDS],
    ids=[name for name, _, _ in BAD_RECORDS],
)
def test_record_many_rejects_the_whole_batch_and_names_the_position(
    kit: Omnikit,
    db: Path,
    jan: Customer,
    piet: Customer,
    jan_case: Case,
    bad: Callable[[Customer, Customer, Case], Any],
    error_type: type[OmnikitError],
) -> None:
    kit.record(**record_args(jan, external_id="known-1"))
    batch = [
        record_args(jan, text="one", case=jan_case),
        record_args(piet, text="two", external_id="new-2"),
        bad(jan, piet, jan_case),
        record_args(jan, text="four", external_id="new-4"),
    ]
    error = rejects(db, error_type, lambda: kit.record_many(batch))
    assert "records[2]" in str(error), str(error)


@pytest.mark.parametrize(
    "records", ["not records", {"customer": "x"}, 42, None], ids=["str", "mapping", "int", "none"]
)
def test_record_many_rejects_a_non_iterable(
    kit: Omnikit, db: Path, jan: Customer, records: object
) -> None:
    rejects(db, ValidationError, lambda: kit.record_many(records))  # type: ignore[arg-type]


def test_record_many_of_nothing_writes_nothing(kit: Omnikit, db: Path, jan: Customer) -> None:
    before = dump(db)
    assert kit.record_many([]) == []
    assert kit.record_many(iter(())) == []
    assert dump(db) == before


# opening a kit -----------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["XX", "Netherlands", "", 31, "N L"])
def test_kit_rejects_a_bad_default_region(tmp_path: Path, region: object) -> None:
    path = tmp_path / "region.db"
    with pytest.raises(OmnikitError) as info:
        Omnikit(f"sqlite:///{path}", default_region=region)  # type: ignore[arg-type]
    assert type(info.value) is ValidationError
    assert repr(region) in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x",
        "postgresql+asyncpg://user@localhost/omnikit",
        "sqlite+aiosqlite:///x.db",
        "not a url",
        "://",
        "   ",
    ],
)
def test_kit_rejects_an_unusable_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OmnikitError) as info:
        Omnikit(url)
    assert type(info.value) is ValidationError
    assert_no_leak(info.value)
    assert list(tmp_path.iterdir()) == []


def test_kit_rejects_a_url_that_is_not_a_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OmnikitError) as info:
        Omnikit(b"sqlite:///x.db")  # type: ignore[arg-type]
    assert type(info.value) is ValidationError
    assert list(tmp_path.iterdir()) == []


# nothing foreign escapes -------------------------------------------------------------------


def test_representative_errors_are_omnikit_errors_without_foreign_causes(
    kit: Omnikit, db: Path, jan: Customer, piet: Customer, jan_case: Case
) -> None:
    kit.record(**record_args(jan, external_id="msg-1"))
    calls: list[tuple[type[OmnikitError], Callable[[], object]]] = [
        (ConflictError, lambda: kit.record(**record_args(piet, external_id="msg-1"))),
        (
            AmbiguousIdentityError,
            lambda: kit.customers.identify(email="jan@example.nl", phone="+48 22 123 45 67"),
        ),
        (NotFoundError, lambda: kit.record(**record_args(MISSING_CUSTOMER))),
        (NotFoundError, lambda: kit.cases.transition(MISSING_CASE, "open")),
        (ValidationError, lambda: kit.record(**record_args(jan, metadata={"x": float("nan")}))),
        (ValidationError, lambda: kit.record(**record_args(jan, text="\ud800"))),
        (InvalidIdentityError, lambda: kit.customers.identify(phone="++31201234567")),
        (InvalidIdentityError, lambda: kit.customers.identify(email="jan@@example")),
        (InvalidTransitionError, lambda: kit.cases.transition(jan_case.id, "new")),
    ]
    for error_type, call in calls:
        error = rejects(db, error_type, call)
        assert isinstance(error, OmnikitError)
        assert not isinstance(error.__cause__, _FOREIGN)
        assert error.__cause__ is None or isinstance(error.__cause__, OmnikitError)
        assert error.__suppress_context__ or not isinstance(error.__context__, _FOREIGN)
