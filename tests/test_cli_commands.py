"""The operator commands: import, card, journey, export, erase, db upgrade; their exit
codes and their one-line errors, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnikit import Omnikit
from omnikit.cli import EXIT_CODES, app
from tests.conftest import make_url

runner = CliRunner()


@pytest.fixture(params=["sqlite-file", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store that outlives one command: an SQLite file, or PostgreSQL."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    return make_url(request.param, tmp_path, server)


ENV = {"COLUMNS": "160"}
ROWS = (
    "Telefoon,email,name,channel,direction,kind,Datum,text,external_id\n"
    "06 1234 5678,jan@example.nl,Jan,phone,inbound,call,2026-01-05T09:30:00+01:00,Order?,C1\n"
    "0612345678,,,email,outbound,message,2026-01-05T10:30:00+01:00,Here it is,C2\n"
    "not a phone,,,sms,inbound,message,2026-01-06T10:30:00Z,x,C3\n"
)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=ENV)
    return result.exit_code, result.stdout, result.stderr


def imported(url: str, tmp_path: Path) -> str:
    """Import ROWS into the store at ``url``; return Jan's id."""
    source = tmp_path / "contacts.csv"
    source.write_text(ROWS, encoding="utf-8")
    code, out, err = run(
        "import",
        str(source),
        "--url",
        url,
        "--region",
        "NL",
        "--map",
        "Telefoon=phone",
        "--map",
        "Datum=occurred_at",
    )
    assert code == 1, err  # one row rejected
    assert out.strip() == (
        f"read 3 rows: 2 imported, 0 already present, 1 rejected "
        f"(see {tmp_path / 'contacts.rejects.csv'}); 1 new customers"
    )
    with Omnikit(url, default_region="NL") as kit:
        jan = kit.customers.find(email="jan@example.nl")
        assert jan is not None
        return jan.id


def test_import_then_card_journey_export_erase(store_url: str, tmp_path: Path) -> None:
    jan = imported(store_url, tmp_path)
    rejects = (tmp_path / "contacts.rejects.csv").read_text(encoding="utf-8")
    assert "not a phone" in rejects and ",4," in rejects

    code, out, _ = run(
        "import",
        str(tmp_path / "contacts.csv"),
        "--url",
        store_url,
        "--map",
        "Telefoon=phone",
        "--map",
        "Datum=occurred_at",
        "--region",
        "NL",
    )
    assert code == 1 and "0 imported, 2 already present, 1 rejected" in out

    for who in ("06-12345678", "+31 6 1234 5678", "jan@example.nl", jan):
        code, out, err = run("card", who, "--url", store_url, "--region", "NL")
        assert code == 0, err
        assert "Jan" in out and "+31612345678" in out and "Here it is" in out

    code, out, _ = run("journey", jan, "--url", store_url)
    assert code == 0 and "phone → email" in out

    code, out, _ = run("export", "jan@example.nl", "--url", store_url)
    assert code == 0 and json.loads(out)["customer"]["id"] == jan
    target = tmp_path / "jan.json"
    code, out, _ = run("export", jan, "--url", store_url, "--out", str(target))
    assert code == 0 and json.loads(target.read_text())["customer"]["id"] == jan

    result = runner.invoke(
        app, ["erase", jan, "--reason", "asked", "--url", store_url], input="n\n", env=ENV
    )
    assert result.exit_code == 6 and "not confirmed" in result.stderr
    result = runner.invoke(
        app, ["erase", jan, "--reason", "asked", "--url", store_url], input="y\n", env=ENV
    )
    assert result.exit_code == 0 and f"erased customer {jan}" in result.stdout
    code, _, err = run("card", "jan@example.nl", "--url", store_url)
    assert code == 3 and err == "error: no customer with e-mail address 'jan@example.nl'\n"
    code, _, err = run("erase", jan, "--reason", "again", "--yes", "--url", store_url)
    assert code == 4 and err.startswith("error: ") and "erased" in err


