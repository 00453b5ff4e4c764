"""The signing examples in docs/providers/webhook.md produce requests omnikit accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnikit import InboundRequest, Omnikit

PAGE = Path(__file__).resolve().parent.parent / "docs" / "providers" / "webhook.md"
SECRET = "whsec-0123456789abcdef"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text("utf-8"), flags=re.DOTALL)


def test_the_python_signing_example() -> None:
    [python] = blocks("python")[1:2]  # the first block configures a kit
    namespace: dict[str, object] = {}
    exec(compile(python, str(PAGE), "exec"), namespace)
    sent = namespace["request"]
    request = InboundRequest(
        method=sent.method,  # type: ignore[attr-defined]
        url=str(sent.url),  # type: ignore[attr-defined]
        headers=dict(sent.headers),  # type: ignore[attr-defined]
        body=sent.content,  # type: ignore[attr-defined]
    )
    with Omnikit("sqlite:///:memory:") as kit:
        kit.adapters.use("webhook", secret=SECRET)
        [interaction] = kit.receive("webhook", request).interactions
        assert (interaction.channel, interaction.external_id) == ("webchat", "chat-1")
        assert interaction.text == "Waar blijft mijn bestelling?"


def test_the_shell_signing_example() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    [shell] = blocks("bash")
    signing = shell.split("curl ")[0]  # everything before the request is sent
    script = signing + 'printf "%s\\n%s\\n%s" "$timestamp" "$signature" "$body"\n'
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    timestamp, signature, body = done.stdout.split("\n", 2)
    request = InboundRequest(
        method="POST",
        url="https://shop.example.nl/webhooks/webhook",
        headers={
            "content-type": "application/json",
            "x-omnikit-timestamp": timestamp,
            "x-omnikit-signature": f"v1={signature}",
        },
        body=body.encode(),
        received_at=datetime.fromtimestamp(int(timestamp), UTC),
    )
    with Omnikit("sqlite:///:memory:") as kit:
        kit.adapters.use("webhook", secret=SECRET)
        [interaction] = kit.receive("webhook", request).interactions
        assert interaction.text == "Waar blijft mijn bestelling?"
