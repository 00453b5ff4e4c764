"""Outbound decision: ``kit.notify`` and ``kit.preview`` for a customer with a history.

Target: ``kit.notify`` p99 at most 1 ms on an SQLite file, for a customer with
preferences, consent records, a purpose whose policy has frequency caps, and 1,000
past messages of that purpose inside the caps' window.

Set-up: ``--histories`` customers (default 40), each with an e-mail address and an
app user id, preferences (``order_updates``: app, then e-mail; ``marketing``: e-mail;
quiet hours that begin eight hours after the benchmark starts, so that no measured
message is deferred), five consent records (grants and withdrawals for marketing and
order updates on several channels), and ``--past`` (default 1,000) past
``order_updates`` messages, each made by ``kit.notify`` with the kit's clock set to a
moment spread over the last six days. The past messages are then marked sent (a raw
``UPDATE`` of the outbox and interaction status, as a worker would have left them).
The ``order_updates`` policy caps 2,000 notifications per 7 days over all channels
and 1,500 messages per 7 days on the app: every call counts the whole window (one
pass over the outbox's caps index), and neither cap is reached, nor the messages'
count the 2,000 at which the notifications would be counted exactly. The webhook
adapter sends on the app channel, so every measured notify queues one app message
(e-mail kept for fallback): it writes an outbound interaction and an outbox item in
one transaction.

The samples visit the customers in turn, so each customer's history grows by
``2 * samples / customers`` messages during the run (notify and its raw baseline
both write): from 1,000 to about 1,100 with the defaults; the report states the
history's size at the start and the end.

Baselines, in the same run, on a plain ``sqlite3`` connection to the same file with
omnikit's settings (automatic checkpoints off, as on the kit's connections: the
kit's checkpointer thread copies the log of both sides): for notify, the statements
the decision needs, raw (``BEGIN IMMEDIATE``; the customer joined with its
identities; the preferences; the consent records; customers merged into it; the
caps' count; an ``INSERT`` of the interaction and of the outbox item; ``COMMIT``),
with the rows' JSON made once beforehand and only ids and times made per call; for
preview, the same reads in a read transaction. For context, a fifth side renders the
message for the app channel (``omnikit.message.render``), which both notify and
preview do. All five sides take turns in blocks of 50 calls.

    python benchmarks/bench_notify.py            # 2,000 samples per side
    python benchmarks/bench_notify.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from _common import (
    Sizes,
    interleave,
    report,
    say,
    summary_us,
    verdict,
)

from omnikit import Message, Omnikit
from omnikit.message import render
from omnikit.model import Cap, Policy, QuietHours
from omnikit.store.sqlite import _configure  # omnikit's connection setup, for the baseline

P99_LIMIT_US = 1_000.0
PURPOSE = "order_updates"
WINDOW = timedelta(days=7)
WARMUP = 100
BLOCK = 50
ZONE = "Europe/Amsterdam"
SECRET = "whsec-0123456789abcdef"

MESSAGE = Message(
    subject="Order {{ order }} has shipped",
    body="Hi {{ name }}, your order {{ order }} has shipped and arrives {{ day }}.",
)

READS = (
    "SELECT * FROM customers LEFT OUTER JOIN identities ON identities.customer_id = customers.id "
    "WHERE customers.id = ? ORDER BY identities.first_seen_at, identities.id",
    "SELECT settings FROM preferences WHERE customer_id = ?",
    "SELECT * FROM consents WHERE customer_id = ? ORDER BY at, id",
    "SELECT id FROM customers WHERE merged_into = ? ORDER BY id",
)
LIVE = (
    "FROM outbox WHERE customer_id = ? AND purpose = ? AND created_at > ? "
    "AND status IN ('queued', 'sent')"
)
CAPS = (
    "SELECT count(CASE WHEN notification_id != ? THEN 1 END), "
    f"count(CASE WHEN channel = ? THEN 1 END) {LIVE}"
)
"""Both caps (the same window), counted as omnikit counts them: in one pass, the
messages over all channels (other than the notification being decided) and those on
the app channel."""
INSERT_INTERACTION = (
    "INSERT INTO interactions (id, customer_id, channel, direction, kind, occurred_at, "
    "recorded_at, text, subject, attachments, external_id, case_id, agent, purpose, status, "
    "metadata) VALUES (?, ?, 'app', 'outbound', 'message', ?, ?, ?, NULL, NULL, NULL, NULL, "
    "NULL, ?, 'queued', ?) ON CONFLICT (channel, external_id) DO NOTHING"
)
INSERT_OUTBOX = (
    "INSERT INTO outbox (id, kind, status, channel, adapter, customer_id, interaction_id, "
    "notification_id, purpose, payload, fallback, attempts, parts_sent, due_at, lease_until, "
    "claim_token, created_at, updated_at, sent_at, external_id, last_error) VALUES "
    "(?, 'message', 'queued', 'app', 'app', ?, ?, ?, ?, ?, ?, 0, 0, ?, NULL, NULL, ?, ?, NULL, "
    "NULL, NULL)"
)

_ids = itertools.count()


def raw_id() -> str:
    """A time-ordered 36-character id, as omnikit's UUIDv7 ids are."""
    return str(uuid.UUID(int=time.time_ns() << 64 | next(_ids)))


def micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def quiet_hours(start: datetime) -> QuietHours:
    """Two quiet hours beginning eight hours after ``start``: never active in a run."""
    local = start.astimezone(ZoneInfo(ZONE))
    begin = (local.hour + 8) % 24
    return QuietHours(start=clock_time(begin), end=clock_time((begin + 2) % 24), timezone=ZONE)


def build(kit: Omnikit, customers: int, past: int, started: datetime, clock: list) -> list[str]:
    """The customers, their preferences, consent and ``past`` messages each."""
    kit.adapters.use(
        "webhook",
        secret=SECRET,
        channel="app",
        name="app",
        outbound_url="http://provider.test/send",
    )
    kit.policies.set(
        Policy(
            purpose=PURPOSE,
            caps=(Cap(limit=2_000, per=WINDOW), Cap(limit=1_500, per=WINDOW, channel="app")),
        )
    )
    hours = quiet_hours(started)
    ids = []
    first = started - timedelta(days=6)
    step = timedelta(days=6) / past
    for k in range(customers):
        clock[0] = first - timedelta(minutes=5)
        customer = kit.customers.identify(
            email=f"customer{k}@example.nl", external_ids={"app": f"user-{k}"}, name=f"Kim {k}"
        )
        kit.preferences.set(
            customer,
            channels={PURPOSE: ["app", "email"], "marketing": ["email"]},
            quiet_hours=hours,
            language="nl",
        )
        for purpose, channel, granted in (
            ("marketing", "email", True),
            ("marketing", "sms", False),
            (PURPOSE, "app", True),
            ("marketing", "email", False),
            ("marketing", "email", True),
        ):
            record = kit.consent.grant if granted else kit.consent.revoke
            record(customer, purpose=purpose, channel=channel, source="benchmark set-up")
        for i in range(past):
            clock[0] = first + step * i
            kit.notify(
                customer,
                MESSAGE,
                purpose=PURPOSE,
                data={"name": f"Kim {k}", "order": 10_000 + i, "day": "tomorrow"},
            )
        ids.append(customer.id)
        if (k + 1) % 10 == 0:
            say(f"  {k + 1} customers, {(k + 1) * past:,} past messages")
    clock[0] = None
    return ids


