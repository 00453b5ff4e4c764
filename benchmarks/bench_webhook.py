"""Webhook receiver throughput: signed Twilio SMS webhooks through a real uvicorn.

Target: ``omnikit.server`` with the ``twilio`` adapter on an SQLite file — verify the
``X-Twilio-Signature``, parse the form, identify the sender by phone number, record
the message — at least 0.3x the throughput of a bare Starlette endpoint that returns
the same TwiML response, in the same run; p99 latency recorded.

Set-up: two uvicorn processes (one worker each) on 127.0.0.1, started by this script:
``bare`` (a Starlette route that reads the body and answers the empty TwiML) and
``omnikit`` (``create_app(kit)`` on a fresh SQLite file holding 1,000 customers
identified by a Dutch mobile number). The load generator is a minimal asyncio HTTP/1.1
client on keep-alive connections (8 at once), so that it costs the shared 2 cores as
little as possible. Every request is a distinct message (``MessageSid``) from one of
2,000 numbers: half of them belong to existing customers, half are new on first
contact. Rounds alternate between the two servers; throughput is requests over the
wall time of all rounds, latency is per request as the client sees it.

    python benchmarks/bench_webhook.py            # 4 rounds of 2,000 requests per server
    python benchmarks/bench_webhook.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from _common import Sizes, percentile, report, say, verdict

TARGET_RATIO = 0.3
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
KNOWN = 1000
SENDERS = 2000
CONNECTIONS = 8


def number(k: int) -> str:
    return f"+316{10_000_000 + k:08d}"


# the two servers -------------------------------------------------------------------------


def serve(kind: str, port: int, db: str) -> None:
    import uvicorn

    if kind == "bare":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        async def endpoint(request: Request) -> Response:
            await request.body()
            return Response(TWIML, media_type="text/xml")

        app = Starlette(routes=[Route("/webhooks/twilio", endpoint, methods=["POST"])])
    else:
        from omnikit import Omnikit
        from omnikit.server import create_app

        kit = Omnikit(f"sqlite:///{db}", default_region="NL")
        kit.adapters.use("twilio", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        threads = os.environ.get("BENCH_THREADS")  # default: create_app's choice
        app = create_app(kit, threads=None if threads is None else int(threads))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(kind: str, db: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--port", str(port), "--db", db]
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{kind} server did not start") from None
            time.sleep(0.05)


# requests --------------------------------------------------------------------------------


def twilio_request(port: int, n: int) -> bytes:
    """One SMS webhook, signed as Twilio documents: base64 HMAC-SHA1 of the URL followed
    by every POST parameter, sorted by name, name then value."""
    url = f"http://127.0.0.1:{port}/webhooks/twilio"
    params = {
        "ToCountry": "NL",
        "SmsMessageSid": f"SM{n:032x}",
        "NumMedia": "0",
        "SmsSid": f"SM{n:032x}",
        "SmsStatus": "received",
        "Body": f"Waar blijft mijn bestelling {n}?",
        "FromCountry": "NL",
        "To": "+3197010200300",
        "NumSegments": "1",
        "MessageSid": f"SM{n:032x}",
        "AccountSid": ACCOUNT_SID,
        "From": number(n % SENDERS),
        "ApiVersion": "2010-04-01",
    }
    signed = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(AUTH_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()
    body = urlencode(params).encode()
    head = (
        f"POST /webhooks/twilio HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: {base64.b64encode(digest).decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(port: int, requests: list[bytes], latencies: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter_ns()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter_ns() - started)
            if status != 200 or body != TWIML:
                raise RuntimeError(f"answer {status}: {body[:200]!r}")
    finally:
        writer.close()


def blast(port: int, requests: list[bytes]) -> tuple[float, list[int]]:
    """Send ``requests`` over CONNECTIONS keep-alive connections; (seconds, latencies)."""
    latencies: list[int] = []
    shares = [requests[i::CONNECTIONS] for i in range(CONNECTIONS)]

    async def run() -> None:
        await asyncio.gather(*(_connection(port, share, latencies) for share in shares))

    started = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - started, latencies


# the benchmark ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="per round and server")
    parser.add_argument("--serve", choices=["bare", "omnikit"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve, options.port, options.db)
        return
    rounds = options.rounds or (2 if options.quick else 4)
    per_round = options.requests or (300 if options.quick else 2000)

    from omnikit import Omnikit

    workdir = Path(tempfile.mkdtemp(prefix="omnikit-bench-webhook-"))
    db = str(workdir / "webhook.db")
    with Omnikit(f"sqlite:///{db}", default_region="NL") as kit:
        for k in range(KNOWN):  # half the senders are known customers
            kit.customers.identify(phone=f"06 {10_000_000 + k:08d}")
    servers = {kind: start(kind, db) for kind in ("bare", "omnikit")}
    try:
        sequence = 0
        warm = per_round // 4
        for _kind, (_, port) in servers.items():  # warm both: imports, caches, pages
            blast(port, [twilio_request(port, 10_000_000 + sequence + i) for i in range(warm)])
            sequence += warm
        seconds = {"bare": 0.0, "omnikit": 0.0}
        latencies: dict[str, list[int]] = {"bare": [], "omnikit": []}
        for round_ in range(rounds):
            order = ("bare", "omnikit") if round_ % 2 == 0 else ("omnikit", "bare")
            for kind in order:
                port = servers[kind][1]
                batch = [twilio_request(port, sequence + i) for i in range(per_round)]
                sequence += per_round
                took, seen = blast(port, batch)
                seconds[kind] += took
                latencies[kind].extend(seen)
                say(f"round {round_ + 1} {kind:>7}: {per_round / took:7.0f} requests/s")
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
    total = rounds * per_round
    result: dict[str, object] = {"rounds": rounds, "requests_per_round": per_round}
    for kind in ("bare", "omnikit"):
        values = latencies[kind]
        result[kind] = {
            "requests_per_s": total / seconds[kind],
            "p50_ms": percentile(values, 50) / 1e6,
            "p99_ms": percentile(values, 99) / 1e6,
        }
    bare, ours = result["bare"], result["omnikit"]
    assert isinstance(bare, dict) and isinstance(ours, dict)
    ratio = ours["requests_per_s"] / bare["requests_per_s"]
    result["ratio"] = ratio
    result["pass"] = ratio >= TARGET_RATIO
    say()
    say(
        f"bare Starlette : {bare['requests_per_s']:7.0f} requests/s, "
        f"p50 {bare['p50_ms']:.2f} ms, p99 {bare['p99_ms']:.2f} ms"
    )
    say(
        f"omnikit twilio : {ours['requests_per_s']:7.0f} requests/s, "
        f"p50 {ours['p50_ms']:.2f} ms, p99 {ours['p99_ms']:.2f} ms"
    )
    say(
        f"ratio {ratio:.2f}x the bare endpoint (target ≥ {TARGET_RATIO}x): "
        f"{verdict(bool(result['pass']))}"
    )
    with Omnikit(f"sqlite:///{db}") as kit, kit.store.transaction() as tx:
        recorded = tx.interaction_by_external_id("sms", f"SM{sequence - 1:032x}")
    result["last_message_recorded"] = recorded is not None
    report("webhook", Sizes(KNOWN, sequence, rounds * per_round * 2, options.quick), result)
    if os.environ.get("OMNIKIT_BENCH_KEEP") != "1":
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    main()
