"""Analytics over 1M interactions / 100k customers, against hand-written raw SQL.

Targets (issue 9): each ``kit.analytics`` query (``contacts`` by channel and purpose
per day, ``switches``, ``paths``, ``channel_performance``) over the whole history
takes at most 1 s on SQLite and on PostgreSQL, and runs at least 0.5x as fast as the
same aggregate written by hand in raw SQL on a plain driver connection (``sqlite3``
with omnikit's file settings; ``psycopg``), in the same run.

The history: ``--customers`` (100,000) customers with ``--interactions`` (1,000,000)
interactions in the first quarter of 2026, in journeys of one to five contacts hours
to days apart, on a realistic channel mix (switching channels within a journey), two
thirds inbound, a quarter outbound (with delivery statuses), the rest internal notes;
one purpose tag on most contacts, two on some, none on others. About one case per two
journeys, opened on the journey's first channel, its contacts attached; most resolved,
some reopened, half with a service level (business seconds to first response and
resolution recorded as the SLA module records them), some breached. The rows are
written with ``executemany`` into the schema ``Omnikit(url)`` creates (building 1M
rows through the public API takes many minutes and measures nothing here), seeded, so
every run reads the same data; PostgreSQL gets the same rows by ``COPY``.

The sides take turns (``--rounds`` rounds, which goes first alternating); the figure
per query is the median time of each side and their ratio (raw / kit).

    python benchmarks/bench_analytics.py                 # SQLite and PostgreSQL
    python benchmarks/bench_analytics.py --quick         # 100k interactions
    python benchmarks/bench_analytics.py --pg-url ''     # SQLite only
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from _common import OUT, raw_connect, remove_database, say, verdict

from omnikit import Omnikit
from omnikit._ids import new_id
from omnikit._time import to_micros

TARGET_SECONDS = 1.0
TARGET_RATIO = 0.5
START, END = date(2026, 1, 1), date(2026, 3, 31)
T0 = to_micros(datetime(2026, 1, 1, tzinfo=UTC))
T1 = to_micros(datetime(2026, 4, 1, tzinfo=UTC))
HOUR = 3_600_000_000
DAY = 24 * HOUR
WEEK = 7 * DAY
DEFAULT_PG_URL = os.environ.get(
    "OMNIKIT_BENCH_POSTGRES_URL", "postgresql://omnikit:omnikit@127.0.0.1/omnikit_bench_analytics"
)

# journeys: first channel → likely next channels
FIRST = ["webshop"] * 30 + ["email"] * 20 + ["phone"] * 15 + ["whatsapp"] * 10
FIRST += ["webchat"] * 8 + ["store"] * 7 + ["app"] * 5 + ["post"] * 3 + ["twitter"] * 2
NEXT = {
    "webshop": ["email", "phone", "webchat", "pickup", "webshop"],
    "email": ["email", "phone", "whatsapp"],
    "phone": ["email", "phone", "sms"],
    "whatsapp": ["whatsapp", "phone", "email"],
    "webchat": ["email", "phone", "webchat"],
    "store": ["phone", "email", "pickup"],
    "app": ["app", "email", "phone"],
    "post": ["phone", "email"],
    "twitter": ["twitter", "email", "phone"],
    "pickup": ["store", "phone"],
    "sms": ["phone", "sms"],
}
PURPOSES = ["order", "delivery", "return", "invoice", "complaint", "product_question", "account"]


# the history ---------------------------------------------------------------------------


def build_sqlite(path: Path, customers: int, interactions: int) -> dict[str, int]:
    """Write the seeded history into a new omnikit store at ``path``."""
    remove_database(path)
    Omnikit(f"sqlite:///{path}").close()  # the schema, by omnikit's migrations
    rng = random.Random(20_260_101)
    started = time.perf_counter()
    people = [new_id() for _ in range(customers)]
    with raw_connect(path) as db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO customers (id, name, language, attributes, created_at, updated_at) "
            "VALUES (?, ?, 'nl', '{}', ?, ?)",
            ((c, f"Customer {n}", T0 - DAY, T0 - DAY) for n, c in enumerate(people)),
        )
        rows: list[tuple[Any, ...]] = []
        cases: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        made = 0
        while made < interactions:
            who = people[rng.randrange(customers)]
            at = T0 + rng.randrange(T1 - T0 - WEEK)
            channel = rng.choice(FIRST)
            case_id = new_id() if rng.random() < 0.5 else None
            steps = min(rng.choice((1, 1, 2, 2, 3, 4, 5)), interactions - made)
            first_at, first_out = at, None
            for _ in range(steps):
                roll = rng.random()
                direction = "inbound" if roll < 0.65 else "outbound" if roll < 0.93 else "internal"
                status = None
                if direction == "outbound":
                    status = rng.choice(("delivered", "read", "delivered", "failed", "sent", None))
                    first_out = first_out or at
                tags = rng.random()
                purpose = (
                    "[]"
                    if tags < 0.15
                    else json.dumps(rng.sample(PURPOSES, 2 if tags > 0.95 else 1))
                )
                rows.append(
                    (new_id(), who, channel, direction, "message", at, at, purpose, status, case_id)
                )
                made += 1
                at += rng.randrange(HOUR // 4, 3 * DAY)
                channel = rng.choice(NEXT[channel])
            if case_id is not None:
                cases.append(case_row(rng, case_id, who, rows[-steps][2], first_at, first_out))
                events.extend(case_events(rng, cases[-1]))
            if len(rows) >= 50_000:
                insert(db, rows, cases, events)
                rows, cases, events = [], [], []
        insert(db, rows, cases, events)
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("customers", "interactions", "cases", "case_events")
        }
    say(f"  built {counts} in {time.perf_counter() - started:.0f} s")
    return counts


def case_row(
    rng: random.Random, case_id: str, who: str, channel: str, at: int, answered: int | None
) -> tuple[Any, ...]:
    resolved = at + rng.randrange(HOUR, 5 * DAY) if rng.random() < 0.85 else None
    sla = None
    if rng.random() < 0.5:
        first = None if answered is None else (answered - at) / 1e6 * rng.uniform(0.2, 0.6)
        sla = json.dumps(
            {
                "queue": "support",
                "first_response_at": None,
                "first_response_business": first,
                "resolution_business": None if resolved is None else (resolved - at) / 3e6,
            }
        )
    status = "open" if resolved is None else "resolved"
    return (case_id, who, "Question", status, "normal", at, at, 1, channel, resolved, sla)


def case_events(rng: random.Random, case: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    case_id, at, resolved, sla = case[0], case[5], case[9], case[10]
    events = [(new_id(), case_id, at, "opened", None, json.dumps({"status": "new"}))]
    if resolved is not None:
        events.append(
            (
                new_id(),
                case_id,
                resolved,
                "transitioned",
                json.dumps({"status": "open"}),
                json.dumps({"status": "resolved"}),
            )
        )
        if rng.random() < 0.06:
            events.append(
                (
                    new_id(),
                    case_id,
                    resolved + DAY,
                    "transitioned",
                    json.dumps({"status": "resolved"}),
                    json.dumps({"status": "open"}),
                )
            )
    if sla is not None and rng.random() < 0.15:
        events.append((new_id(), case_id, at + DAY, "sla_breached", None, "{}"))
    return events


def insert(
    db: sqlite3.Connection,
    rows: list[tuple[Any, ...]],
    cases: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
) -> None:
    db.executemany(
        "INSERT INTO cases (id, customer_id, subject, status, priority, created_at, "
        "updated_at, version, channel, resolved_at, sla) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        cases,
    )
    db.executemany(
        "INSERT INTO interactions (id, customer_id, channel, direction, kind, occurred_at, "
        "recorded_at, purpose, status, case_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.executemany(
        "INSERT INTO case_events (id, case_id, at, type, before, after) VALUES (?,?,?,?,?,?)",
        events,
    )


def copy_to_postgres(path: Path, url: str) -> None:
    """The same rows in the PostgreSQL database at ``url`` (schema by omnikit)."""
    import psycopg

    Omnikit(url).close()
    started = time.perf_counter()
    with psycopg.connect(url) as pg, raw_connect(path) as db:
        pg.execute(
            "TRUNCATE outbox, case_events, interactions, cases, identities, customers CASCADE"
        )
        for table in ("customers", "cases", "interactions", "case_events"):
            columns = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
            booleans = {
                n
                for n, c in enumerate(db.execute(f"PRAGMA table_info({table})"))
                if c[2].upper() == "BOOLEAN"
            }
            with pg.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in db.execute(f"SELECT * FROM {table}"):
                    copy.write_row(
                        [
                            bool(v) if n in booleans and v is not None else v
                            for n, v in enumerate(row)
                        ]
                    )
        pg.commit()
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")
    say(f"  copied to PostgreSQL in {time.perf_counter() - started:.0f} s")


# the hand-written queries ------------------------------------------------------------------

RAW_SQLITE = {
    "contacts": """
        SELECT occurred_at / 86400000000 AS day, channel, tag.value,
               COUNT(*), COUNT(DISTINCT customer_id),
               SUM(direction = 'inbound'), SUM(direction = 'outbound')
        FROM interactions LEFT JOIN json_each(interactions.purpose) AS tag
        WHERE occurred_at >= :t0 AND occurred_at < :t1 AND direction != 'internal'
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
    "switches": """
        SELECT channel, next_channel, COUNT(*) FROM (
          SELECT channel, occurred_at,
                 LEAD(channel) OVER w AS next_channel, LEAD(occurred_at) OVER w AS next_at
          FROM interactions
          WHERE occurred_at >= :t0 AND occurred_at < :t1 AND direction != 'internal'
          WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, id))
        WHERE next_at - occurred_at <= :week
        GROUP BY 1, 2""",
    "paths": """
        WITH marked AS (
          SELECT customer_id, channel, occurred_at, id,
                 LAG(channel) OVER w AS prev_channel, LAG(occurred_at) OVER w AS prev_at
          FROM interactions
          WHERE occurred_at >= :t0 AND occurred_at < :t1 AND direction != 'internal'
          WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, id)),
        numbered AS (
          SELECT *, SUM(prev_at IS NULL OR occurred_at - prev_at > :week)
                    OVER (PARTITION BY customer_id ORDER BY occurred_at, id) AS journey
          FROM marked),
        changes AS (
          SELECT * FROM numbered
          WHERE prev_at IS NULL OR occurred_at - prev_at > :week OR channel != prev_channel),
        joined AS (
          SELECT customer_id, journey, group_concat(channel, ',') OVER j AS path,
                 COUNT(*) OVER j AS size,
                 ROW_NUMBER() OVER (PARTITION BY customer_id, journey ORDER BY occurred_at, id) AS n
          FROM changes
          WINDOW j AS (PARTITION BY customer_id, journey ORDER BY occurred_at, id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
        SELECT path, COUNT(*), COUNT(DISTINCT customer_id) FROM joined
        WHERE n = 1 AND size >= 2 GROUP BY path ORDER BY 2 DESC, path LIMIT 20""",
}
RAW_SQLITE_PERFORMANCE = (
    """
    SELECT v.channel, v.contacts, v.inbound, v.outbound, v.customers, v.tracked, v.ok,
           v.failed, r.repeats
    FROM (SELECT channel, COUNT(*) AS contacts, SUM(direction = 'inbound') AS inbound,
                 SUM(direction = 'outbound') AS outbound, COUNT(DISTINCT customer_id) AS customers,
                 SUM(direction = 'outbound' AND status IS NOT NULL) AS tracked,
                 SUM(direction = 'outbound' AND status IN ('delivered', 'read')) AS ok,
                 SUM(direction = 'outbound' AND status = 'failed') AS failed
          FROM interactions
          WHERE occurred_at >= :t0 AND occurred_at < :t1 AND direction != 'internal'
          GROUP BY channel) AS v
    LEFT JOIN (SELECT channel, SUM(next_at - occurred_at <= :week) AS repeats
               FROM (SELECT channel, occurred_at,
                            LEAD(occurred_at) OVER (PARTITION BY customer_id
                                                    ORDER BY occurred_at, id) AS next_at
                     FROM interactions
                     WHERE occurred_at >= :t0 AND occurred_at < :t1 + :week
                       AND direction = 'inbound')
               WHERE occurred_at < :t1 GROUP BY channel) AS r ON r.channel = v.channel""",
    """
    WITH c AS (
      SELECT cases.id, cases.channel, cases.created_at, cases.resolved_at,
             cases.sla IS NOT NULL AS has_sla,
             json_extract(cases.sla, '$.first_response_business') AS fr_b,
             json_extract(cases.sla, '$.resolution_business') AS rs_b,
             (SELECT MIN(occurred_at) FROM interactions
              WHERE case_id = cases.id AND direction = 'outbound'
                AND occurred_at >= cases.created_at) AS first_out,
             (SELECT COUNT(*) FROM interactions
              WHERE case_id = cases.id AND direction = 'inbound') AS inbound,
             EXISTS (SELECT 1 FROM case_events WHERE case_id = cases.id AND type = 'transitioned'
                     AND json_extract(before, '$.status') IN ('resolved', 'closed')
                     AND json_extract(after, '$.status') NOT IN ('resolved', 'closed'))
               AS reopened,
             EXISTS (SELECT 1 FROM case_events
                     WHERE case_id = cases.id AND type = 'sla_breached') AS breached
      FROM cases WHERE created_at >= :t0 AND created_at < :t1),
    d AS (SELECT channel, COALESCE(fr_b * 1e6, first_out - created_at) AS fr,
                 COALESCE(rs_b * 1e6, resolved_at - created_at) AS rs,
                 resolved_at IS NOT NULL AS resolved, inbound, reopened, has_sla, breached
          FROM c),
    f AS (SELECT channel, fr, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY fr) AS k,
                 COUNT(*) OVER (PARTITION BY channel) AS n FROM d WHERE fr IS NOT NULL),
    s AS (SELECT channel, rs, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY rs) AS k,
                 COUNT(*) OVER (PARTITION BY channel) AS n FROM d WHERE rs IS NOT NULL)
    SELECT t.channel, t.cases, f50, f90, s50, s90, t.resolved, t.fcr, t.reopened, t.sla, t.met
    FROM (SELECT channel, COUNT(*) AS cases, SUM(resolved) AS resolved,
                 SUM(resolved AND inbound <= 1 AND NOT reopened) AS fcr,
                 SUM(reopened) AS reopened, SUM(has_sla) AS sla,
                 SUM(has_sla AND NOT breached) AS met
          FROM d GROUP BY channel) AS t
    LEFT JOIN (SELECT channel, MIN(CASE WHEN k >= 0.5 * n THEN fr END) AS f50,
                      MIN(CASE WHEN k >= 0.9 * n THEN fr END) AS f90 FROM f GROUP BY channel) AS fp
      ON fp.channel = t.channel
    LEFT JOIN (SELECT channel, MIN(CASE WHEN k >= 0.5 * n THEN rs END) AS s50,
                      MIN(CASE WHEN k >= 0.9 * n THEN rs END) AS s90 FROM s GROUP BY channel) AS sp
      ON sp.channel = t.channel""",
)


