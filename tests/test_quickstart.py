"""The README's quickstart and the example scripts run as written."""

from __future__ import annotations

import os
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_readme_quickstart_runs() -> None:
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "the README has a python quickstart"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    journey = namespace["kit"].journey(namespace["jan"].id)  # type: ignore[attr-defined]
    assert journey.channels == ["webshop", "phone"]


def test_readme_has_exactly_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    assert len(commands) == 2
    assert all(command.startswith("python3 -m venv .venv") for command in commands)


@pytest.mark.parametrize(
    "script", sorted(p.name for p in (ROOT / "examples").glob("*.py")), ids=str
)
def test_example_script_runs(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [script])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script} prints what it did"


@pytest.mark.slow
def test_readme_main_command_runs_as_written(tmp_path: Path) -> None:
    """The first set-up command's ``omnikit`` steps, as written, in a fresh directory
    (the venv and install steps are what CI itself does)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)[0].strip()
    steps = [step.strip() for step in command.split("&&")]
    commands = [step for step in steps if step.startswith(".venv/bin/omnikit")]
    assert commands, "the main command runs omnikit"
    omnikit = Path(sys.executable).parent / "omnikit"
    env = {k: v for k, v in os.environ.items() if k != "OMNIKIT_URL"}
    for step in commands:
        argv = [str(omnikit), *shlex.split(step)[1:]]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{step}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (tmp_path / "omnikit.db").exists()
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'class="sankey"' not in report  # drawn by the browser, from the figure data
    assert '"type":"sankey"' in report.replace(" ", "")
