"""The webhook receiver, served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from omnikit import Omnikit, ValidationError
from omnikit.adapters.webhook import sign
from omnikit.cli import app as cli
from omnikit.server import create_app, load_config
from omnikit.store import sqlite as sqlite_store

SECRET = "whsec-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """A uvicorn server running an app in a thread, on a free loopback port."""

    def __init__(self, application: object) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def message(identifier: str, text: str = "Hallo") -> bytes:
    return json.dumps(
        {"type": "message", "id": identifier, "text": text, "sender": {"email": "jan@example.nl"}}
    ).encode()


def signed_headers(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return {"content-type": "application/json"} | sign(secret, body, int(time.time()))


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Omnikit]:
    with Omnikit(f"sqlite:///{tmp_path / 'omnikit.db'}", default_region="NL") as kit:
        kit.adapters.use("webhook", secret=SECRET)
        yield kit


@pytest.fixture
def served(kit: Omnikit) -> Iterator[Served]:
    with Served(create_app(kit, max_body=4096)) as served:
        yield served


def count(kit: Omnikit) -> int:
    customer = kit.customers.find(email="jan@example.nl")
    return 0 if customer is None else len(kit.journey(customer.id).steps)


def test_healthz(served: Served) -> None:
    response = httpx.get(f"{served.url}/healthz")
    assert response.status_code == 200 and response.text == "ok"


def test_signed_delivery_is_recorded_once(served: Served, kit: Omnikit) -> None:
    body = message("m-1", "Waar is mijn pakket? 📦")
    url = f"{served.url}/webhooks/webhook"
    first = httpx.post(url, content=body, headers=signed_headers(body))
    again = httpx.post(url, content=body, headers=signed_headers(body))
    assert first.status_code == again.status_code == 200
    assert first.json() == {"received": 1}
    assert count(kit) == 1
    jan = kit.customers.find(email="jan@example.nl")
    assert jan is not None
    assert kit.journey(jan.id).steps[0].text == "Waar is mijn pakket? 📦"


def test_bad_signature_is_403_and_records_nothing(served: Served, kit: Omnikit) -> None:
    body = message("m-1")
    url = f"{served.url}/webhooks/webhook"
    forged = httpx.post(url, content=body, headers=signed_headers(body, secret="x" * 20))
    missing = httpx.post(url, content=body, headers={"content-type": "application/json"})
    tampered = httpx.post(url, content=message("m-1", "changed"), headers=signed_headers(body))
    assert [r.status_code for r in (forged, missing, tampered)] == [403, 403, 403]
    assert count(kit) == 0


def test_unknown_adapter_is_404(served: Served) -> None:
    response = httpx.post(f"{served.url}/webhooks/nope", content=b"{}")
    assert response.status_code == 404
    assert httpx.post(f"{served.url}/elsewhere", content=b"{}").status_code == 404


def test_malformed_body_is_400(served: Served, kit: Omnikit) -> None:
    body = b'{"type": "message", "id": '
    response = httpx.post(
        f"{served.url}/webhooks/webhook", content=body, headers=signed_headers(body)
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.text
    assert count(kit) == 0


def test_body_over_the_limit_is_413(served: Served, kit: Omnikit) -> None:
    body = message("m-big", "x" * 5000)
    url = f"{served.url}/webhooks/webhook"
    response = httpx.post(url, content=body, headers=signed_headers(body))
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = httpx.post(url, content=chunks(), headers=signed_headers(body))
    assert streamed.status_code == 413
    assert count(kit) == 0


def test_store_failure_is_503_and_the_retry_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "locked.db"
    with Omnikit(f"sqlite:///{path}") as kit:
        kit.adapters.use("webhook", secret=SECRET)
        kit.customers.identify(email="jan@example.nl")
        body = message("m-locked")
        with Served(create_app(kit)) as served:
            url = f"{served.url}/webhooks/webhook"
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                response = httpx.post(url, content=body, headers=signed_headers(body))
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert count(kit) == 0
            retried = httpx.post(url, content=body, headers=signed_headers(body))
            assert retried.status_code == 200
            assert count(kit) == 1


def test_public_url_is_what_signatures_see(kit: Omnikit) -> None:
    seen: list[str] = []

    class Recorder:
        name = "recorder"
        channel = "webchat"
        capabilities = kit.adapters.get("webhook").capabilities

        def handshake(self, request: object) -> None:
            seen.append(request.url)  # type: ignore[attr-defined]

        def verify(self, request: object) -> None:
            raise AssertionError("not reached")

        parse = ack = render = send = verify

        async def asend(self, payload: object, client: object) -> None:
            raise AssertionError("not reached")

    kit.adapters.use(Recorder())
    with Served(create_app(kit, public_url="https://hooks.example.com/")) as served:
        httpx.post(f"{served.url}/webhooks/recorder?a=1&b=%20", content=b"")
    assert seen == ["https://hooks.example.com/webhooks/recorder?a=1&b=%20"]


def test_create_app_checks_its_settings(kit: Omnikit) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        create_app(kit, public_url="hooks.example.com")
    with pytest.raises(ValidationError, match="max_body"):
        create_app(kit, max_body=0)
    with pytest.raises(ValidationError, match="threads"):
        create_app(kit, threads=-1)


def test_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "omnikit.toml"
    path.write_text(
        'url = "sqlite:///x.db"\n'
        'default_region = "NL"\n'
        "[adapters.webhook]\n"
        'secret_env = "SHOP_SECRET"\n'
        'channel = "webshop"\n'
    )
    monkeypatch.setenv("SHOP_SECRET", SECRET)
    config = load_config(path)
    assert config.url == "sqlite:///x.db" and config.default_region == "NL"
    assert config.adapters == {"webhook": {"secret": SECRET, "channel": "webshop"}}
    monkeypatch.delenv("SHOP_SECRET")
    with pytest.raises(ValidationError, match="SHOP_SECRET"):
        load_config(path)
    path.write_text("colour = 'blue'\n")
    with pytest.raises(ValidationError, match="unknown key"):
        load_config(path)
    path.write_text("url = \n")
    with pytest.raises(ValidationError, match="cannot be read"):
        load_config(path)


def test_serve_command_rejects_bad_configuration(tmp_path: Path) -> None:
    path = tmp_path / "omnikit.toml"
    path.write_text("[adapters.webhook]\nsecret = 'short'\n")
    db = tmp_path / "serve.db"
    result = CliRunner().invoke(cli, ["serve", "--config", str(path), "--url", f"sqlite:///{db}"])
    assert result.exit_code == 2
    assert "at least 16 characters" in result.output


def test_omnikit_serve_runs_uvicorn(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "omnikit.toml"
    config.write_text("[adapters.webhook]\nsecret_env = 'SHOP_SECRET'\n")
    db = tmp_path / "served.db"
    command = [
        sys.executable,
        "-c",
        "from omnikit.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--config",
        str(config),
        "--url",
        f"sqlite:///{db}",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "SHOP_SECRET": SECRET}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "omnikit serve did not start"
            time.sleep(0.1)
        body = message("m-served")
        response = httpx.post(
            f"{base}/webhooks/webhook", content=body, headers=signed_headers(body)
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
    with Omnikit(f"sqlite:///{db}") as kit:
        assert count(kit) == 1


def test_logs_name_no_secret_signature_or_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = message("m-logged", "my private words")
    headers = signed_headers(body)
    with Omnikit(f"sqlite:///{tmp_path / 'logged.db'}") as kit:
        kit.adapters.use("webhook", secret=SECRET)
        with Served(create_app(kit)) as served:
            url = f"{served.url}/webhooks/webhook"
            assert httpx.post(url, content=body, headers=headers).status_code == 200
            forged = signed_headers(body, secret="y" * 20)
            assert httpx.post(url, content=body, headers=forged).status_code == 403
            bad = b'{"type": "message", "text": "my private words"'
            assert httpx.post(url, content=bad, headers=signed_headers(bad)).status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "webhook: 200" in logged and "webhook: 403" in logged
    for secret in (SECRET, "my private words", "jan@example.nl", headers["X-Omnikit-Signature"]):
        assert secret not in logged
