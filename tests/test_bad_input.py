"""What a careless caller sends: every public call rejects it with its own error.

Each rejected call must raise the specific ``OmnikitError`` subclass for the mistake,
let no driver or pydantic exception escape, and leave the store exactly as it was, on
every backend (``sqlite-file``, ``sqlite-memory``, ``postgresql``): no transaction may
be left open, every row of every table (each table read in the order of all its
columns) must be as before, and the dump of an SQLite file, taken on its own
connection, must not change by a byte.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import pydantic
import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from omnikit import (
    TRANSITIONS,
    Agent,
    AmbiguousIdentityError,
    BusinessHours,
    Case,
    CaseStatus,
    ConflictError,
    Customer,
    HolidayCalendar,
    Interaction,
    InvalidIdentityError,
    InvalidTransitionError,
    NotFoundError,
    Omnikit,
    OmnikitError,
    PostalAddress,
    Queue,
    UnknownChannelError,
    ValidationError,
    normalize_phone,
)

try:
    import psycopg
except ImportError:  # pragma: no cover - without the postgres extra
    _DRIVER_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error,)
else:
    _DRIVER_ERRORS = (sqlite3.Error, psycopg.Error)

MIB = 1024 * 1024
MISSING_CUSTOMER = "no-such-customer"
MISSING_CASE = "no-such-case"

# fixtures and helpers ---------------------------------------------------------------------

TABLES = ("customers", "identities", "interactions", "cases", "case_events", "omnikit_version")
"""Tables every store has; a snapshot reads these and every other table it finds."""

_LIST_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}

_IDLE_IN_TRANSACTION = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
    AND state LIKE 'idle in transaction%'
"""

Rows = dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]


class Snapshot(NamedTuple):
    """Everything the store holds: its rows and, for an SQLite file, its dump."""

    rows: Rows
    dump: str | None
    """``None`` unless the store is an SQLite file."""


def read_rows(connection: Any, dialect: str, columns: dict[str, tuple[str, ...]]) -> Rows:
    """The column names and every row of every table, each table in the order of all its
    columns, read on a driver connection; ``columns`` caches each table's columns."""
    cursor = connection.cursor()
    try:
        cursor.execute(_LIST_TABLES[dialect])
        rows: Rows = {}
        for table in sorted(row[0] for row in cursor.fetchall()):
            if table not in columns:
                cursor.execute(f'SELECT * FROM "{table}" WHERE 1 = 0')
                columns[table] = tuple(column[0] for column in cursor.description)
            every_column = ", ".join(str(position + 1) for position in range(len(columns[table])))
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY {every_column}')
            names = tuple(column[0] for column in cursor.description)
            rows[table] = (names, [tuple(row) for row in cursor.fetchall()])
        return rows
    finally:
        cursor.close()


def dump(path: Path) -> str:
    """Every row and schema object of an SQLite file, as SQL, read on its own connection."""
    with closing(sqlite3.connect(path)) as connection:
        return "\n".join(connection.iterdump())


def assert_no_write_lock(path: Path) -> None:
    """No connection (the kit's own, kept between calls) holds a transaction that wrote."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as connection:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            pytest.fail(f"a transaction was left open on the SQLite file: {error}")
        connection.execute("ROLLBACK")


class StoreState:
    """Takes snapshots of the store under ``kit``, whose URL (with password) is ``url``.

    The rows are read on a separate connection where one can see the store (an SQLite
    file, PostgreSQL): the kit keeps no transaction open between calls, which each
    snapshot checks first, so what is committed is what the kit's next call sees. An
    in-memory store lives in the kit's one connection: it is read there, uncommitted
    changes and all. An SQLite file is also dumped, byte for byte.
    """

    def __init__(self, kit: Omnikit, url: str) -> None:
        parsed = make_url(url)
        self._dialect = parsed.get_backend_name()
        self._path: Path | None = None
        self._columns: dict[str, tuple[str, ...]] = {}
        self._engine: Engine
        self._own_engine = True
        if self._dialect == "postgresql":
            self._engine = create_engine(parsed.set(drivername="postgresql+psycopg"))
        elif parsed.database not in (None, "", ":memory:"):
            self._path = Path(parsed.database)
            self._engine = create_engine(parsed)
        else:  # the kit's engine: a StaticPool, one connection shared with the kit
            self._engine = kit.store._engine  # type: ignore[attr-defined]
            self._own_engine = False

    def _assert_no_open_transaction(self, connection: Any) -> None:
        if self._path is not None:
            assert_no_write_lock(self._path)
        elif self._dialect == "sqlite":
            assert not connection.driver_connection.in_transaction, (
                "the kit left a transaction open"
            )
        else:
            cursor = connection.cursor()
            try:
                cursor.execute(_IDLE_IN_TRANSACTION)
                (idle,) = cursor.fetchone()
            finally:
                cursor.close()
            assert idle == 0, f"{idle} connection(s) left idle in a transaction"

    def snapshot(self) -> Snapshot:
        connection = self._engine.raw_connection()
        try:
            self._assert_no_open_transaction(connection)
            rows = read_rows(connection, self._dialect, self._columns)
        finally:
            connection.close()  # back to the pool, which rolls the read back
        missing = set(TABLES) - set(rows)
        assert not missing, f"the snapshot does not see the tables {sorted(missing)}"
        return Snapshot(rows, None if self._path is None else dump(self._path))

    def assert_unchanged(self, before: Snapshot, what: str = "a rejected call") -> None:
        after = self.snapshot()
        assert after.rows == before.rows, f"{what} changed the rows of the store"
        assert after.dump == before.dump, f"{what} changed the dump of the SQLite file"

    def close(self) -> None:
        if self._own_engine:
            self._engine.dispose()


class Clock:
    """The kit's clock: the wall clock in UTC, or ``naive`` once a test sets it."""

    def __init__(self) -> None:
        self.naive: datetime | None = None

    def __call__(self) -> datetime:
        return datetime.now(UTC) if self.naive is None else self.naive


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with omnikit's schema and no rows, built once for the session."""
    path = tmp_path_factory.mktemp("template") / "omnikit.db"
    Omnikit(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def empty_store(backend: str, store_url: str, request: pytest.FixtureRequest) -> str:
    """``store_url``, an empty store of each backend; an SQLite file starts as a copy of
    the template rather than migrating a new file for every test."""
    if backend == "sqlite-file":
        path = Path(str(make_url(store_url).database))
        assert not path.exists()
        template = request.getfixturevalue("sqlite_template")
        with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)
    return store_url


