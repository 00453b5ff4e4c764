"""Bulk import: interactions with their customers' identifiers, from CSV or JSON Lines.

``import_file(kit, "contacts.csv")`` reads a file of past contacts, recognises each
row's customer exactly as ``kit.customers.identify`` would (finding them by any of the
row's identifiers, adding the identifiers they lacked, or creating them once), and
records the row's interaction. A bad row goes to a reject file with its line and the
reason, and the good rows are kept. Re-running a file imports nothing new: an
interaction is recorded once per ``(channel, external_id)``, and a row without an
``external_id`` gets one derived from its content (``import:`` and a hash).

The work goes in batches of ``batch_size`` rows (1,000), one write transaction each:
the batch's identifiers are looked up with one query per identity kind, its new
customers and identities are inserted together and its interactions in one
``executemany``. A batch that loses a race with another writer (the unique keys on
identities and external ids are the guards) is rolled back and done again. Events go
to handlers and webhook subscribers as the facade emits them: ``customer.created`` for
each new customer and ``interaction.recorded`` for each new interaction.

Problems with the file itself (an encoding it is not in, a required column missing,
nothing in it, a mapping naming an unknown field) raise before anything is written.
See ``docs/cli.md`` for the file format.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from omnikit import _validate
from omnikit._ids import new_id
from omnikit._time import to_micros
from omnikit.customers import new_identity
from omnikit.errors import (
    AmbiguousIdentityError,
    ConflictError,
    OmnikitError,
    StoreError,
    ValidationError,
)
from omnikit.identity import Identifier, collect_identifiers, normalize_region
from omnikit.model import Customer, Identity, Interaction
from omnikit.model._base import Model
from omnikit.store import StoreTransaction

if TYPE_CHECKING:
    from omnikit.kit import Omnikit

__all__ = [
    "FIELDS",
    "REQUIRED",
    "ImportResult",
    "Progress",
    "Reject",
    "import_file",
    "import_rows",
]

log = logging.getLogger("omnikit.importer")

FIELDS = (
    "phone",
    "email",
    "address",
    "handles",
    "external_ids",
    "name",
    "language",
    "channel",
    "direction",
    "kind",
    "occurred_at",
    "text",
    "subject",
    "external_id",
    "purpose",
    "agent",
)
"""The fields a row may have (a column or key of that name, or one mapped to it); also
``handles.<channel>`` (``handles.twitter``) and ``external_ids.<system>``
(``external_ids.webshop``) for one identifier per column."""

REQUIRED = ("channel", "occurred_at")
"""The fields every row needs, besides at least one identifier (``phone``, ``email``,
``address``, ``handles``, ``external_ids`` or a ``handles.*``/``external_ids.*``)."""

_IDENTIFIERS = ("phone", "email", "address", "handles", "external_ids")
_PREFIXES = ("handles.", "external_ids.")
_ATTEMPTS = 5
_KEPT_REJECTS = 100
_CACHE_SIZE = 200_000
_DERIVED_PREFIX = "import:"

Progress = Callable[[int, float | None], object]
"""Called after each batch with the rows read so far and, for a file, the fraction of
it read (``None`` for rows from an iterable)."""


class Reject(Model):
    """A row that was not imported: where it is and why."""

    line: int
    """The row's line in the file (the header is line 1 of a CSV file), or its
    position from 1 in the rows given to ``import_rows``."""
    reason: str


class ImportResult(Model):
    """What an import did."""

    rows_read: int
    """Rows read (not counting the header and blank lines)."""
    imported: int
    """New interactions recorded."""
    already_present: int
    """Rows skipped because their ``(channel, external_id)`` was recorded before (by
    an earlier run, or earlier in the same file) for the same customer."""
    rejected: int
    """Rows written to the reject file instead of being imported."""
    customers_created: int
    """Customers that did not exist before the import."""
    rejects_path: Path | None = None
    """The reject file, when any row was rejected and there is a file."""
    rejects: tuple[Reject, ...] = ()
    """The first 100 rejects."""
    ignored_columns: tuple[str, ...] = ()
    """Columns of the file that are not fields and were not mapped: left out."""


def import_file(
    kit: Omnikit,
    path: str | os.PathLike[str],
    *,
    format: Literal["csv", "jsonl"] | None = None,
    mapping: Mapping[str, str] | None = None,
    rejects: str | os.PathLike[str] | None = None,
    region: str | None = None,
    encoding: str = "utf-8",
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> ImportResult:
    """Import the interactions in the CSV or JSON Lines file at ``path``; return what
    happened.

    ``format`` is ``"csv"`` (a header row, then one interaction per row) or
    ``"jsonl"`` (one JSON object per line); by default the file's suffix decides
    (``.csv``; ``.jsonl``, ``.ndjson``). ``mapping`` renames columns to fields
    (``{"Telefoon": "phone"}``). ``region`` (default: the kit's ``default_region``)
    reads phone numbers and addresses written without a country. ``encoding``
    (UTF-8) is the file's; a UTF-8 byte order mark is skipped, and lines may end in
    ``\\r\\n``, ``\\n`` or ``\\r``.

    Rejected rows are written to ``rejects`` (default: ``NAME.rejects.csv`` or
    ``NAME.rejects.jsonl`` beside the file, made only when a row is rejected): the
    row as it was, plus ``line`` and ``reason``; CSV for CSV input, JSON Lines for
    JSON Lines. Rows already recorded are skipped, so the file can be imported again
    after fixing the rejects.

    Raises ``ValidationError`` before anything is written when the file cannot be
    read in ``encoding``, is empty, lacks a required column, or when ``format``,
    ``mapping``, ``region`` or ``batch_size`` is wrong; ``StoreError`` when the store
    fails midway (the batches committed before stay, the reject file holds the
    rejects so far, and running the file again finishes the job).
    """
    source = Path(path)
    kind = _format_of(source, format)
    codec = _codec(encoding)
    columns = _Columns(mapping)
    region = _region(kit, region)
    size = _batch_size(batch_size)
    try:
        total = source.stat().st_size
    except OSError as error:
        raise ValidationError(f"cannot read {str(source)!r}: {error.strerror}") from None
    if source.is_dir():
        raise ValidationError(f"{str(source)!r} is a directory, not a file")
    _check_encoding(source, codec)
    target = (
        Path(rejects)
        if rejects is not None
        else source.with_name(f"{source.stem}.rejects.{'csv' if kind == 'csv' else 'jsonl'}")
    )
    counter = _CountingReader(source)
    try:
        text = io.TextIOWrapper(
            io.BufferedReader(counter), encoding=codec, newline="" if kind == "csv" else None
        )
        if kind == "csv":
            rows, header = _csv_rows(text, source, columns)
            sink: _Sink = _CsvSink(target, header)
            ignored = {name for name in header if name and columns.target(name) is None}
        else:
            rows = _jsonl_rows(text, source, columns)
            sink = _JsonSink(target)
            ignored = set()

        def report(done: int) -> None:
            if progress is not None:
                progress(done, counter.position / total if total else 1.0)

        with sink:
            return _run(kit, rows, columns, region, size, sink, report, ignored)
    finally:
        counter.close()


def import_rows(
    kit: Omnikit,
    rows: Iterable[Mapping[str, Any]],
    *,
    mapping: Mapping[str, str] | None = None,
    rejects: str | os.PathLike[str] | None = None,
    region: str | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> ImportResult:
    """Import interactions given as mappings (one per row, keys as the file's
    columns; values strings, or a ``datetime`` for ``occurred_at``, a list for
    ``purpose``, a mapping for ``handles`` and ``external_ids``); return what happened.

    Works as ``import_file`` does; a rejected row's line is its position from 1, and
    rejects go to ``rejects`` as JSON Lines when a path is given (always in the
    result's ``rejects``, the first 100). Raises ``ValidationError`` for a wrong
    ``mapping``, ``region`` or ``batch_size``.
    """
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Iterable):
        raise ValidationError("import_rows() takes an iterable of rows (mappings)")
    columns = _Columns(mapping)
    region = _region(kit, region)
    size = _batch_size(batch_size)

    def numbered() -> Iterator[_Raw]:
        for line, row in enumerate(rows, start=1):
            if not isinstance(row, Mapping):
                yield _Raw(
                    line,
                    {"row": repr(row)[:200]},
                    None,
                    f"a row must be a mapping, not {type(row).__name__}",
                )
                continue
            yield _Raw(line, dict(row), columns.apply(row), None)

    sink: _Sink = _JsonSink(Path(rejects)) if rejects is not None else _NoSink()

    def report(done: int) -> None:
        if progress is not None:
            progress(done, None)

    with sink:
        return _run(kit, numbered(), columns, region, size, sink, report, set())


# options -----------------------------------------------------------------------------------


def _format_of(path: Path, given: object) -> Literal["csv", "jsonl"]:
    if given is not None:
        if given not in ("csv", "jsonl"):
            raise ValidationError(f"format {given!r} is not one of 'csv', 'jsonl'")
        return "csv" if given == "csv" else "jsonl"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ValidationError(
        f"cannot tell the format of {str(path)!r} from its suffix {suffix!r}; "
        "pass format='csv' or format='jsonl' (--format)"
    )


def _codec(encoding: object) -> str:
    if not isinstance(encoding, str):
        raise ValidationError(f"encoding {encoding!r} must be the name of a text encoding")
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValidationError(f"encoding {encoding!r} is not a known text encoding") from None
    # A UTF-8 file may start with a byte order mark; the "-sig" codec drops it.
    return "utf-8-sig" if name == "utf-8" else name


def _region(kit: Omnikit, region: object) -> str | None:
    return normalize_region(region) if region is not None else kit.default_region


def _batch_size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100_000:
        raise ValidationError(f"batch_size {value!r} must be a whole number from 1 to 100,000")
    return value


def _field(name: object, what: str) -> str:
    """A field name: one of ``FIELDS``, or ``handles.<channel>``/``external_ids.<system>``."""
    if isinstance(name, str):
        key = name.strip().lower()
        if key in FIELDS:
            return key
        for prefix in _PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                return key
    raise ValidationError(
        f"{what} {name!r} is not a field; use one of {', '.join(FIELDS)}, "
        "handles.<channel> or external_ids.<system>"
    )


class _Columns:
    """How a row's keys become fields: the mapping first, then names equal to a field
    (compared case-insensitively); other keys are left out."""

    def __init__(self, mapping: Mapping[str, str] | None) -> None:
        if mapping is not None and not isinstance(mapping, Mapping):
            raise ValidationError(f"mapping must be a mapping of column to field, not {mapping!r}")
        self.mapping: dict[str, str] = {}
        seen: dict[str, str] = {}
        for column, target in (mapping or {}).items():
            if not isinstance(column, str) or not column.strip():
                raise ValidationError(f"mapping column {column!r} must be a non-empty string")
            name = _field(target, f"mapping target for column {column!r}")
            if name in seen:
                raise ValidationError(
                    f"columns {seen[name]!r} and {column!r} are both mapped to {name!r}"
                )
            seen[name] = column
            self.mapping[column.strip()] = name
        self._cache: dict[str, str | None] = {}

    def target(self, key: str) -> str | None:
        """The field a column or key stands for, or ``None``."""
        if key in self._cache:
            return self._cache[key]
        stripped = key.strip() if isinstance(key, str) else key
        found: str | None = self.mapping.get(stripped)
        if found is None and isinstance(stripped, str):
            mapped = set(self.mapping.values())
            try:
                name = _field(stripped, "column")
            except ValidationError:
                name = None
            # A column named like a field that another column is mapped to gives way.
            found = None if name in mapped and stripped not in self.mapping else name
        self._cache[key] = found
        return found

    def apply(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in row.items():
            name = self.target(key) if isinstance(key, str) else None
            if name is not None and value is not None and value != "":
                fields[name] = value
        return fields


# reading -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Raw:
    """One row as read: its line, the original (for the reject file), its fields, or
    why it could not be read."""

    line: int
    original: Any
    fields: dict[str, Any] | None
    problem: str | None


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read (for the progress bar)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        self.position += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


def _check_encoding(path: Path, codec: str) -> None:
    """Decode the whole file once: an encoding error or an empty file raises before
    anything is written."""
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    lines, offset, content = 1, 0, False
    with path.open("rb") as file:
        while True:
            chunk = file.read(1 << 20)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as error:
                good = chunk[: max(error.start, 0)]
                lines += good.count(b"\n") + (good.count(b"\r") - good.count(b"\r\n"))
                name = "utf-8" if codec == "utf-8-sig" else codec
                raise ValidationError(
                    f"{str(path)!r} is not {name} text: byte {offset + error.start:,} (line "
                    f"{lines}) cannot be read ({error.reason}); give the file's encoding, "
                    "for example encoding='cp1252' (--encoding cp1252)"
                ) from None
            content = content or bool(text.strip())
            lines += text.count("\n") + text.count("\r") - text.count("\r\n")
            offset += len(chunk)
            if final:
                break
    if not content:
        raise ValidationError(f"{str(path)!r} is empty: there is no header and no row")


def _csv_rows(text: IO[str], path: Path, columns: _Columns) -> tuple[Iterator[_Raw], list[str]]:
    """The rows of a CSV file and its header; a missing column raises here."""
    csv.field_size_limit(16 * 1024 * 1024)
    reader = csv.reader(text)
    header: list[str] | None = None
    for record in reader:
        if any(cell.strip() for cell in record):
            header = [cell.strip() for cell in record]
            break
    if header is None:
        raise ValidationError(f"{str(path)!r} is empty: there is no header and no row")
    duplicates = sorted({name for name in header if header.count(name) > 1 and name})
    if duplicates:
        raise ValidationError(
            f"{str(path)!r} has the column(s) {', '.join(map(repr, duplicates))} more than once"
        )
    missing_map = [column for column in columns.mapping if column not in header]
    if missing_map:
        raise ValidationError(
            f"the mapping names column(s) {', '.join(map(repr, missing_map))} that "
            f"{str(path)!r} does not have; its columns are {', '.join(map(repr, header))}"
        )
    targets = [columns.target(name) for name in header]
    present = {name for name in targets if name is not None}
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise ValidationError(
            f"{str(path)!r} has no column for {', '.join(map(repr, missing))}; its columns "
            f"are {', '.join(map(repr, header))} (map one with mapping= or --map COLUMN=FIELD)"
        )
    if not any(_is_identifier(name) for name in present):
        raise ValidationError(
            f"{str(path)!r} has no identifier column: give one of {', '.join(_IDENTIFIERS)}, "
            f"handles.<channel> or external_ids.<system>; its columns are "
            f"{', '.join(map(repr, header))}"
        )
    width = len(header)
    used = [(n, name) for n, name in enumerate(targets) if name is not None]

    def rows() -> Iterator[_Raw]:
        line = reader.line_num
        while True:
            start = line + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                line = reader.line_num
                yield _Raw(start, [], None, f"the row cannot be read as CSV: {error}")
                continue
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # a blank line
            if len(record) > width:
                yield _Raw(
                    start,
                    record,
                    None,
                    f"the row has {len(record)} fields and the header {width} "
                    f"(left over: {', '.join(map(repr, record[width:]))[:200]})",
                )
                continue
            fields = {}
            for n, name in used:
                if n < len(record):
                    value = record[n]
                    if value != "" and not value.isspace():
                        fields[name] = value
            yield _Raw(start, record, fields, None)

    return rows(), header


def _jsonl_rows(text: IO[str], path: Path, columns: _Columns) -> Iterator[_Raw]:
    any_row = False
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        any_row = True
        try:
            value = json.loads(content)
        except (ValueError, RecursionError) as error:
            yield _Raw(line, content.rstrip("\r\n"), None, f"the line is not JSON: {error}")
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__
            yield _Raw(
                line, content.rstrip("\r\n"), None, f"the line is a JSON {kind}, not an object"
            )
            continue
        yield _Raw(line, value, columns.apply(value), None)
    if not any_row:  # pragma: no cover - _check_encoding finds an empty file first
        raise ValidationError(f"{str(path)!r} is empty")


def _is_identifier(name: str) -> bool:
    return name in _IDENTIFIERS or name.startswith(_PREFIXES)


# rejects -----------------------------------------------------------------------------------


class _Sink:
    """Where rejected rows go."""

    path: Path | None = None
    written = 0

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, raw: _Raw, reason: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """Make what was written so far durable (after each batch)."""

    def close(self) -> None:
        """Close the file, if one was opened."""


class _NoSink(_Sink):
    def write(self, raw: _Raw, reason: str) -> None:
        self.written += 1


class _FileSink(_Sink):
    def __init__(self, path: Path) -> None:
        self.target = path
        self._file: IO[str] | None = None

    def _open(self) -> IO[str]:
        if self._file is None:
            try:
                self._file = self.target.open("w", encoding="utf-8", newline="")
            except OSError as error:
                raise ValidationError(
                    f"cannot write the reject file {str(self.target)!r}: {error.strerror}"
                ) from None
            self.path = self.target
            self._started(self._file)
        return self._file

    def _started(self, file: IO[str]) -> None:
        """Write what goes before the first reject (a header)."""

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _CsvSink(_FileSink):
    def __init__(self, path: Path, header: list[str]) -> None:
        super().__init__(path)
        self._header = header
        self._writer: Any = None

    def _started(self, file: IO[str]) -> None:
        self._writer = csv.writer(file)
        self._writer.writerow([*self._header, "line", "reason"])

    def write(self, raw: _Raw, reason: str) -> None:
        self._open()
        cells = list(raw.original) if isinstance(raw.original, list) else []
        cells = (cells + [""] * len(self._header))[: len(self._header)]
        self._writer.writerow([*cells, raw.line, reason])
        self.written += 1


class _JsonSink(_FileSink):
    def write(self, raw: _Raw, reason: str) -> None:
        file = self._open()
        if isinstance(raw.original, dict):
            record = {**{str(k): v for k, v in raw.original.items()}, "line": raw.line}
        else:
            record = {"raw": raw.original, "line": raw.line}
        record["reason"] = reason
        file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.written += 1


# rows --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    """A row that parsed: its identifiers, profile values and the interaction (with a
    placeholder customer until the batch resolves it)."""

    raw: _Raw
    identifiers: list[Identifier]
    name: str | None
    language: str | None
    interaction: Interaction


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def _parse(
    kit: Omnikit, fields: dict[str, Any], region: str | None, cache: dict[Any, Any]
) -> _Row | str:
    """The row's identifiers and interaction, or the reason it cannot be imported."""
    try:
        return _parse_fields(kit, fields, region, cache)
    except OmnikitError as error:
        return str(error)


def _parse_fields(
    kit: Omnikit, fields: dict[str, Any], region: str | None, cache: dict[Any, Any]
) -> _Row:
    missing = [name for name in REQUIRED if name not in fields]
    if missing:
        raise ValidationError(f"no value for {', '.join(map(repr, missing))}")
    handles = _pairs(fields.get("handles"), "handles")
    external_ids = _pairs(fields.get("external_ids"), "external_ids")
    for name, value in fields.items():
        if name.startswith("handles."):
            handles[name.removeprefix("handles.")] = _text(value, name)
        elif name.startswith("external_ids."):
            external_ids[name.removeprefix("external_ids.")] = _text(value, name, numbers=True)
    phone = _optional(fields.get("phone"), "phone", numbers=True)
    email = _optional(fields.get("email"), "email")
    address = _optional(fields.get("address"), "address")
    # A customer's identifiers repeat from row to row: normalise each combination once.
    key = (phone, email, address, tuple(handles.items()), tuple(external_ids.items()))
    found = cache.get(key)
    if found is None:
        try:
            found = collect_identifiers(
                phone=phone,
                email=email,
                handles=handles or None,
                external_ids=external_ids or None,
                address=address,
                region=region,
                channels=kit.channels,
            )
        except OmnikitError as error:
            found = str(error)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = found
    if isinstance(found, str):
        raise ValidationError(found)
    identifiers = found
    if not identifiers:
        raise ValidationError(
            "no identifier: give a phone, email, address, handles or external_ids value"
        )
    occurred_at = _when(fields["occurred_at"])
    purpose = fields.get("purpose")
    if isinstance(purpose, str):
        purpose = [tag.strip() for tag in purpose.replace(";", ",").replace("|", ",").split(",")]
        purpose = [tag for tag in purpose if tag]
    direction = fields.get("direction", "inbound")
    kind = fields.get("kind", "message")
    external_id = _optional(fields.get("external_id"), "external_id", numbers=True)
    text = _optional(fields.get("text"), "text")
    subject = _optional(fields.get("subject"), "subject")
    agent = _optional(fields.get("agent"), "agent")
    interaction = kit._interaction(
        customer=_PLACEHOLDER,
        channel=_text(fields["channel"], "channel").strip(),
        direction=direction.strip() if isinstance(direction, str) else direction,
        kind=kind.strip() if isinstance(kind, str) else kind,
        text=text,
        subject=subject,
        occurred_at=occurred_at,
        external_id=external_id.strip() if external_id is not None else None,
        agent=agent,
        purpose=purpose,
    )
    if interaction.external_id is None:
        interaction = Interaction.trusted(
            **{**interaction.__dict__, "external_id": _derived_id(identifiers, interaction)}
        )
    person = _validate.optional_text(_optional(fields.get("name"), "name"), "name", max_chars=500)
    language = _validate.language(_optional(fields.get("language"), "language"))
    return _Row(
        raw=_Raw(0, None, None, None),
        identifiers=identifiers,
        name=(person.strip() or None) if person else None,
        language=language,
        interaction=interaction,
    )


def _text(value: object, what: str, *, numbers: bool = False) -> str:
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValidationError(f"{what} {value!r} must be a string, not {type(value).__name__}")


def _optional(value: object, what: str, *, numbers: bool = False) -> str | None:
    return None if value is None else _text(value, what, numbers=numbers)


def _pairs(value: object, what: str) -> dict[str, str]:
    """``{"webshop": "C-1001"}`` from a mapping or from ``"webshop: C-1001; crm: 7"``."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): _text(v, f"{what}[{k!r}]", numbers=True) for k, v in value.items()}
    text = _text(value, what)
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        scope, sep, item = part.partition(":")
        if not sep or not scope.strip() or not item.strip():
            raise ValidationError(
                f"{what} {text!r} must look like 'system: id' (several separated by ';')"
            )
        pairs[scope.strip()] = item.strip()
    return pairs


def _when(value: object) -> datetime:
    if isinstance(value, datetime):
        when = value
    else:
        text = _text(value, "occurred_at").strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"occurred_at {text!r} is not an ISO 8601 date and time such as "
                "'2026-01-05T09:30:00+01:00'"
            ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(
            f"occurred_at {when.isoformat()!r} has no UTC offset; write it like "
            "'2026-01-05T09:30:00+01:00' or '2026-01-05T08:30:00Z'"
        )
    return when


def _derived_id(identifiers: list[Identifier], interaction: Interaction) -> str:
    """A stable external id for a row that has none: a hash of what the row says."""
    content = json.dumps(
        [
            sorted((i.kind.value, i.scope, i.value) for i in identifiers),
            interaction.channel,
            interaction.direction.value,
            interaction.kind,
            interaction.occurred_at.isoformat(),
            interaction.text,
            interaction.subject,
            interaction.agent,
            list(interaction.purpose),
        ],
        ensure_ascii=False,
    )
    return _DERIVED_PREFIX + hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]


# the import --------------------------------------------------------------------------------


@dataclass
class _Tally:
    read: int = 0
    imported: int = 0
    present: int = 0
    created: int = 0
    rejects: list[Reject] = field(default_factory=list)


def _run(
    kit: Omnikit,
    rows: Iterable[_Raw],
    columns: _Columns,
    region: str | None,
    size: int,
    sink: _Sink,
    report: Callable[[int], None],
    ignored: set[str],
) -> ImportResult:
    tally = _Tally()

    def reject(raw: _Raw, reason: str) -> None:
        sink.write(raw, reason)
        if len(tally.rejects) < _KEPT_REJECTS:
            tally.rejects.append(Reject(line=raw.line, reason=reason))

    batch: list[_Row] = []
    cache: dict[Any, Any] = {}
    last_line = 0
    try:
        for raw in rows:
            tally.read += 1
            if isinstance(raw.original, dict):
                ignored.update(str(key) for key in raw.original if columns.target(str(key)) is None)
            if raw.fields is None:
                reject(raw, raw.problem or "the row cannot be read")
                continue
            parsed = _parse(kit, raw.fields, region, cache)
            if isinstance(parsed, str):
                reject(raw, parsed)
                continue
            parsed.raw = raw
            batch.append(parsed)
            if len(batch) >= size:
                _batch(kit, batch, tally, reject)
                last_line = batch[-1].raw.line
                batch = []
                sink.flush()
                report(tally.read)
        if batch:
            _batch(kit, batch, tally, reject)
            last_line = batch[-1].raw.line
        sink.flush()
        report(tally.read)
    except OmnikitError as error:
        sink.flush()
        where = f" (rows up to line {last_line})" if last_line else ""
        kept = f"; rejects so far are in {str(sink.path)!r}" if sink.path else ""
        raise type(error)(
            f"the import stopped after recording {tally.imported:,} interaction(s){where}: "
            f"{error}{kept}; run it again to finish: recorded rows are skipped"
        ) from None
    return ImportResult(
        rows_read=tally.read,
        imported=tally.imported,
        already_present=tally.present,
        rejected=sink.written,
        customers_created=tally.created,
        rejects_path=sink.path,
        rejects=tuple(tally.rejects),
        ignored_columns=tuple(sorted(ignored)),
    )


def _batch(
    kit: Omnikit, rows: list[_Row], tally: _Tally, reject: Callable[[_Raw, str], None]
) -> None:
    """Resolve, create and record one batch in one write transaction, retrying a batch
    that lost a race with another writer."""
    for _ in range(_ATTEMPTS):
        outcome = _Outcome()
        try:
            with kit._writing() as tx:
                _write(kit, tx, rows, outcome)
        except ConflictError as error:
            if isinstance(error, AmbiguousIdentityError):
                raise
            # Another writer stored one of the batch's identities or external ids first
            # (DuplicateKeyError, or an idempotent insert that found another customer's
            # interaction): look again.
            log.debug("import batch lost a race (%s); trying again", error)
            continue
        for row, reason in outcome.rejects:
            reject(row.raw, reason)
        tally.imported += outcome.imported
        tally.present += outcome.present
        tally.created += outcome.created
        return
    raise StoreError(f"an import batch kept colliding with other writers ({_ATTEMPTS} attempts)")


@dataclass
class _Outcome:
    imported: int = 0
    present: int = 0
    created: int = 0
    rejects: list[tuple[_Row, str]] = field(default_factory=list)


Key = tuple[str, str, str]


def _write(kit: Omnikit, tx: StoreTransaction, rows: list[_Row], outcome: _Outcome) -> None:
    now = kit.now()
    # Every stored identity holding one of the batch's values: one query per kind.
    wanted: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        for identifier in row.identifiers:
            wanted.setdefault((identifier.kind.value, identifier.scope), set()).add(
                identifier.value
            )
    known: dict[Key, list[Identity]] = {}
    for (kind, scope), values in wanted.items():
        for identity in tx.find_identities_in(kind, scope, sorted(values)):
            known.setdefault((kind, scope, identity.value), []).append(identity)
    # Interactions recorded before, by (channel, external id): one query per channel.
    by_channel: dict[str, set[str]] = {}
    for row in rows:
        assert row.interaction.external_id is not None  # derived when missing
        by_channel.setdefault(row.interaction.channel, set()).add(row.interaction.external_id)
    present: dict[tuple[str, str], str] = {}
    for channel, ids in by_channel.items():
        for external_id, owner in tx.interaction_owners(channel, sorted(ids)).items():
            present[(channel, external_id)] = owner
    # Merged customers answer by their survivor.
    stored_ids = {i.customer_id for found in known.values() for i in found}
    stored_ids.update(present.values())
    survivor = tx.resolve_customers(sorted(stored_ids)) if stored_ids else {}

    new_customers: dict[str, Customer] = {}
    new_identities: list[Identity] = []
    fills: dict[str, tuple[str | None, str | None]] = {}
    interactions: list[Interaction] = []

    def owner_of(identity: Identity) -> str:
        return survivor.get(identity.customer_id, identity.customer_id)

    for row in rows:
        unshared: dict[str, list[Identity]] = {}
        shared: dict[str, list[Identity]] = {}
        for identifier in row.identifiers:
            key = (identifier.kind.value, identifier.scope, identifier.value)
            for identity in known.get(key, ()):
                side = shared if identity.shared else unshared
                side.setdefault(owner_of(identity), []).append(identity)
        holders = unshared or shared
        if len(holders) > 1:
            try:
                kit.customers._auto_merge(tx, holders, now)
            except AmbiguousIdentityError as error:
                outcome.rejects.append((row, str(error)))
                continue
            keep = min(holders)
            for other in holders:
                survivor[other] = keep
            for moved, target in list(survivor.items()):
                if target in holders:
                    survivor[moved] = keep
            holders = {keep: [i for found in holders.values() for i in found]}
        interaction = row.interaction
        assert interaction.external_id is not None
        recorded = present.get((interaction.channel, interaction.external_id))
        if recorded is not None:
            recorded = survivor.get(recorded, recorded)
            if set(holders) == {recorded}:
                outcome.present += 1
            else:
                whose = f"customer {', '.join(sorted(holders))}" if holders else "a new customer"
                outcome.rejects.append(
                    (
                        row,
                        f"external id {interaction.external_id!r} on channel "
                        f"{interaction.channel!r} is already recorded for customer "
                        f"{recorded}, but the row's identifiers lead to {whose}",
                    )
                )
            continue
        if holders:
            (customer_id,) = holders
            have = {
                (i.kind.value, i.scope or "", i.value) for found in holders.values() for i in found
            }
            for identifier in row.identifiers:
                key = (identifier.kind.value, identifier.scope, identifier.value)
                if key in have or any(owner_of(i) == customer_id for i in known.get(key, ())):
                    continue
                identity = new_identity(customer_id, identifier, now, "import")
                known.setdefault(key, []).append(identity)
                if customer_id in new_customers:
                    customer = new_customers[customer_id]
                    new_customers[customer_id] = Customer.trusted(
                        **{**customer.__dict__, "identities": (*customer.identities, identity)}
                    )
                else:
                    new_identities.append(identity)
            if (row.name or row.language) and customer_id in new_customers:
                customer = new_customers[customer_id]
                new_customers[customer_id] = Customer.trusted(
                    **{
                        **customer.__dict__,
                        "name": customer.name or row.name,
                        "language": customer.language or row.language,
                    }
                )
            elif row.name or row.language:
                name, language = fills.get(customer_id, (None, None))
                fills[customer_id] = (name or row.name, language or row.language)
        else:
            customer_id = new_id()
            identities = tuple(new_identity(customer_id, i, now, "import") for i in row.identifiers)
            for identity in identities:
                known.setdefault(
                    (identity.kind.value, identity.scope or "", identity.value), []
                ).append(identity)
            new_customers[customer_id] = Customer.trusted(
                id=customer_id,
                name=row.name,
                language=row.language,
                attributes={},
                identities=identities,
                created_at=now,
                updated_at=now,
            )
        present[(interaction.channel, interaction.external_id)] = customer_id
        interactions.append(
            Interaction.trusted(**{**interaction.__dict__, "customer_id": customer_id})
        )

    # Identities taken by a merge above belong to the survivor.
    new_identities = [
        i
        if survivor.get(i.customer_id, i.customer_id) == i.customer_id
        else Identity.trusted(**{**i.__dict__, "customer_id": survivor[i.customer_id]})
        for i in new_identities
    ]
    tx.insert_customers(list(new_customers.values()))
    tx.insert_identities(new_identities)
    if fills:
        profiles = tx.customer_profiles(sorted(fills))
        for customer_id, (name, language) in fills.items():
            had_name, had_language = profiles.get(customer_id, (None, None))
            if (name and not had_name) or (language and not had_language):
                tx.update_customer(
                    customer_id,
                    name=had_name or name,
                    language=had_language or language,
                    updated_at=to_micros(now),
                )
    for customer in new_customers.values():
        kit.events.add("customer.created", at=now, customer_id=customer.id, customer=customer)
    interactions = [
        i
        if survivor.get(i.customer_id, i.customer_id) == i.customer_id
        else Interaction.trusted(**{**i.__dict__, "customer_id": survivor[i.customer_id]})
        for i in interactions
    ]
    if interactions:
        stored = kit._store_interactions(tx, interactions, many=True, current=True)
        if any(s.id != i.id for s, i in zip(stored, interactions, strict=True)):
            # Recorded by another writer since the look-up: count it as present.
            fresh = sum(s.id == i.id for s, i in zip(stored, interactions, strict=True))
            outcome.present += len(interactions) - fresh
            outcome.imported += fresh
        else:
            outcome.imported += len(interactions)
    outcome.created += len(new_customers)
