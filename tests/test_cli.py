"""The omnikit command: the demo prints the card and the journey."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from omnikit import Omnikit
from omnikit.cli import app

runner = CliRunner()


def test_demo_prints_card_and_journey(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--db", str(db)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "When Jan called" in result.output
    assert "Order 1001: cordless drill" in result.output
    assert "webshop → phone → email → store" in result.output
    assert "jan.jansen@example.nl" in result.output
    assert "resolved" in result.output
    with Omnikit(f"sqlite:///{db}") as kit:  # the demo left a real store behind
        jan = kit.customers.find(phone="+31201234567")
        assert jan is not None and kit.journey(jan.id).channels[-1] == "store"


def test_demo_refuses_to_overwrite(tmp_path: Path) -> None:
    db = tmp_path / "exists.db"
    db.write_text("keep me")
    result = runner.invoke(app, ["demo", "--db", str(db)])
    assert result.exit_code == 2
    assert db.read_text() == "keep me"


def test_every_command_has_help_with_an_example() -> None:
    result = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Example: omnikit demo" in result.output


def test_console_script_is_installed() -> None:
    script = shutil.which("omnikit", path=str(Path(sys.executable).parent))
    assert script is not None
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "demo" in result.stdout


def test_worker_once_sends_what_the_outbox_holds(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "shop.db"
    module = tmp_path / "shopkit.py"
    module.write_text(
        "import httpx\n"
        "from omnikit import Omnikit\n"
        "SENT = []\n"
        "def provider(request):\n"
        "    SENT.append(request.content)\n"
        "    return httpx.Response(200, json={'id': 'push-1'})\n"
        "def make():\n"
        f"    kit = Omnikit('sqlite:///{db}')\n"
        "    kit.adapters.use('webhook', name='app', channel='app', secret='s' * 20,\n"
        "                     outbound_url='https://push.example.com/send')\n"
        "    kit.outbox.configure(client=httpx.Client(transport=httpx.MockTransport(provider)))\n"
        "    return kit\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import shopkit  # type: ignore[import-not-found]

    kit = shopkit.make()
    jan = kit.customers.identify(email="jan@example.nl", external_ids={"app": "user-1"})
    kit.preferences.set(jan.id, channels={"service": ["app"]})
    kit.notify(jan.id, "Your parcel is at the pickup point", purpose="service")
    kit.close()
    result = runner.invoke(app, ["worker", "--kit", "shopkit:make", "--once"])
    assert result.exit_code == 0, result.output
    assert "claimed 1, sent 1, retried 0, dead 0" in result.output
    assert len(shopkit.SENT) == 1 and b"pickup point" in shopkit.SENT[0]
    with Omnikit(f"sqlite:///{db}") as again:
        assert again.outbox.pending() == []
        assert again.journey(jan.id).steps[-1].external_id == "push-1"


def test_worker_help_has_an_example() -> None:
    result = runner.invoke(app, ["worker", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "Example: omnikit worker" in result.output


def test_worker_bad_kit_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["worker", "--kit", "no_such_module:kit", "--once"])
    assert result.exit_code == 2
    assert "omnikit worker: --kit 'no_such_module:kit' cannot be imported" in result.output