@pytest.fixture
def kit(empty_store: str, clock: Clock) -> Iterator[Omnikit]:
    """A kit on an empty store of each backend, reading numbers without a country as
    Dutch."""
    with Omnikit(empty_store, default_region="NL", clock=clock) as kit:
        yield kit


@pytest.fixture
def store(kit: Omnikit, empty_store: str) -> Iterator[StoreState]:
    """Snapshots of the store the ``kit`` fixture keeps its records in."""
    state = StoreState(kit, empty_store)
    try:
        yield state
    finally:
        state.close()


@pytest.fixture
def plain_kit(empty_store: str) -> Iterator[tuple[Omnikit, StoreState]]:
    """A kit without a default region, on an empty store of each backend, and snapshots
    of that store."""
    with Omnikit(empty_store) as kit:
        state = StoreState(kit, empty_store)
        try:
            yield kit, state
        finally:
            state.close()


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


ErrorTypes = type[OmnikitError] | tuple[type[OmnikitError], ...]

_FOREIGN = (*_DRIVER_ERRORS, pydantic.ValidationError, sqlalchemy.exc.SQLAlchemyError)


def assert_no_leak(error: BaseException) -> None:
    """Neither the error nor anything its traceback would show is a driver/pydantic error."""
    seen: BaseException | None = error
    while seen is not None:
        assert not isinstance(seen, _FOREIGN), f"{type(seen).__module__}.{type(seen).__name__}"
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def rejects(store: StoreState, error_type: ErrorTypes, call: Callable[[], object]) -> OmnikitError:
    """Run ``call``; it must raise exactly ``error_type`` (or one of several) and leave the
    store unchanged."""
    allowed = error_type if isinstance(error_type, tuple) else (error_type,)
    before = store.snapshot()
    with pytest.raises(OmnikitError) as info:
        call()
    error = info.value
    assert type(error) in allowed, f"expected {allowed}, got {error!r}"
    assert isinstance(error, OmnikitError)
    assert_no_leak(error)
    store.assert_unchanged(before)
    return error


def rejects_each(
    store: StoreState, cases: Iterable[tuple[str, ErrorTypes, Callable[[], object]]]
) -> None:
    """``rejects`` for each named call in turn, on one store: since every rejected call
    must leave the store exactly as it was, each case starts from the store a test of its
    own would get. A failure names its case."""
    for name, error_type, call in cases:
        try:
            rejects(store, error_type, call)
        except (Exception, pytest.fail.Exception) as failure:
            raise AssertionError(f"case {name!r}: {failure}") from failure


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
def test_identify_rejects_bad_phone(
    kit: Omnikit, store: StoreState, jan: Customer, phone: str
) -> None:
    error = rejects(store, InvalidIdentityError, lambda: kit.customers.identify(phone=phone))
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_identify_rejects_bad_phone_next_to_good_email(
    kit: Omnikit, store: StoreState, jan: Customer, phone: str
) -> None:
    error = rejects(
        store,
        InvalidIdentityError,
        lambda: kit.customers.identify(email="new@example.nl", phone=phone, name="New"),
    )
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", BAD_PHONES)
def test_find_rejects_bad_phone(kit: Omnikit, store: StoreState, jan: Customer, phone: str) -> None:
    error = rejects(store, InvalidIdentityError, lambda: kit.customers.find(phone=phone))
    assert names(phone, str(error)), str(error)


@pytest.mark.parametrize("phone", ["+31 12", "020 12", "+31 20 123 4567 8"])
def test_number_that_parses_but_is_invalid_is_never_stored(
    kit: Omnikit, store: StoreState, jan: Customer, phone: str
) -> None:
    # A phone number given alone is looked up before its validity is checked; the check
    # must still refuse it on every path that could store it or report no match, also
    # when the number's normalisation is already cached (the second identify).
    customers = kit.customers
    rejects_each(
        store,
        [
            ("identify", InvalidIdentityError, lambda: customers.identify(phone=phone)),
            ("identify again", InvalidIdentityError, lambda: customers.identify(phone=phone)),
            (
                "identify with name and source",
                InvalidIdentityError,
                lambda: customers.identify(phone=phone, name="New", source="phone"),
            ),
            (
                "identify with the e-mail of a customer",
                InvalidIdentityError,
                lambda: customers.identify(phone=phone, email="jan@example.nl"),
            ),
            ("find", InvalidIdentityError, lambda: customers.find(phone=phone)),
            (
                "add_identity",
                InvalidIdentityError,
                lambda: customers.add_identity(jan.id, phone=phone),
            ),
        ],
    )
    assert customers.get(jan.id) == jan


