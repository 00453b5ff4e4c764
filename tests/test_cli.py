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
