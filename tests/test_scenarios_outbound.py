"""DESIGN.md scenarios 2 and 3 as their example scripts run them, on every backend."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scenario3_on_every_backend(store_url: str) -> None:
    seen = _example("scenario3_notifications").run(store_url)
    assert seen["first"] == ["app"]
    assert seen["deferred_until"] == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert seen["capped"] == ["skipped", "skipped"]
    assert seen["fallback"] == ["email"]
    assert seen["journey"] == ["app"]


def test_example_scripts_run(tmp_path: Path) -> None:
    out = {}
    for script in ("scenario2_returned_post.py", "scenario3_notifications.py"):
        done = subprocess.run(
            [sys.executable, str(EXAMPLES / script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        out[script] = done.stdout
    assert (
        "post: skipped (postal identity marked undeliverable" in out["scenario2_returned_post.py"]
    )
    assert "23:30 app deferred" in out["scenario3_notifications.py"]