@pytest.mark.parametrize("phone", BAD_PHONES)
@pytest.mark.parametrize("region", [None, "NL", "PL"])
def test_normalize_phone_rejects_bad_phone(phone: str, region: str | None) -> None:
    with pytest.raises(OmnikitError) as info:
        normalize_phone(phone, region)
    assert type(info.value) is InvalidIdentityError
    assert names(phone, str(info.value)), str(info.value)


def test_national_number_without_region_is_rejected(
    plain_kit: tuple[Omnikit, StoreState],
) -> None:
    kit, store = plain_kit
    kit.customers.identify(email="someone@example.nl")
    phone = "020 123 4567"
    error = rejects(store, InvalidIdentityError, lambda: kit.customers.identify(phone=phone))
    assert phone in str(error)
    with pytest.raises(InvalidIdentityError, match="020 123 4567"):
        normalize_phone(phone)


def test_national_number_with_region_argument_is_accepted(
    plain_kit: tuple[Omnikit, StoreState],
) -> None:
    kit, _ = plain_kit
    customer = kit.customers.identify(phone="020 123 4567", region="NL")
    assert customer.values("phone") == ["+31201234567"]


def test_identify_rejects_malformed_email(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    email = "jan@@example"
    error = rejects(store, InvalidIdentityError, lambda: kit.customers.identify(email=email))
    assert email in str(error)


@pytest.mark.parametrize("email", ["", "   ", "jan", "@example.nl", "jan@", "jan@exa mple.nl"])
def test_identify_rejects_other_bad_emails(
    kit: Omnikit, store: StoreState, jan: Customer, email: str
) -> None:
    error = rejects(store, InvalidIdentityError, lambda: kit.customers.identify(email=email))
    assert names(email, str(error)), str(error)


# channels and handles ----------------------------------------------------------------------


def test_record_rejects_unknown_channel(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    error = rejects(
        store, UnknownChannelError, lambda: kit.record(**record_args(jan, channel="pigeon"))
    )
    assert "pigeon" in str(error)


def test_identify_rejects_handle_on_unknown_channel(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    error = rejects(
        store, UnknownChannelError, lambda: kit.customers.identify(handles={"pigeon": "x"})
    )
    assert "pigeon" in str(error)


def test_identify_rejects_handle_on_channel_not_addressed_by_handles(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    error = rejects(
        store, InvalidIdentityError, lambda: kit.customers.identify(handles={"email": "x"})
    )
    assert "email" in str(error)


@pytest.mark.parametrize("handle", ["", "@", "   ", "jan jansen", "jan\x00", "x" * 300])
def test_identify_rejects_bad_handle(
    kit: Omnikit, store: StoreState, jan: Customer, handle: str
) -> None:
    rejects(
        store, InvalidIdentityError, lambda: kit.customers.identify(handles={"twitter": handle})
    )


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
    store: StoreState,
    jan: Customer,
    external_ids: dict[str, Any],
    error_type: type[OmnikitError],
) -> None:
    rejects(store, error_type, lambda: kit.customers.identify(external_ids=external_ids))


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
def test_identify_rejects_bad_address(
    kit: Omnikit, store: StoreState, jan: Customer, address: str
) -> None:
    rejects(store, InvalidIdentityError, lambda: kit.customers.identify(address=address))


def test_identify_rejects_postal_address_with_unknown_country(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    address = PostalAddress(street="Damrak 1", postcode="1012 AB", city="Amsterdam", country="XX")
    error = rejects(store, ValidationError, lambda: kit.customers.identify(address=address))
    assert "XX" in str(error)


# NUL characters: SQLite stores them, PostgreSQL text cannot ------------------------------

NUL_IDENTIFIERS: list[tuple[str, dict[str, Any], str | None]] = [
    ("address", {"address": "Damrak\x00 1, Amsterdam"}, "Damrak\x00 1, Amsterdam"),
    (
        "postal-address-street",
        {"address": PostalAddress(street="Damrak\x00 1", postcode="1012 AB", city="Amsterdam")},
        None,
    ),
    (
        "postal-address-city",
        {"address": PostalAddress(street="Damrak 1", postcode="1012 AB", city="Amster\x00dam")},
        None,
    ),
    ("email", {"email": "jan\x00@example.nl"}, "jan\x00@example.nl"),
    ("email-trailing", {"email": "jan@example.nl\x00"}, "jan@example.nl\x00"),
    ("phone", {"phone": "020 123\x00 4567"}, "020 123\x00 4567"),
    ("handle", {"handles": {"twitter": "ja\x00n"}}, "ja\x00n"),
    ("handle-channel", {"handles": {"twit\x00ter": "jan"}}, "twit\x00ter"),
    ("external-id", {"external_ids": {"webshop": "C-1\x00001"}}, "C-1\x00001"),
    ("external-id-system", {"external_ids": {"web\x00shop": "C-1001"}}, "web\x00shop"),
    (
        "phone-next-to-good-email",
        {"email": "new@example.nl", "phone": "020 123\x00 4567"},
        "020 123\x00 4567",
    ),
    (
        "handle-next-to-known-email",
        {"email": "jan@example.nl", "handles": {"twitter": "ja\x00n"}},
        "ja\x00n",
    ),
]


@pytest.mark.parametrize(
    ("identifiers", "named"),
    [(identifiers, named) for _, identifiers, named in NUL_IDENTIFIERS],
    ids=[name for name, _, _ in NUL_IDENTIFIERS],
)
def test_identifiers_with_a_nul_are_invalid(
    kit: Omnikit,
    store: StoreState,
    jan: Customer,
    identifiers: dict[str, Any],
    named: str | None,
) -> None:
    """Neither identify nor find lets a NUL reach the store (or a query) on any backend."""
    for call in (
        lambda: kit.customers.identify(**identifiers, name="New"),
        lambda: kit.customers.find(**identifiers),
    ):
        error = rejects(store, InvalidIdentityError, call)
        assert named is None or repr(named) in str(error), str(error)
    assert kit.customers.get(jan.id) == jan


NUL_TEXT: dict[str, Callable[[Omnikit, Customer, Case], object]] = {
    "identify-new-name": lambda kit, jan, case: kit.customers.identify(
        email="new@example.nl", name="Ja\x00n"
    ),
    "identify-known-name": lambda kit, jan, case: kit.customers.identify(
        email="jan@example.nl", name="Ja\x00n"
    ),
    "identify-language": lambda kit, jan, case: kit.customers.identify(
        email="new@example.nl", language="nl\x00"
    ),
    "record-subject": lambda kit, jan, case: kit.record(**record_args(jan, subject="Where\x00")),
    "record-agent": lambda kit, jan, case: kit.record(**record_args(jan, agent="agent\x00-7")),
    "record-kind": lambda kit, jan, case: kit.record(**record_args(jan, kind="mess\x00age")),
    "record-purpose": lambda kit, jan, case: kit.record(**record_args(jan, purpose="ret\x00urn")),
    "record-metadata-key": lambda kit, jan, case: kit.record(
        **record_args(jan, metadata={"k\x00": 1})
    ),
    "record-metadata-nested-value": lambda kit, jan, case: kit.record(
        **record_args(jan, metadata={"k": ["v", {"w": "\x00"}]})
    ),
    "record_many-text": lambda kit, jan, case: kit.record_many(
        [record_args(jan), record_args(jan, text="nul \x00 inside")]
    ),
    "cases.open-subject": lambda kit, jan, case: kit.cases.open(
        customer=jan, subject="Lost\x00 parcel"
    ),
    "cases.open-queue": lambda kit, jan, case: kit.cases.open(
        customer=jan, subject="Lost", queue="returns\x00"
    ),
    "cases.open-actor": lambda kit, jan, case: kit.cases.open(
        customer=jan, subject="Lost", actor="agent\x00"
    ),
    "cases.assign-agent": lambda kit, jan, case: kit.cases.assign(case.id, "agent\x00-7"),
    "cases.transition-note": lambda kit, jan, case: kit.cases.transition(
        case.id, "open", note="why\x00"
    ),
    "cases.transition-actor": lambda kit, jan, case: kit.cases.transition(
        case.id, "open", actor="agent\x00"
    ),
}


def test_text_with_a_nul_is_rejected(
    kit: Omnikit, store: StoreState, jan: Customer, jan_case: Case
) -> None:
    rejects_each(
        store,
        [
            (name, ValidationError, partial(call, kit, jan, jan_case))
            for name, call in NUL_TEXT.items()
        ],
    )


# directions, datetimes and the clock ---------------------------------------------------------


def test_record_rejects_unknown_direction(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    error = rejects(
        store, ValidationError, lambda: kit.record(**record_args(jan, direction="sideways"))
    )
    assert "sideways" in str(error)


@pytest.mark.parametrize(
    "occurred_at",
    [datetime(2024, 5, 1, 12, 30), datetime.now(), "2024-05-01T12:30:00+00:00", 1714566600],
    ids=["naive", "naive-now", "iso-string", "timestamp"],
)
def test_record_rejects_naive_or_non_datetime(
    kit: Omnikit, store: StoreState, jan: Customer, occurred_at: object
) -> None:
    rejects(store, ValidationError, lambda: kit.record(**record_args(jan, occurred_at=occurred_at)))


def test_record_rejects_a_naive_clock(
    kit: Omnikit, store: StoreState, jan: Customer, clock: Clock
) -> None:
    clock.naive = datetime(2024, 5, 1)
    error = rejects(store, ValidationError, lambda: kit.record(**record_args(jan.id)))
    assert "naive" in str(error)
    aware = datetime(2024, 5, 1, tzinfo=UTC)
    rejects(store, ValidationError, lambda: kit.record(**record_args(jan.id, occurred_at=aware)))


def test_kit_rejects_a_clock_that_is_not_callable(tmp_path: Path) -> None:
    path = tmp_path / "clock.db"
    with pytest.raises(OmnikitError) as info:
        Omnikit(f"sqlite:///{path}", clock=datetime.now(UTC))  # type: ignore[arg-type]
    assert type(info.value) is ValidationError
    assert not path.exists()


# metadata, sizes and wrong types ------------------------------------------------------------


class _Unserialisable:
    pass


BAD_METADATA: dict[str, object] = {
    "datetime": {"when": datetime.now(UTC)},
    "nan": {"x": float("nan")},
    "inf": {"x": float("inf")},
    "int-key": {1: "int key"},
    "tuple-key": {("a", "b"): "tuple key"},
    "set-value": {"nested": {"deeper": [1, 2, {3, 4}]}},
    "bytes": {"bytes": b"raw"},
    "object-value": {"obj": _Unserialisable()},
    "nul": {"nul": "a\x00b"},
    "object": object(),
    "string": "not a mapping",
    "list": ["a", "list"],
    "oversized-value": {"x": "x" * MIB},
    "oversized-many-keys": {f"k{i}": "x" * 1024 for i in range(1100)},
}


def test_record_rejects_bad_metadata(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    rejects_each(
        store,
        [
            (name, ValidationError, partial(kit.record, **record_args(jan, metadata=metadata)))
            for name, metadata in BAD_METADATA.items()
        ],
    )


def test_record_rejects_metadata_nested_too_deeply(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]
    rejects(store, ValidationError, lambda: kit.record(**record_args(jan, metadata=deep)))


UNSTORABLE_TEXT: dict[str, dict[str, Any]] = {
    "text-over-1mib": {"text": "x" * (MIB + 1)},
    "text-over-1mib-in-utf8": {"text": "é" * (MIB // 2 + 1)},
    "subject-over-1000-chars": {"subject": "x" * 1001},
    "subject-over-1mib": {"subject": "x" * (MIB + 1)},
    "agent-too-long": {"agent": "x" * 129},
    "text-nul": {"text": "nul \x00 inside"},
    "text-surrogate": {"text": "lone \ud800 surrogate"},
    "subject-surrogate": {"subject": "lone \udfff surrogate"},
    "text-bytes": {"text": b"bytes"},
    "text-int": {"text": 42},
    "external-id-empty": {"external_id": ""},
    "external-id-blank": {"external_id": "   "},
    "external-id-too-long": {"external_id": "x" * 257},
    "external-id-int": {"external_id": 1001},
    "external-id-nul": {"external_id": "id\x00"},
}


def test_record_rejects_oversized_or_unstorable_text(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    rejects_each(
        store,
        [
            (name, ValidationError, partial(kit.record, **record_args(jan, **changes)))
            for name, changes in UNSTORABLE_TEXT.items()
        ],
    )


def test_record_accepts_text_of_exactly_one_mib(kit: Omnikit, jan: Customer) -> None:
    text = "x" * MIB
    interaction = kit.record(**record_args(jan, text=text))
    assert kit.journey(jan).steps[-1].id == interaction.id
    assert kit.journey(jan).steps[-1].text == text


RECORD_WRONG_TYPES: list[dict[str, Any]] = [
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
]


def test_record_rejects_wrong_types(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    rejects_each(
        store,
        [
            (
                "-".join(f"{k}={v!r}"[:30] for k, v in changes.items()),
                ValidationError,
                partial(kit.record, **record_args(jan, **changes)),
            )
            for changes in RECORD_WRONG_TYPES
        ],
    )


@pytest.mark.parametrize("channel", [None, 7, "", "EMAIL", "e-mail", "email\x00"])
def test_record_rejects_wrong_channel_values(
    kit: Omnikit, store: StoreState, jan: Customer, channel: object
) -> None:
    rejects(store, UnknownChannelError, lambda: kit.record(**record_args(jan, channel=channel)))


IDENTIFY_WRONG_TYPES: dict[str, tuple[dict[str, Any], type[OmnikitError]]] = {
    "language-not-a-tag": (
        {"email": "new@example.nl", "language": "not a language!"},
        ValidationError,
    ),
    "language-int": ({"email": "new@example.nl", "language": 31}, ValidationError),
    "name-int": ({"email": "new@example.nl", "name": 31}, ValidationError),
    "name-too-long": ({"email": "new@example.nl", "name": "x" * 501}, ValidationError),
    "name-surrogate": ({"email": "new@example.nl", "name": "bad \ud800 name"}, ValidationError),
    "region-unknown-with-email": ({"email": "new@example.nl", "region": "XX"}, ValidationError),
    "region-unknown-with-phone": ({"phone": "+31 20 123 4567", "region": "XX"}, ValidationError),
    "region-int-with-address": ({"address": "Damrak 1, Amsterdam", "region": 31}, ValidationError),
    "phone-int": ({"phone": 31201234567}, InvalidIdentityError),
    "email-list": ({"email": ["jan@example.nl"]}, InvalidIdentityError),
    "handles-list": ({"handles": ["twitter", "@jan"]}, InvalidIdentityError),
    "handles-str": ({"handles": "@jan"}, InvalidIdentityError),
    "handle-int": ({"handles": {"twitter": 7}}, InvalidIdentityError),
    "external-ids-list": ({"external_ids": ["C-1001"]}, InvalidIdentityError),
    "address-int": ({"address": 1012}, InvalidIdentityError),
}


def test_identify_rejects_wrong_types(kit: Omnikit, store: StoreState, jan: Customer) -> None:
    rejects_each(
        store,
        [
            (name, error_type, partial(kit.customers.identify, **arguments))
            for name, (arguments, error_type) in IDENTIFY_WRONG_TYPES.items()
        ],
    )


def test_identify_without_identifier_is_rejected(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    rejects(store, ValidationError, lambda: kit.customers.identify())
    rejects(store, ValidationError, lambda: kit.customers.identify(name="Jan", language="nl"))
    rejects(store, ValidationError, lambda: kit.customers.identify(handles={}, external_ids={}))


def test_find_without_identifier_is_rejected(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    rejects(store, ValidationError, lambda: kit.customers.find())


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
    kit: Omnikit, store: StoreState, jan: Customer, call: Callable[[Omnikit], object]
) -> None:
    error = rejects(store, NotFoundError, lambda: call(kit))
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
    store: StoreState,
    jan: Customer,
    jan_case: Case,
    call: Callable[[Omnikit, Customer], object],
) -> None:
    error = rejects(store, NotFoundError, lambda: call(kit, jan))
    assert MISSING_CASE in str(error)


def test_unknown_interaction_is_not_found(
    kit: Omnikit, store: StoreState, jan: Customer, jan_case: Case
) -> None:
    missing = "no-such-interaction"
    error = rejects(
        store,
        NotFoundError,
        lambda: kit.cases.open(customer=jan, subject="Lost parcel", interaction=missing),
    )
    assert missing in str(error)
    error = rejects(store, NotFoundError, lambda: kit.cases.attach(jan_case.id, missing))
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
    kit: Omnikit, store: StoreState, jan: Customer, call: Callable[[Omnikit], object]
) -> None:
    rejects(store, ValidationError, lambda: call(kit))


SURROGATE = "id-\ud800"
NUL_ID = "id-\x00"


@pytest.mark.parametrize(
    "call",
    [
        lambda kit, jan, case, bad: kit.customers.get(bad),
        lambda kit, jan, case, bad: kit.customer_card(bad),
        lambda kit, jan, case, bad: kit.journey(bad),
        lambda kit, jan, case, bad: kit.record(**record_args(bad)),
        lambda kit, jan, case, bad: kit.record(**record_args(jan, case=bad)),
        lambda kit, jan, case, bad: kit.record_many([record_args(bad)]),
        lambda kit, jan, case, bad: kit.cases.open(customer=bad, subject="Lost"),
        lambda kit, jan, case, bad: kit.cases.open(customer=jan, subject="Lost", interaction=bad),
        lambda kit, jan, case, bad: kit.cases.get(bad),
        lambda kit, jan, case, bad: kit.cases.assign(bad, "agent-7"),
        lambda kit, jan, case, bad: kit.cases.transition(bad, "open"),
        lambda kit, jan, case, bad: kit.cases.history(bad),
        lambda kit, jan, case, bad: kit.cases.interactions(bad),
        lambda kit, jan, case, bad: kit.cases.attach(case.id, bad),
        lambda kit, jan, case, bad: kit.cases.list(customer=bad),
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
def test_ids_that_cannot_be_stored_are_rejected(
    kit: Omnikit,
    store: StoreState,
    jan: Customer,
    jan_case: Case,
    call: Callable[[Omnikit, Customer, Case, str], object],
) -> None:
    """An id that cannot be encoded (a lone surrogate) or stored (a NUL, which PostgreSQL
    text cannot hold) is either invalid or unknown; never a UnicodeEncodeError or a
    driver's error."""
    for bad in (SURROGATE, NUL_ID):
        rejects(store, (ValidationError, NotFoundError), partial(call, kit, jan, jan_case, bad))


@pytest.mark.parametrize("limit", [-1, 1001, "5", 2.0, True, None])
def test_customer_card_rejects_bad_limit(
    kit: Omnikit, store: StoreState, jan: Customer, limit: object
) -> None:
    rejects(store, ValidationError, lambda: kit.customer_card(jan, limit=limit))  # type: ignore[arg-type]


# cross-customer references ---------------------------------------------------------------


def test_record_rejects_case_of_another_customer(
    kit: Omnikit, store: StoreState, jan: Customer, piet_case: Case
) -> None:
    error = rejects(store, ValidationError, lambda: kit.record(**record_args(jan, case=piet_case)))
    assert piet_case.id in str(error)
    rejects(store, ValidationError, lambda: kit.record(**record_args(jan.id, case=piet_case.id)))


def test_open_case_rejects_interaction_of_another_customer(
    kit: Omnikit, store: StoreState, jan: Customer, piet_interaction: Interaction
) -> None:
    error = rejects(
        store,
        ValidationError,
        lambda: kit.cases.open(customer=jan, subject="Lost parcel", interaction=piet_interaction),
    )
    assert piet_interaction.id in str(error)
    assert kit.cases.list(customer=jan) == []


def test_attach_rejects_interaction_of_another_customer(
    kit: Omnikit, store: StoreState, jan_case: Case, piet_interaction: Interaction
) -> None:
    error = rejects(
        store, ValidationError, lambda: kit.cases.attach(jan_case.id, piet_interaction.id)
    )
    assert piet_interaction.id in str(error)


# idempotency and conflicts -----------------------------------------------------------------


def test_external_id_of_another_customer_is_a_conflict(
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer
) -> None:
    first = kit.record(**record_args(jan, external_id="msg-1"))
    error = rejects(
        store,
        ConflictError,
        lambda: kit.record(**record_args(piet, external_id="msg-1", text="hi")),
    )
    assert "msg-1" in str(error)
    assert [step.id for step in kit.journey(jan).steps] == [first.id]
    assert kit.journey(piet).steps == ()


def test_external_id_conflict_with_a_case_writes_no_case_event(
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer, piet_case: Case
) -> None:
    kit.record(**record_args(jan, external_id="msg-1"))
    history = kit.cases.history(piet_case.id)
    rejects(
        store,
        ConflictError,
        lambda: kit.record(**record_args(piet, external_id="msg-1", case=piet_case)),
    )
    assert kit.cases.history(piet_case.id) == history


def test_same_external_id_same_customer_returns_the_first_recording(
    kit: Omnikit, store: StoreState, jan: Customer, jan_case: Case
) -> None:
    first = kit.record(**record_args(jan, external_id="msg-1", text="first"))
    before = store.snapshot()
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
    store.assert_unchanged(before, "a repeated recording")
    assert [step.id for step in kit.journey(jan).steps] == [first.id]


def test_record_many_with_a_known_external_id_returns_the_first_recording(
    kit: Omnikit, store: StoreState, jan: Customer
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
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer
) -> None:
    error = rejects(
        store,
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
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer
) -> None:
    error = rejects(
        store,
        AmbiguousIdentityError,
        lambda: kit.customers.find(email="piet@example.nl", phone="020 123 4567"),
    )
    assert isinstance(error, AmbiguousIdentityError)
    assert set(error.customer_ids) == {jan.id, piet.id}
    assert jan.id in str(error)
    assert piet.id in str(error)


def test_ambiguous_identify_does_not_attach_the_new_identifiers(
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer
) -> None:
    rejects(
        store,
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
def test_disallowed_transition_is_rejected(
    kit: Omnikit,
    store: StoreState,
    jan_case: Case,
    source: CaseStatus,
    target: CaseStatus,
) -> None:
    """The target as the enum and as its string: both rejected, in the same store."""
    reached = _reach(kit, jan_case, source)
    history = kit.cases.history(jan_case.id)
    wanted: CaseStatus | str
    for wanted in (target, target.value):
        error = rejects(
            store,
            InvalidTransitionError,
            partial(kit.cases.transition, jan_case.id, wanted, note="why"),
        )
        message = str(error)
        assert source.value in message
        assert target.value in message
        assert kit.cases.get(jan_case.id) == reached
        assert kit.cases.history(jan_case.id) == history


@pytest.mark.parametrize("status", ["sideways", "", "OPEN!", None, 3])
def test_transition_to_unknown_status_is_rejected(
    kit: Omnikit, store: StoreState, jan_case: Case, status: object
) -> None:
    rejects(store, ValidationError, lambda: kit.cases.transition(jan_case.id, status))  # type: ignore[arg-type]


BAD_CASE_CALLS: dict[str, Callable[..., object]] = {  # wrong types on purpose
    "open-empty-subject": lambda kit, jan, case: kit.cases.open(customer=jan, subject=""),
    "open-blank-subject": lambda kit, jan, case: kit.cases.open(customer=jan, subject="   "),
    "open-none-subject": lambda kit, jan, case: kit.cases.open(customer=jan, subject=None),
    "open-long-subject": lambda kit, jan, case: kit.cases.open(customer=jan, subject="x" * 1001),
    "open-bad-priority": lambda kit, jan, case: kit.cases.open(
        customer=jan, subject="Lost", priority="asap"
    ),
    "open-int-queue": lambda kit, jan, case: kit.cases.open(customer=jan, subject="Lost", queue=7),
    "open-long-actor": lambda kit, jan, case: kit.cases.open(
        customer=jan, subject="Lost", actor="x" * 129
    ),
    "open-int-customer": lambda kit, jan, case: kit.cases.open(customer=123, subject="Lost"),
    "assign-int-agent": lambda kit, jan, case: kit.cases.assign(case.id, 7),
    "assign-long-agent": lambda kit, jan, case: kit.cases.assign(case.id, "x" * 129),
    "transition-bytes-note": lambda kit, jan, case: kit.cases.transition(
        case.id, "open", note=b"bytes"
    ),
    "transition-long-actor": lambda kit, jan, case: kit.cases.transition(
        case.id, "open", actor="x" * 129
    ),
    "list-bad-status": lambda kit, jan, case: kit.cases.list(status="bogus"),
    "list-zero-limit": lambda kit, jan, case: kit.cases.list(limit=0),
    "list-int-customer": lambda kit, jan, case: kit.cases.list(customer=123),
}


def test_case_calls_reject_bad_values(
    kit: Omnikit, store: StoreState, jan: Customer, jan_case: Case
) -> None:
    rejects_each(
        store,
        [
            (name, ValidationError, partial(call, kit, jan, jan_case))
            for name, call in BAD_CASE_CALLS.items()
        ],
    )


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
    store: StoreState,
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
    error = rejects(store, error_type, lambda: kit.record_many(batch))
    assert "records[2]" in str(error), str(error)


@pytest.mark.parametrize(
    "records", ["not records", {"customer": "x"}, 42, None], ids=["str", "mapping", "int", "none"]
)
def test_record_many_rejects_a_non_iterable(
    kit: Omnikit, store: StoreState, jan: Customer, records: object
) -> None:
    rejects(store, ValidationError, lambda: kit.record_many(records))  # type: ignore[arg-type]


def test_record_many_of_nothing_writes_nothing(
    kit: Omnikit, store: StoreState, jan: Customer
) -> None:
    before = store.snapshot()
    assert kit.record_many([]) == []
    assert kit.record_many(iter(())) == []
    store.assert_unchanged(before, "recording nothing")


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
    kit: Omnikit, store: StoreState, jan: Customer, piet: Customer, jan_case: Case
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
        error = rejects(store, error_type, call)
        assert isinstance(error, OmnikitError)
        assert not isinstance(error.__cause__, _FOREIGN)
        assert error.__cause__ is None or isinstance(error.__cause__, OmnikitError)
        assert error.__suppress_context__ or not isinstance(error.__context__, _FOREIGN)


# routing, case life and service levels --------------------------------------------------

OFFICE = {"mon": ["09:00-17:00"]}


def test_routing_and_case_life_reject_bad_input(
    kit: Omnikit, store: StoreState, jan: Customer, jan_case: Case
) -> None:
    kit.routing.set_agent(Agent(id="ann", skills=["returns"], capacity={"webchat": 1}))
    kit.routing.set_queue(Queue(id="support"))
    chat = kit.cases.open(customer=jan, subject="Chat", channel="webchat")
    kit.route(chat)  # ann now holds it
    closed = kit.cases.open(customer=jan, subject="Done", channel="email")
    kit.cases.transition(closed.id, "closed")
    version = kit.cases.assign(jan_case.id, "piet").version  # 2: version 1 is stale
    rejects_each(
        store,
        [
            ("capacity below zero", ValidationError, lambda: Agent(id="b", capacity={"sms": -1})),
            (
                "capacity on unknown channel",
                UnknownChannelError,
                lambda: kit.routing.set_agent(Agent(id="b", capacity={"fax": 1})),
            ),
            ("malformed skill", ValidationError, lambda: Agent(id="b", skills=["Bad Skill"])),
            ("agent id with spaces", ValidationError, lambda: Agent(id=" b")),
            ("not an agent", ValidationError, lambda: kit.routing.set_agent({"id": "b"})),  # type: ignore[arg-type]
            (
                "unknown skill",
                ValidationError,
                lambda: kit.routing.set_queue(Queue(id="q", skills=["alchemy"])),
            ),
            (
                "queue on unknown channel",
                UnknownChannelError,
                lambda: kit.routing.set_queue(Queue(id="q", channels=["fax"])),
            ),
            (
                "overlapping hours",
                ValidationError,
                lambda: BusinessHours(
                    timezone="UTC", weekly={"mon": ["09:00-13:00", "12:00-17:00"]}
                ),
            ),
            (
                "malformed hours",
                ValidationError,
                lambda: BusinessHours(timezone="UTC", weekly={"mon": ["9-17"]}),
            ),
            (
                "unknown timezone",
                ValidationError,
                lambda: BusinessHours(timezone="Mars/Olympus", weekly=OFFICE),
            ),
            (
                "holidays in another timezone",
                ValidationError,
                lambda: BusinessHours(
                    timezone="Europe/Amsterdam",
                    weekly=OFFICE,
                    holidays=HolidayCalendar(timezone="UTC", days=[datetime(2026, 12, 25).date()]),
                ),
            ),
            (
                "presence of unknown agent",
                NotFoundError,
                lambda: kit.routing.set_presence("nobody", "away"),
            ),
            (
                "unknown presence",
                ValidationError,
                lambda: kit.routing.set_presence("ann", "asleep"),
            ),
            ("remove unknown agent", NotFoundError, lambda: kit.routing.remove_agent("nobody")),
            ("remove agent holding work", ConflictError, lambda: kit.routing.remove_agent("ann")),
            ("remove unknown queue", NotFoundError, lambda: kit.routing.remove_queue("nowhere")),
            ("route a closed case", ConflictError, lambda: kit.route(closed)),
            ("route an unknown id", NotFoundError, lambda: kit.route("no-such-case")),
            ("route a case without channel", ValidationError, lambda: kit.route(jan_case)),
            (
                "route on unknown channel",
                UnknownChannelError,
                lambda: kit.route(chat, channel="fax"),
            ),
            (
                "open in unknown queue",
                NotFoundError,
                lambda: kit.cases.open(customer=jan, subject="x", queue="nowhere"),
            ),
            (
                "move to unknown queue",
                NotFoundError,
                lambda: kit.cases.set_queue(jan_case.id, "nowhere"),
            ),
            (
                "stale version on assign",
                ConflictError,
                lambda: kit.cases.assign(jan_case.id, "ann", expected_version=version - 1),
            ),
            (
                "stale version on transition",
                ConflictError,
                lambda: kit.cases.transition(jan_case.id, "open", expected_version=version + 1),
            ),
            (
                "version that is not a number",
                ValidationError,
                lambda: kit.cases.transition(jan_case.id, "open", expected_version="1"),
            ),  # type: ignore[arg-type]
            ("bad priority", ValidationError, lambda: kit.cases.set_priority(jan_case.id, "asap")),
            ("release unknown id", NotFoundError, lambda: kit.routing.release("no-such-case")),
            ("unknown event type", ValidationError, lambda: kit.on("case.lost", print)),
        ],
    )
