"""A third-party adapter package, installed for real: examples/adapter-package (LINE).

The package is installed (editable) into a fresh virtual environment; there omnikit
must list its adapter, import it only on first use through the entry point, and
record a signed LINE webhook; and the package's own conformance tests must pass.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "examples" / "adapter-package"

SNIPPET = textwrap.dedent(
    """
    import base64, hashlib, hmac, json, sys
    from omnikit import Channel, IdentityKind, InboundRequest, Omnikit

    secret = "8c5a3e1b9f0d4c27a6e8b1d3f5a7c9e0"
    with Omnikit("sqlite:///:memory:") as kit:
        available = kit.adapters.available()
        imported_early = "omnikit_line" in sys.modules
        kit.channels.register(Channel(
            id="line", name="LINE", identity_kind=IdentityKind.HANDLE,
            realtime=False, outbound=True, text_limit=5000,
        ))
        adapter = kit.adapters.use("line", channel_secret=secret)
        body = json.dumps({
            "destination": "U8189cf6745fc0d808977bdb0b9f22995",
            "events": [{
                "type": "message", "mode": "active", "timestamp": 1795435170727,
                "source": {"type": "user", "userId": "U4af4980629c1f2d8e0a7b6c5d4e3f2a1"},
                "webhookEventId": "01JDFQ3W5C8N2V7XKM4R6T9Y0B",
                "deliveryContext": {"isRedelivery": False},
                "replyToken": "38ef843bde154d9b91c21320ffd17a0f",
                "message": {"id": "468789577898262530", "type": "text", "text": "Hallo"},
            }],
        }).encode()
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        request = InboundRequest(
            method="POST", url="https://shop.example.nl/webhooks/line", body=body,
            headers={"content-type": "application/json", "x-line-signature": signature.decode()},
        )
        [interaction] = kit.receive("line", request).interactions
        print(json.dumps({
            "available": available,
            "imported_early": imported_early,
            "imported_after_use": "omnikit_line" in sys.modules,
            "adapter": type(adapter).__module__ + "." + type(adapter).__name__,
            "channel": interaction.channel,
            "external_id": interaction.external_id,
            "text": interaction.text,
            "steps": len(kit.journey(interaction.customer_id).steps),
        }))
    """
)


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command[1:4]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_line_package_installs_and_passes_its_conformance_tests(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        timeout=60,
    )
    python = venv / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A venv made from a venv sees the base interpreter's packages, not the running
    # venv's: point it at ours (pytest, hypothesis, pip, hatchling, omnikit's deps).
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(target) / "running_interpreter.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in ours), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIKIT_NO_PLUGINS", "PYTHONHOME")}
    env["PYTHONPATH"] = str(ROOT / "src")  # this checkout's omnikit, before any installed one
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(PACKAGE)]
    if importlib.util.find_spec("hatchling") is not None:
        install.insert(-2, "--no-build-isolation")  # else pip fetches hatchling itself
    run(install, env, tmp_path)

    report = json.loads(run([str(python), "-c", SNIPPET], env, tmp_path))
    assert "line" in report["available"] and "telegram" in report["available"]
    assert report["imported_early"] is False, "listing adapters imported the package"
    assert report["imported_after_use"] is True
    assert report["adapter"] == "omnikit_line.LineAdapter"
    assert (report["channel"], report["external_id"], report["text"]) == (
        "line",
        "468789577898262530",
        "Hallo",
    )
    assert report["steps"] == 1

    tests = run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PACKAGE / "tests")],
        env,
        tmp_path,
        timeout=180,
    )
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error)", tests)}
    assert counts.get("passed", 0) >= 15 and "failed" not in counts and "error" not in counts