def history_sizes(connection: sqlite3.Connection, ids: list[str], since: int) -> list[int]:
    return [
        connection.execute(
            "SELECT count(*) FROM outbox WHERE customer_id = ? AND purpose = ? AND created_at >= ?",
            (customer_id, PURPOSE, since),
        ).fetchone()[0]
        for customer_id in ids
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument(
        "--histories", type=int, help="customers with a history (default 40; quick 4)"
    )
    parser.add_argument("--past", type=int, default=1_000, help="past messages per customer")
    parser.add_argument("--samples", type=int, help="samples per side (default 2,000; quick 200)")
    options, ignored = parser.parse_known_args()  # run_all passes the store's sizes
    if ignored:
        say(f"(ignoring {' '.join(ignored)}: this benchmark builds its own store)")
    customers = options.histories or (4 if options.quick else 40)
    samples = options.samples or (200 if options.quick else 2_000)
    past = options.past

    clock: list[datetime | None] = [None]
    started = datetime.now(UTC)

    def now() -> datetime:
        return clock[0] or datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="omnikit-bench-notify-") as tmp:
        path = Path(tmp) / "notify.db"
        kit = Omnikit(f"sqlite:///{path}", clock=now)
        try:
            say(f"building {customers} customers with {past:,} past messages each")
            t0 = time.perf_counter()
            ids = build(kit, customers, past, started, clock)
            setup_s = time.perf_counter() - t0
            say(
                f"  {customers * past:,} past notifies in {setup_s:.1f} s "
                f"({setup_s / (customers * past) * 1e6:.0f} µs each, growing history)"
            )
            raw = sqlite3.connect(path, isolation_level=None)
            # omnikit's settings, automatic checkpoints off as on the kit's own
            # connections: the kit's checkpointer thread copies both sides' log pages.
            _configure(raw, memory=False, autocheckpoint=False)
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("UPDATE outbox SET status = 'sent', sent_at = created_at")
            raw.execute("UPDATE interactions SET status = 'sent' WHERE direction = 'outbound'")
            raw.execute("COMMIT")
            since = micros(datetime.now(UTC) - WINDOW)
            before = history_sizes(raw, ids, since)

            payload = json.dumps(
                {
                    "message": {"to": "user-0", "text": "Hi Kim 0, your order 1 has shipped."},
                    "identity": raw_id(),
                    "source": MESSAGE.model_dump(mode="json", exclude_defaults=True),
                    "data": {"name": "Kim 0", "order": 1, "day": "tomorrow"},
                    "critical": False,
                },
                separators=(",", ":"),
            )
            purpose_json = json.dumps([PURPOSE])
            fallback_json = json.dumps(["email"])
            text = "Hi Kim 0, your order 1 has shipped and arrives tomorrow."

            outcomes: dict[str, int] = {}
            orders = itertools.count(50_000)

            def notify(customer_id: str) -> int:
                result = kit.notify(
                    customer_id,
                    MESSAGE,
                    purpose=PURPOSE,
                    data={"name": "Kim", "order": next(orders), "day": "tomorrow"},
                )
                outcome = result.deliveries[0].outcome.value
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                return len(result.deliveries)

            def preview(customer_id: str) -> int:
                shown = kit.preview(
                    customer_id,
                    MESSAGE,
                    purpose=PURPOSE,
                    data={"name": "Kim", "order": next(orders), "day": "tomorrow"},
                )
                return len(shown.deliveries)

            app = kit.channels.get("app")

            def rendering(customer_id: str) -> int:
                data = {"name": "Kim", "order": next(orders), "day": "tomorrow"}
                return render(MESSAGE, app, language="nl", data=data).length

            def raw_reads(customer_id: str) -> int:
                window_start = micros(datetime.now(UTC) - WINDOW)
                rows = 0
                for sql in READS:
                    rows += len(raw.execute(sql, (customer_id,)).fetchall())
                row = raw.execute(CAPS, ("-", "app", customer_id, PURPOSE, window_start)).fetchone()
                return rows + row[0] + row[1]

            def raw_notify(customer_id: str) -> int:
                raw.execute("BEGIN IMMEDIATE")
                rows = raw_reads(customer_id)
                at = micros(datetime.now(UTC))
                interaction, item, notification = raw_id(), raw_id(), raw_id()
                metadata = json.dumps({"notification_id": notification, "outbox_id": item})
                raw.execute(
                    INSERT_INTERACTION,
                    (interaction, customer_id, at, at, text, purpose_json, metadata),
                )
                raw.execute(
                    INSERT_OUTBOX,
                    (
                        item,
                        customer_id,
                        interaction,
                        notification,
                        PURPOSE,
                        payload,
                        fallback_json,
                        at,
                        at,
                        at,
                    ),
                )
                raw.execute("COMMIT")
                return rows

            def raw_preview(customer_id: str) -> int:
                raw.execute("BEGIN")
                rows = raw_reads(customer_id)
                raw.execute("COMMIT")
                return rows

            warm = [ids[i % len(ids)] for i in range(WARMUP)]
            for function in (notify, preview, raw_notify, raw_preview, rendering):
                for customer_id in warm:
                    function(customer_id)
            outcomes.clear()
            inputs = [ids[i % len(ids)] for i in range(samples)]
            runs = interleave(
                {
                    "notify": (notify, inputs),
                    "raw_notify": (raw_notify, inputs),
                    "preview": (preview, inputs),
                    "raw_preview": (raw_preview, inputs),
                    "render": (rendering, inputs),
                },
                BLOCK,
            )
            after = history_sizes(raw, ids, micros(datetime.now(UTC) - WINDOW))
            raw.close()
        finally:
            kit.close()

    stats = {name: summary_us(samples_) for name, (samples_, _) in runs.items()}
    ok = stats["notify"]["p99_us"] <= P99_LIMIT_US
    say()
    say(
        f"notify: {customers} customers, history {min(before):,}-{max(before):,} messages at "
        f"the start, {min(after):,}-{max(after):,} at the end; first channel: {outcomes}"
    )
    say(f"  {'':52}{'p50 µs':>9}{'p90 µs':>9}{'p99 µs':>9}")
    for label, name in (
        ("kit.notify (SQLite file)", "notify"),
        ("raw sqlite3: the reads + 2 inserts + commit", "raw_notify"),
        ("kit.preview (SQLite file)", "preview"),
        ("raw sqlite3: the reads in a read transaction", "raw_preview"),
        ("(context) omnikit.render, the app channel", "render"),
    ):
        s = stats[name]
        say(f"  {label:52}{s['p50_us']:>9.1f}{s['p90_us']:>9.1f}{s['p99_us']:>9.1f}")
    n, r = stats["notify"], stats["raw_notify"]
    say(
        f"  kit.notify p99 {n['p99_us']:.0f} µs  target <= {P99_LIMIT_US:.0f} µs  {verdict(ok)}  "
        f"({n['p99_us'] / r['p99_us']:.1f}x the raw statements' p99, "
        f"{n['p50_us'] / r['p50_us']:.1f}x their p50)"
    )
    report(
        "notify",
        Sizes(customers, customers * past, samples, options.quick),
        {
            "past_messages": past,
            "history_at_start": [min(before), max(before)],
            "history_at_end": [min(after), max(after)],
            "setup_notify_us": round(setup_s / (customers * past) * 1e6, 1),
            "outcomes": outcomes,
            **stats,
            "ratio_p99": round(n["p99_us"] / r["p99_us"], 2),
            "ratio_p50": round(n["p50_us"] / r["p50_us"], 2),
            "pass": ok,
        },
    )


if __name__ == "__main__":
    main()