def test_not_found_and_bad_input_exit_codes(store_url: str, tmp_path: Path) -> None:
    Omnikit(store_url).close()
    cases = [
        (("card", "0612345678", "--region", "NL"), 3, "no customer with phone number"),
        (("journey", "0194d3a0-7c1e-7000-8000-000000000001"), 3, "no customer with id"),
        (("export", "webshop:C-1"), 3, "no customer with external id"),
        (("card", "12"), 2, "no country code"),
        (("card", "x@", "--region", "NL"), 2, "not a valid e-mail address"),
        (("import", str(tmp_path / "missing.csv")), 2, "cannot read"),
    ]
    for args, code, message in cases:
        got, out, err = run(*args, "--url", store_url)
        assert got == code, (args, out, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
        assert "Traceback" not in out + err


def test_import_file_problems_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kit.db'}"
    source = tmp_path / "c.csv"
    source.write_text("email,channel\nj@example.nl,sms\n")
    code, _, err = run("import", str(source), "--url", url)
    assert code == 2 and err.startswith("error: ") and "no column for 'occurred_at'" in err
    code, _, err = run("import", str(source), "--url", url, "--map", "email")
    assert code == 2 and "--map 'email' must look like COLUMN=FIELD" in err
    code, _, err = run("import", str(source), "--url", url, "--map", "email=mail")
    assert code == 2 and "'mail' is not a field" in err
    source.write_bytes("email,channel,occurred_at\nj@example.nl,sms,Zo\xe9\n".encode("latin-1"))
    code, _, err = run("import", str(source), "--url", url)
    assert code == 2 and "is not utf-8 text" in err
    code, out, err = run("import", str(source), "--url", url, "--encoding", "latin-1")
    assert code == 1 and "1 rejected" in out  # read now; the date is wrong


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kit.db'}"
    Omnikit(url).close()
    result = runner.invoke(app, ["--debug", "card", "nobody@example.nl", "--url", url])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "NotFoundError"
    result = runner.invoke(app, ["card", "nobody@example.nl", "--url", url])
    assert result.exit_code == 3 and isinstance(result.exception, SystemExit)


def test_missing_store_file_is_not_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.db'}"
    for args in (("card", "jan@example.nl"), ("db", "upgrade")):
        code, _, err = run(*args, "--url", url)
        assert code == 3 and "no store at" in err
    assert not (tmp_path / "nowhere.db").exists()


def test_store_that_cannot_be_opened_is_exit_code_5(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    code, _, err = run("card", "jan@example.nl", "--url", f"sqlite:///{broken}")
    assert code == 5 and err.startswith("error: ")
    code, _, err = run("db", "upgrade", "--url", f"sqlite:///{broken}")
    assert code == 5 and err.startswith("error: ")


def test_db_upgrade_prints_the_revisions(store_url: str, tmp_path: Path) -> None:
    from omnikit.store.migrate import HEAD, upgrade
    from omnikit.store.sqlite import create_sqlite_engine

    if store_url.startswith("sqlite"):
        engine = create_sqlite_engine(store_url)
        upgrade(engine, "0001")  # an old store
        engine.dispose()
        code, out, _ = run("db", "upgrade", "--url", store_url)
        assert code == 0 and out == f"schema revision: 0001 -> {HEAD}\n"
        with Omnikit(store_url) as kit:  # usable at the newest schema
            assert kit.customers.identify(email="a@example.nl").id
    code, out, _ = run("db", "upgrade", "--url", store_url)
    assert code == 0 and out == f"schema revision: {HEAD} -> {HEAD}\n"


def test_every_operator_command_has_help_with_an_example() -> None:
    for command in (["import"], ["card"], ["journey"], ["export"], ["erase"], ["db", "upgrade"]):
        result = runner.invoke(app, [*command, "--help"], env=ENV)
        assert result.exit_code == 0
        assert f"Example: omnikit {' '.join(command)}" in result.output
        assert "--url" in result.output
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 5, 6}
