"""Outbox throughput: one worker draining queued messages into ``httpx.MockTransport``.

Target: ``kit.outbox.run_once(limit=100, client=client)``, called in a loop until
nothing is left, sends at least 0.3x the messages per second of a bare loop making
the same HTTP calls through the same client and transport, in the same run.

Set-up: an SQLite file with ``--recipients`` customers (default 500), each with an app
user id, and ``--messages`` (default 5,000) ``service`` messages queued for them by
``kit.notify`` (the generic webhook adapter sends on the app channel), made once and
copied for every round. The worker claims up to 100 due items per call, renders each
through the adapter, sends it (one ``POST`` with the signed JSON body), and marks it
sent in the same transaction as its outbound interaction's status.

The bare loop: every queued message rendered beforehand by the same adapter
(``adapter.render``, then ``OutboundPayload.request()``: same method, URL, headers
and body), then, timed, ``client.send(request)`` for each. Both sides use one
``httpx.Client`` over one ``MockTransport`` whose handler answers 200 with a fresh
provider id as JSON, as a provider's API does.

The sides take turns every ``--block`` (500) messages, which goes first alternating,
so that both see the same machine noise: the worker drains 500 (five ``run_once``),
then the bare loop sends the same 500, and so on until the outbox is empty. A
round's rate is its messages over the summed time of its turns; a round starts from
a fresh copy of the queued store; the figure is the median of the rounds' ratios.

    python benchmarks/bench_outbox.py            # 5,000 messages, 3 rounds
    python benchmarks/bench_outbox.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _common import Sizes, raw_connect, remove_database, report, say, verdict

from omnikit import Message, Omnikit
from omnikit.outbound import outbound_message

TARGET_RATIO = 0.3
SECRET = "whsec-0123456789abcdef"
URL = "http://provider.test/send"
LIMIT = 100
BLOCK = 500
"""Messages per turn: the sides alternate every this many messages."""


def adapter_kit(path: Path) -> Omnikit:
    kit = Omnikit(f"sqlite:///{path}")
    kit.adapters.use("webhook", secret=SECRET, channel="app", name="app", outbound_url=URL)
    return kit


def build(path: Path, customers: int, messages: int) -> None:
    """``messages`` queued service messages to ``customers`` customers, via kit.notify."""
    with adapter_kit(path) as kit:
        ids = [
            kit.customers.identify(external_ids={"app": f"user-{k}"}, name=f"Kim {k}").id
            for k in range(customers)
        ]
        message = Message(body="Hi {{ name }}, your ticket {{ ticket }} has an answer.")
        for n in range(messages):
            result = kit.notify(
                ids[n % customers],
                message,
                purpose="service",
                data={"name": f"Kim {n % customers}", "ticket": 70_000 + n},
            )
            if not any(d.outcome.value == "queued" for d in result.deliveries):
                raise RuntimeError(f"message {n} was not queued: {result.deliveries}")
    with raw_connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def handler() -> httpx.MockTransport:
    ids = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": f"msg-{next(ids)}"})

    return httpx.MockTransport(answer)


def requests_of(kit: Omnikit) -> list[httpx.Request]:
    """Every queued message rendered as the worker renders it, as ``httpx`` requests,
    in the order the worker claims them (earliest due first)."""
    adapter = kit.adapters.get("app")
    requests = []
    for item in kit.outbox.pending(limit=10_000):
        message = item.payload["message"]
        assert isinstance(message, dict)
        for payload in adapter.render(outbound_message(message)):
            requests.append(payload.request())
    return requests


def one_round(
    template: Path, workdir: Path, client: httpx.Client, messages: int, block: int
) -> tuple[list[int], list[int], list[int]]:
    """Drain a copy of ``template`` and send the bare requests, taking turns in blocks
    of ``block`` messages; (messages per block, drain ns, bare ns) per block."""
    path = workdir / "drain.db"
    remove_database(path)
    shutil.copyfile(template, path)
    clock = time.perf_counter_ns
    sizes: list[int] = []
    drain_ns: list[int] = []
    bare_ns: list[int] = []
    with adapter_kit(path) as kit:
        requests = requests_of(kit)
        if len(requests) != messages:
            raise RuntimeError(f"{len(requests)} requests for {messages} messages")
        sent = done = 0
        for turn in range(0, messages, block):
            chunk = requests[turn : turn + block]
            for side in ("drain", "bare") if (turn // block) % 2 == 0 else ("bare", "drain"):
                t0 = clock()
                if side == "drain":
                    claimed = 0
                    while claimed < len(chunk):
                        result = kit.outbox.run_once(limit=LIMIT, client=client)
                        if result.claimed == 0:
                            break
                        claimed += result.claimed
                        sent += result.sent
                    if turn + block >= messages:  # the call that finds nothing left
                        kit.outbox.run_once(limit=LIMIT, client=client)
                    drain_ns.append(clock() - t0)
                else:
                    for request in chunk:
                        if client.send(request).status_code != 200:
                            raise RuntimeError("the mock provider refused a request")
                    bare_ns.append(clock() - t0)
            sizes.append(len(chunk))
            done += len(chunk)
        with kit.store.transaction() as tx:
            left = tx.outbox_items("queued", 10)
    if sent != messages or left:
        raise RuntimeError(f"drained {sent} of {messages}; {len(left)} left queued")
    return sizes, drain_ns, bare_ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--messages", type=int, help="queued messages (default 5,000)")
    parser.add_argument("--recipients", type=int, default=500, help="customers (default 500)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 1)")
    parser.add_argument("--block", type=int, default=BLOCK, help="messages per turn")
    options, ignored = parser.parse_known_args()  # run_all passes the store's sizes
    if ignored:
        say(f"(ignoring {' '.join(ignored)}: this benchmark builds its own store)")
    messages = options.messages or (500 if options.quick else 5_000)
    rounds = options.rounds or (1 if options.quick else 3)
    customers = min(options.recipients, messages)
    block = options.block
    if block % LIMIT:
        raise SystemExit(f"--block must be a multiple of {LIMIT}")

    with tempfile.TemporaryDirectory(prefix="omnikit-bench-outbox-") as tmp:
        workdir = Path(tmp)
        template = workdir / "queued.db"
        say(f"queueing {messages:,} messages to {customers:,} customers via kit.notify")
        t0 = time.perf_counter()
        build(template, customers, messages)
        say(f"  {time.perf_counter() - t0:.1f} s")
        warm = workdir / "warm.db"  # imports, the adapter, first-call costs of both sides
        build(warm, customers, min(messages, 2 * block))
        client = httpx.Client(transport=handler())
        one_round(warm, workdir, client, min(messages, 2 * block), block)
        per_round: list[dict[str, float]] = []
        block_ratios: list[float] = []
        for round_ in range(rounds):
            sizes, drain_ns, bare_ns = one_round(template, workdir, client, messages, block)
            drain_rate = sum(sizes) / (sum(drain_ns) / 1e9)
            bare_rate = sum(sizes) / (sum(bare_ns) / 1e9)
            block_ratios += [b / d for d, b in zip(drain_ns, bare_ns, strict=True)]
            per_round.append(
                {"drain": drain_rate, "bare": bare_rate, "ratio": drain_rate / bare_rate}
            )
            say(
                f"round {round_ + 1}: drain {drain_rate:7,.0f} messages/s, "
                f"bare {bare_rate:7,.0f} messages/s, ratio {drain_rate / bare_rate:.3f}x"
            )
        client.close()
    ratio = statistics.median(r["ratio"] for r in per_round)
    ok = ratio >= TARGET_RATIO
    drain_rate = statistics.median(r["drain"] for r in per_round)
    bare_rate = statistics.median(r["bare"] for r in per_round)
    say()
    say(
        f"outbox worker (run_once, limit {LIMIT}): {drain_rate:8,.0f} messages/s "
        f"({1e6 / drain_rate:.0f} µs each)"
    )
    say(
        f"bare loop (client.send)           : {bare_rate:8,.0f} messages/s "
        f"({1e6 / bare_rate:.0f} µs each)"
    )
    say(
        f"ratio {ratio:.3f}x the bare loop (median of {rounds} rounds; per block of "
        f"{block}: median {statistics.median(block_ratios):.3f}x, "
        f"{min(block_ratios):.3f} to {max(block_ratios):.3f}) "
        f"target ≥ {TARGET_RATIO}x: {verdict(ok)}"
    )
    report(
        "outbox",
        Sizes(customers, messages, messages * rounds * 2, options.quick),
        {
            "messages": messages,
            "rounds": rounds,
            "limit": LIMIT,
            "block": block,
            "drain_per_s": [round(r["drain"]) for r in per_round],
            "bare_per_s": [round(r["bare"]) for r in per_round],
            "ratios": [round(r["ratio"], 3) for r in per_round],
            "block_ratio_median": round(statistics.median(block_ratios), 3),
            "ratio": round(ratio, 3),
            "pass": ok,
        },
    )


if __name__ == "__main__":
    main()