def to_postgres(sql: str) -> str:
    """The SQLite hand-written query in PostgreSQL's dialect."""
    sql = sql.replace(
        "LEFT JOIN json_each(interactions.purpose) AS tag",
        "LEFT JOIN LATERAL jsonb_array_elements_text(interactions.purpose::jsonb) AS tag(value)"
        " ON true",
    )
    sql = sql.replace("group_concat(channel, ',')", "string_agg(channel, ',')")
    for column, key in (
        ("cases.sla", "first_response_business"),
        ("cases.sla", "resolution_business"),
        ("before", "status"),
        ("after", "status"),
    ):
        sql = sql.replace(f"json_extract({column}, '$.{key}')", f"({column}::jsonb ->> '{key}')")
    sql = sql.replace(
        "(cases.sla::jsonb ->> 'first_response_business')",
        "(cases.sla::jsonb ->> 'first_response_business')::float8",
    )
    sql = sql.replace(
        "(cases.sla::jsonb ->> 'resolution_business')",
        "(cases.sla::jsonb ->> 'resolution_business')::float8",
    )
    for name in ("direction = 'inbound'", "direction = 'outbound'"):
        sql = sql.replace(f"SUM({name})", f"COUNT(*) FILTER (WHERE {name})")
    sql = sql.replace(
        "SUM(direction = 'outbound' AND status IS NOT NULL)",
        "COUNT(*) FILTER (WHERE direction = 'outbound' AND status IS NOT NULL)",
    )
    sql = sql.replace(
        "SUM(direction = 'outbound' AND status IN ('delivered', 'read'))",
        "COUNT(*) FILTER (WHERE direction = 'outbound' AND status IN ('delivered', 'read'))",
    )
    sql = sql.replace(
        "SUM(direction = 'outbound' AND status = 'failed')",
        "COUNT(*) FILTER (WHERE direction = 'outbound' AND status = 'failed')",
    )
    sql = sql.replace(
        "SUM(next_at - occurred_at <= :week)",
        "COUNT(*) FILTER (WHERE next_at - occurred_at <= :week)",
    )
    sql = sql.replace(
        "SUM(prev_at IS NULL OR occurred_at - prev_at > :week)",
        "COUNT(*) FILTER (WHERE prev_at IS NULL OR occurred_at - prev_at > :week)",
    )
    sql = sql.replace("SUM(resolved) AS", "COUNT(*) FILTER (WHERE resolved) AS")
    sql = sql.replace(
        "SUM(resolved AND inbound <= 1 AND NOT reopened)",
        "COUNT(*) FILTER (WHERE resolved AND inbound <= 1 AND NOT reopened)",
    )
    sql = sql.replace("SUM(reopened) AS", "COUNT(*) FILTER (WHERE reopened) AS")
    sql = sql.replace("SUM(has_sla) AS", "COUNT(*) FILTER (WHERE has_sla) AS")
    sql = sql.replace(
        "SUM(has_sla AND NOT breached)", "COUNT(*) FILTER (WHERE has_sla AND NOT breached)"
    )
    # PostgreSQL wants every subquery in FROM named
    sql = sql.replace(
        "WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, id))\n        WHERE",
        "WINDOW w AS (PARTITION BY customer_id ORDER BY occurred_at, id)) AS s\n        WHERE",
    )
    sql = sql.replace(
        "AND direction = 'inbound')\n               WHERE",
        "AND direction = 'inbound') AS n\n               WHERE",
    )
    # psycopg's named parameters
    for name in ("t0", "t1", "week"):
        sql = sql.replace(f":{name}", f"%({name})s")
    return sql


