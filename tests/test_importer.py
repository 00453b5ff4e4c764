"""The importer: identity resolution, rejects, idempotency, mapping and bad files, on
every backend."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnikit import Event, Omnikit, OmnikitError, ValidationError
from omnikit.importer import import_file, import_rows

HEADER = "phone,email,name,channel,direction,kind,occurred_at,text,external_id,purpose\n"


def write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def rejects_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_rows_find_or_create_customers_like_identify(kit: Omnikit, tmp_path: Path) -> None:
    known = kit.customers.identify(email="jan@example.nl", name="Jan")
    source = write(
        tmp_path / "contacts.csv",
        HEADER
        + "06 1234 5678,jan@example.nl,,phone,inbound,call,2026-01-05T09:30:00+01:00,Order?,C1,"
        "order_status\n"
        "+31612345678,,,sms,outbound,message,2026-01-05T10:00:00+01:00,Sent,C2,\n"
        "020 123 4567,,Piet,email,inbound,message,2026-01-06T08:00:00Z,Hello,,complaint;refund\n"
        "0201234567,piet@example.nl,,webchat,inbound,message,2026-01-07T08:00:00Z,Again,,\n",
    )
    result = import_file(kit, source)
    assert (result.rows_read, result.imported, result.rejected) == (4, 4, 0)
    assert result.customers_created == 1
    assert result.rejects_path is None and not (tmp_path / "contacts.rejects.csv").exists()
    jan = kit.customers.find(phone="06 1234 5678")
    assert jan is not None and jan.id == known.id  # the phone was added to Jan
    assert [s.channel for s in kit.journey(jan.id).steps] == ["phone", "sms"]
    piet = kit.customers.find(email="piet@example.nl")
    assert piet is not None and piet.name == "Piet"
    assert sorted(piet.values("phone")) == ["+31201234567"]
    steps = kit.journey(piet.id).steps
    assert steps[0].purpose == ("complaint", "refund")
    assert steps[0].occurred_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert steps[0].external_id is not None and steps[0].external_id.startswith("import:")
    assert {i.source for i in piet.identities} == {"import"}


def test_events_are_emitted_as_the_facade_emits_them(kit: Omnikit, tmp_path: Path) -> None:
    seen: list[Event] = []
    kit.on("*", seen.append)
    import_rows(
        kit,
        [
            {"email": "a@example.nl", "channel": "email", "occurred_at": "2026-01-05T09:00Z"},
            {"email": "a@example.nl", "channel": "sms", "occurred_at": "2026-01-05T10:00Z"},
        ],
    )
    types = [e.type for e in seen]
    assert types == ["customer.created", "interaction.recorded", "interaction.recorded"]


def test_rerun_is_idempotent_also_without_external_ids(kit: Omnikit, tmp_path: Path) -> None:
    source = write(
        tmp_path / "contacts.csv",
        HEADER
        + "0612345678,,,phone,inbound,call,2026-01-05T09:30:00+01:00,a,,\n"
        + "0612345678,,,phone,inbound,call,2026-01-05T09:31:00+01:00,b,X1,\n"
        + "0612345678,,,phone,inbound,call,2026-01-05T09:30:00+01:00,a,,\n",  # same as line 2
    )
    first = import_file(kit, source)
    assert (first.imported, first.already_present) == (2, 1)
    second = import_file(kit, source)
    assert (second.imported, second.already_present, second.customers_created) == (0, 3, 0)
    jan = kit.customers.find(phone="0612345678")
    assert jan is not None and len(kit.journey(jan.id).steps) == 2


def test_bad_rows_are_rejected_with_line_and_reason(kit: Omnikit, tmp_path: Path) -> None:
    source = write(
        tmp_path / "contacts.csv",
        HEADER
        + "0612345678,,,phone,inbound,call,2026-01-05T09:30:00+01:00,ok,,\n"
        + "not a number,,,phone,inbound,call,2026-01-05T09:30:00+01:00,x,,\n"
        + "0612345678,,,fax,inbound,call,2026-01-05T09:30:00+01:00,x,,\n"
        + "0612345678,,,sms,inbound,message,2026-01-05 09:30,x,,\n"
        + "0612345678,,,sms,inbound,message,yesterday,x,,\n"
        + ",,,sms,inbound,message,2026-01-05T09:30:00Z,x,,\n"
        + "0612345678,,,sms,sideways,message,2026-01-05T09:30:00Z,x,,\n"
        + "0612345678,,,,inbound,message,2026-01-05T09:30:00Z,x,,\n"
        + "0612345678,,,sms,inbound,message,2026-01-05T09:30:00Z,x,,,extra\n",
    )
    result = import_file(kit, source)
    assert (result.rows_read, result.imported, result.rejected) == (9, 1, 8)
    assert result.rejects_path == tmp_path / "contacts.rejects.csv"
    rows = rejects_of(result.rejects_path)
    assert [row["line"] for row in rows] == ["3", "4", "5", "6", "7", "8", "9", "10"]
    assert rows[0]["phone"] == "not a number" and "not a valid phone number" in rows[0]["reason"]
    assert "unknown channel 'fax'" in rows[1]["reason"]
    assert "has no UTC offset" in rows[2]["reason"]
    assert "'yesterday' is not an ISO 8601" in rows[3]["reason"]
    assert "no identifier" in rows[4]["reason"]
    assert "'sideways' is not a valid direction" in rows[5]["reason"]
    assert "no value for 'channel'" in rows[6]["reason"]
    assert "11 fields and the header 10" in rows[7]["reason"]
    assert [r.line for r in result.rejects] == [3, 4, 5, 6, 7, 8, 9, 10]


def test_ambiguous_row_is_rejected(kit: Omnikit, tmp_path: Path) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    piet = kit.customers.identify(phone="0612345678")
    source = write(
        tmp_path / "contacts.csv",
        HEADER + "0612345678,jan@example.nl,,sms,inbound,message,2026-01-05T09:30:00Z,x,,\n",
    )
    result = import_file(kit, source)
    assert (result.imported, result.rejected) == (0, 1)
    reason = result.rejects[0].reason
    assert "2 different customers" in reason and jan.id in reason and piet.id in reason
    assert kit.journey(jan.id).steps == () and kit.journey(piet.id).steps == ()


def test_external_id_of_another_customer_is_rejected(kit: Omnikit, tmp_path: Path) -> None:
    jan = kit.customers.identify(email="jan@example.nl")
    kit.record(
        customer=jan.id, channel="sms", direction="inbound", kind="message", external_id="SM1"
    )
    result = import_rows(
        kit,
        [
            {
                "email": "piet@example.nl",
                "channel": "sms",
                "occurred_at": "2026-01-05T09:00Z",
                "external_id": "SM1",
            }
        ],
    )
    assert result.rejected == 1 and "already recorded for customer" in result.rejects[0].reason
    assert kit.customers.find(email="piet@example.nl") is None


def test_merged_customer_resolves_to_the_survivor(kit: Omnikit) -> None:
    keep = kit.customers.identify(email="jan@example.nl")
    other = kit.customers.identify(phone="0612345678")
    kit.customers.merge(keep.id, other.id, reason="same person")
    result = import_rows(
        kit, [{"phone": "06 1234 5678", "channel": "sms", "occurred_at": "2026-01-05T09:00Z"}]
    )
    assert result.imported == 1 and result.customers_created == 0
    assert [s.channel for s in kit.journey(keep.id).steps] == ["sms"]


def test_mapping_and_identifier_columns(kit: Omnikit, tmp_path: Path) -> None:
    source = write(
        tmp_path / "export.csv",
        "Telefoon,Datum,Kanaal,KlantNr,Twitter,Extra\n"
        "06 1234 5678,2026-01-05T09:30:00+01:00,phone,C-1001,@JanJ,zz\n",
    )
    result = import_file(
        kit,
        source,
        mapping={
            "Telefoon": "phone",
            "Datum": "occurred_at",
            "Kanaal": "channel",
            "KlantNr": "external_ids.webshop",
            "Twitter": "handles.twitter",
        },
    )
    assert result.imported == 1 and result.ignored_columns == ("Extra",)
    jan = kit.customers.find(external_ids={"webshop": "C-1001"})
    assert jan is not None and kit.customers.find(handles={"twitter": "janj"}) == jan
    combined = import_rows(
        kit,
        [
            {
                "external_ids": "webshop: C-1001; crm: 7",
                "channel": "store",
                "occurred_at": "2026-02-01T10:00+01:00",
            }
        ],
    )
    assert combined.imported == 1 and kit.customers.find(external_ids={"crm": "7"}).id == jan.id  # type: ignore[union-attr]


def test_mapping_errors_are_raised_before_anything_is_written(kit: Omnikit, tmp_path: Path) -> None:
    source = write(
        tmp_path / "c.csv", "Telefoon,channel,occurred_at\n0612345678,sms,2026-01-05T09:30Z\n"
    )
    with pytest.raises(ValidationError, match="'telephone' is not a field"):
        import_file(kit, source, mapping={"Telefoon": "telephone"})
    with pytest.raises(ValidationError, match=r"mapping names column.*'Tel'"):
        import_file(kit, source, mapping={"Tel": "phone"})
    with pytest.raises(ValidationError, match="no identifier column"):
        import_file(kit, source)
    assert import_file(kit, source, mapping={"Telefoon": "phone"}).imported == 1


def test_file_problems_raise_before_anything_is_written(kit: Omnikit, tmp_path: Path) -> None:
    latin = write(
        tmp_path / "latin.csv",
        "email,name,channel,occurred_at\nj@example.nl,José,sms,2026-01-05T09:30Z\n",
        encoding="cp1252",
    )
    with pytest.raises(ValidationError, match=r"is not utf-8 text: byte 47 \(line 2\)"):
        import_file(kit, latin)
    assert kit.customers.find(email="j@example.nl") is None
    result = import_file(kit, latin, encoding="cp1252")
    assert result.imported == 1
    customer = kit.customers.find(email="j@example.nl")
    assert customer is not None and customer.name == "José"

    missing = write(tmp_path / "missing.csv", "email,channel\nj@example.nl,sms\n")
    with pytest.raises(ValidationError, match="no column for 'occurred_at'"):
        import_file(kit, missing)
    for name, content in (("empty.csv", ""), ("blank.csv", "\n\n  \n"), ("bom.csv", "\ufeff")):
        with pytest.raises(ValidationError, match="is empty"):
            import_file(kit, write(tmp_path / name, content))
    with pytest.raises(ValidationError, match="cannot tell the format"):
        import_file(kit, write(tmp_path / "c.xlsx", "x"))
    with pytest.raises(ValidationError, match="cannot read"):
        import_file(kit, tmp_path / "nowhere.csv")
    with pytest.raises(ValidationError, match="not a known text encoding"):
        import_file(kit, latin, encoding="klingon")


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r", "mixed"])
def test_bom_and_line_endings_just_work(kit: Omnikit, tmp_path: Path, newline: str) -> None:
    lines = [
        "\ufeffemail,channel,occurred_at,text",
        'a@example.nl,sms,2026-01-05T09:30Z,"two\nlines"',
        "b@example.nl,sms,2026-01-05T09:31Z,one",
        "c@example.nl,fax,2026-01-05T09:32Z,bad",
        "",
    ]
    if newline == "mixed":
        text = lines[0] + "\r\n" + lines[1] + "\r" + lines[2] + "\n" + lines[3] + "\r\n"
    else:
        text = newline.join(lines)
    result = import_file(kit, write(tmp_path / "c.csv", text, newline="\n"))
    assert (result.imported, result.rejected) == (2, 1)
    assert result.rejects[0].line == 5  # the quoted line break counts as a line
    a = kit.customers.find(email="a@example.nl")
    assert a is not None and kit.journey(a.id).steps[0].text == "two\nlines"


def test_jsonl_input_and_jsonl_rejects(kit: Omnikit, tmp_path: Path) -> None:
    lines = [
        {
            "phone": "0612345678",
            "channel": "sms",
            "occurred_at": "2026-01-05T09:30:00+01:00",
            "purpose": ["order_status"],
            "external_id": 1001,
            "agent": "anna",
        },
        "not json",
        [1, 2],
        {"phone": "0612345678", "channel": "sms", "occurred_at": "2026-01-05T09:30:00"},
        {
            "handles": {"telegram": "@jan"},
            "phone": "0612345678",
            "channel": "telegram",
            "occurred_at": "2026-01-05T10:30:00+01:00",
        },
    ]
    body = "\r\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n"
    source = write(tmp_path / "c.jsonl", body, newline="\n")
    result = import_file(kit, source)
    assert (result.rows_read, result.imported, result.rejected) == (5, 2, 3)
    rejects = [json.loads(x) for x in (tmp_path / "c.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3, 4]
    assert rejects[0]["raw"] == "not json" and "not JSON" in rejects[0]["reason"]
    assert "JSON list, not an object" in rejects[1]["reason"]
    assert rejects[2]["phone"] == "0612345678" and "no UTC offset" in rejects[2]["reason"]
    jan = kit.customers.find(phone="0612345678")
    assert jan is not None and kit.customers.find(handles={"telegram": "jan"}) == jan
    first = kit.journey(jan.id).steps[0]
    assert (first.external_id, first.agent, first.purpose) == ("1001", "anna", ("order_status",))


def test_region_option_reads_national_numbers(tmp_path: Path) -> None:
    with Omnikit("sqlite:///:memory:") as kit:  # no default region
        rows = [{"phone": "030 123 4567", "channel": "phone", "occurred_at": "2026-01-05T09:00Z"}]
        refused = import_rows(kit, rows)
        assert refused.rejected == 1 and "no country code" in refused.rejects[0].reason
        assert import_rows(kit, rows, region="DE").imported == 1
        assert kit.customers.find(phone="+49301234567") is not None


@pytest.mark.slow
def test_hundred_thousand_rows_with_one_bad_row(kit: Omnikit, tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    with source.open("w", encoding="utf-8", newline="") as file:
        file.write("phone,channel,direction,occurred_at,external_id\n")
        for n in range(100_000):
            phone = "06 12 34 5" if n == 50_000 else f"06{10_000_000 + n % 20_000:08d}"
            file.write(f"{phone},sms,inbound,2026-01-05T09:30:00Z,SM{n}\n")
    result = import_file(kit, source, rejects=tmp_path / "bad.csv")
    assert (result.rows_read, result.imported, result.rejected) == (100_000, 99_999, 1)
    assert result.customers_created == 20_000
    (row,) = rejects_of(tmp_path / "bad.csv")
    assert row["line"] == "50002" and row["external_id"] == "SM50000"
    assert "not a valid phone number" in row["reason"]


def test_a_store_failure_midway_says_how_far_it_got(tmp_path: Path) -> None:
    rows = [
        {"email": f"c{n}@example.nl", "channel": "sms", "occurred_at": "2026-01-05T09:00Z"}
        for n in range(25)
    ]
    with Omnikit(f"sqlite:///{tmp_path / 'k.db'}") as kit:
        original = kit._store_interactions
        calls = []

        def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(1)
            if len(calls) == 2:
                from omnikit import StoreError

                raise StoreError("the disk is full")
            return original(*args, **kwargs)

        kit._store_interactions = failing  # type: ignore[method-assign]
        with pytest.raises(OmnikitError, match=r"stopped after recording 10 .*the disk is full"):
            import_rows(kit, rows, batch_size=10)
        kit._store_interactions = original  # type: ignore[method-assign]
        again = import_rows(kit, rows, batch_size=10)
        assert (again.imported, again.already_present) == (15, 10)


def test_options_are_checked(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        import_rows(kit, [], batch_size=0)
    with pytest.raises(ValidationError, match="not a known region"):
        import_rows(kit, [], region="XX")
    with pytest.raises(ValidationError, match="iterable of rows"):
        import_rows(kit, {"phone": "x"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="both mapped to 'phone'"):
        import_rows(kit, [], mapping={"a": "phone", "b": "PHONE"})
    assert import_rows(kit, ["nope"]).rejects[0].reason == "a row must be a mapping, not str"  # type: ignore[list-item]


values = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.integers(),
    st.sampled_from(
        [
            "0612345678",
            "+31201234567",
            "sms",
            "phone",
            "2026-01-05T09:30Z",
            "webshop: C-1",
            "jan@example.nl",
            "inbound",
            "call",
            "a; b",
        ]
    ),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
)
keys = st.sampled_from(
    [
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
        "handles.twitter",
        "external_ids.webshop",
        "handles.nope",
        "other",
    ]
)


FUZZ_KIT = Omnikit("sqlite:///:memory:", default_region="NL")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(keys, values, max_size=8), max_size=5))
def test_fuzz_rows_are_imported_or_rejected(rows: list[dict[str, object]]) -> None:
    result = import_rows(FUZZ_KIT, rows)
    assert result.rows_read == len(rows)
    assert result.imported + result.already_present + result.rejected == len(rows)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["csv", "jsonl"]))
def test_fuzz_files_raise_only_omnikit_errors(data: bytes, format: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f.{format}"
        path.write_bytes(b"phone,channel,occurred_at\n" + data if format == "csv" else data)
        try:
            result = import_file(FUZZ_KIT, path)
        except OmnikitError:
            return
        assert result.imported + result.already_present + result.rejected == result.rows_read