# measuring ---------------------------------------------------------------------------------


def measure(
    kit_side: Callable[[], object], raw_side: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median seconds of each side, taking turns (who goes first alternates)."""
    kit_times: list[float] = []
    raw_times: list[float] = []
    for n in range(rounds + 1):
        order = [(kit_side, kit_times), (raw_side, raw_times)]
        for side, times in order if n % 2 else reversed(order):
            started = time.perf_counter()
            side()
            if n:  # the first round warms caches and is not counted
                times.append(time.perf_counter() - started)
    return statistics.median(kit_times), statistics.median(raw_times)


def run(
    kit: Omnikit,
    raw: Callable[[str], Callable[[], object]],
    label: str,
    rounds: int,
    results: dict[str, Any],
) -> bool:
    analytics = kit.analytics
    queries: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "contacts": (lambda: analytics.contacts(START, END), raw("contacts")),
        "switches": (lambda: analytics.switches(START, END), raw("switches")),
        "paths": (lambda: analytics.paths(START, END), raw("paths")),
        "channel_performance": (
            lambda: analytics.channel_performance(START, END),
            raw("channel_performance"),
        ),
    }
    ok = True
    for name, (kit_side, raw_side) in queries.items():
        kit_s, raw_s = measure(kit_side, raw_side, rounds)
        ratio = raw_s / kit_s
        passed = kit_s <= TARGET_SECONDS and ratio >= TARGET_RATIO
        ok &= passed
        results[f"{label}:{name}"] = {"kit_s": kit_s, "raw_s": raw_s, "ratio": ratio}
        say(
            f"  {label:10} {name:20} kit {kit_s * 1000:7.0f} ms   raw SQL {raw_s * 1000:7.0f} ms"
            f"   ratio {ratio:4.2f}x   {verdict(passed)}"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10k customers, 100k interactions")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="'' for SQLite only")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.interactions = 10_000, 100_000
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"analytics-c{args.customers}-i{args.interactions}.db"
    say(f"analytics over {args.interactions:,} interactions, {args.customers:,} customers")
    if args.rebuild or not path.exists():
        build_sqlite(path, args.customers, args.interactions)
    results: dict[str, Any] = {}
    ok = True
    with Omnikit(f"sqlite:///{path}") as kit, raw_connect(path) as db:
        params = {"t0": T0, "t1": T1, "week": WEEK}

        def raw_sqlite(name: str) -> Callable[[], object]:
            if name == "channel_performance":
                return lambda: [db.execute(q, params).fetchall() for q in RAW_SQLITE_PERFORMANCE]
            return lambda: db.execute(RAW_SQLITE[name], params).fetchall()

        ok &= run(kit, raw_sqlite, "SQLite", args.rounds, results)
    if args.pg_url:
        import psycopg

        # which history the database holds: copied again when it holds another
        marker = OUT / "analytics-pg.json"
        holds = {"url": args.pg_url, "store": path.name}
        if args.rebuild or not marker.exists() or json.loads(marker.read_text()) != holds:
            copy_to_postgres(path, args.pg_url)
            marker.write_text(json.dumps(holds))
        with Omnikit(args.pg_url) as kit, psycopg.connect(args.pg_url, autocommit=True) as pg:
            params = {"t0": T0, "t1": T1, "week": WEEK}

            def raw_pg(name: str) -> Callable[[], object]:
                if name == "channel_performance":
                    queries = [to_postgres(q) for q in RAW_SQLITE_PERFORMANCE]
                    return lambda: [pg.execute(q, params).fetchall() for q in queries]
                query = to_postgres(RAW_SQLITE[name])
                return lambda: pg.execute(query, params).fetchall()

            ok &= run(kit, raw_pg, "PostgreSQL", args.rounds, results)
    (OUT / f"result-analytics-c{args.customers}-i{args.interactions}.json").write_text(
        json.dumps(results, indent=2) + "\n"
    )
    say(f"overall: {verdict(ok)} (targets: ≤ {TARGET_SECONDS:.0f} s, ≥ {TARGET_RATIO}x raw SQL)")


if __name__ == "__main__":
    main()
