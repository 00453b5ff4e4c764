"""Routing: ``kit.route(case)`` with 200 agents and 20 queues, and the pure decision.

Targets: ``kit.route`` p99 at most 1 ms including the store (SQLite file); the pure
decision function ``omnikit.routing.decide`` p99 at most 100 µs.

Set-up: 200 agents (skills from 8, one or two of 4 languages, capacities on phone,
webchat, whatsapp and email, 10 % away), 20 queues (19 with rules on channel,
language, purpose or a VIP attribute, the last one catching the rest), and one new
customer with one new case per sample, so that every sample takes the full path: no
owner, no previous agent, queue rules, least-loaded choice among the qualifying
agents, then the writes (work row, round-robin mark, case update, history). 300
cases are routed first and kept, so agents carry load; each timed route's work is
released (untimed) before the next, keeping the load steady.

Baselines, in the same run: for ``kit.route``, the one write an assignment needs done
raw (``BEGIN IMMEDIATE; INSERT INTO routing_work …; COMMIT`` on a plain ``sqlite3``
connection to the same file); for ``decide``, a bare ``min()`` over the 200 agents'
``(load, sequence, id)`` tuples. The targets are absolute; the ratios say what the
rules and the store cost on top.

    python benchmarks/bench_route.py            # 2,000 routes, 20,000 decisions
    python benchmarks/bench_route.py --quick    # smoke run
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from _common import Sizes, interleave, parse_sizes, report, say, summary_us, verdict

from omnikit import Agent, Omnikit, Queue
from omnikit.routing import Contact, decide

ROUTE_P99_US = 1_000.0
DECIDE_P99_US = 100.0
AGENTS = 200
QUEUES = 20
STANDING = 300
WARMUP = 200
BLOCK = 50

SKILLS = ["tools", "garden", "billing", "returns", "delivery", "kitchen", "paint", "b2b"]
LANGUAGES = ["nl", "en", "de", "pl"]
CHANNELS = ["phone", "webchat", "whatsapp", "email"]


def agents(rng: random.Random) -> list[Agent]:
    return [
        Agent(
            id=f"agent-{n:03d}",
            skills=rng.sample(SKILLS, 3),
            languages=rng.sample(LANGUAGES, rng.choice((1, 2))),
            capacity={"phone": 1, "webchat": 3, "whatsapp": 4, "email": 10},
            presence="away" if rng.random() < 0.1 else "available",
        )
        for n in range(AGENTS)
    ]


def queues(rng: random.Random) -> list[Queue]:
    made = [Queue(id="vip", order=0, attributes={"vip": True})]
    for n in range(1, QUEUES - 1):
        made.append(
            Queue(
                id=f"q{n:02d}",
                order=n,
                channels=rng.sample(CHANNELS, 2),
                languages=[rng.choice(LANGUAGES)],
                purposes=rng.sample(SKILLS, 2),
                skills=[rng.choice(SKILLS)],
            )
        )
    made.append(Queue(id="general", order=QUEUES))
    return made


def build(path: Path, rng: random.Random, cases: int) -> list[str]:
    """The store: agents, queues, ``cases`` routable cases of as many customers."""
    with Omnikit(f"sqlite:///{path}") as kit:
        for agent in agents(rng):
            kit.routing.set_agent(agent)
        for queue in queues(rng):
            kit.routing.set_queue(queue)
        ids = []
        for n in range(cases):
            customer = kit.customers.identify(
                email=f"c{n}@example.nl", language=rng.choice(LANGUAGES)
            )
            if n % 20 == 0:
                kit.customers.set_attributes(customer, {"vip": True})
            case = kit.cases.open(
                customer=customer,
                subject="Question",
                channel=rng.choice(CHANNELS),
                purpose=rng.choice(SKILLS),
            )
            ids.append(case.id)
        return ids


def main() -> None:
    sizes: Sizes = parse_sizes(__doc__.splitlines()[0], full_samples=2_000, quick_samples=200)
    rng = random.Random(6)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "route.db"
        total = STANDING + WARMUP + sizes.samples
        say(f"building {total:,} cases, {AGENTS} agents, {QUEUES} queues")
        ids = build(path, rng, total)
        standing, warm, timed = (
            ids[:STANDING],
            ids[STANDING : STANDING + WARMUP],
            ids[STANDING + WARMUP :],
        )
        with Omnikit(f"sqlite:///{path}") as kit:
            for case_id in standing:
                kit.route(case_id)
            for case_id in warm:
                kit.route(case_id)
                kit.routing.release(case_id)
            raw = sqlite3.connect(path, isolation_level=None)
            raw.execute("PRAGMA journal_mode=WAL")
            raw.execute("PRAGMA synchronous=NORMAL")
            raw.execute("PRAGMA foreign_keys=ON")
            now = int(datetime.now(UTC).timestamp() * 1e6)
            outcomes: dict[str, int] = {}

            def routed(case_id: str) -> str:
                decision = kit.route(case_id)
                outcomes[decision.rule] = outcomes.get(decision.rule, 0) + 1
                return case_id

            def raw_write(case_id: str) -> str:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(
                    "INSERT INTO routing_work (id, agent_id, channel, case_id, interaction_id, "
                    "started_at) VALUES (?, ?, ?, NULL, NULL, ?)",
                    (str(uuid.uuid4()), "agent-000", "email", now),
                )
                raw.execute("COMMIT")
                return case_id

            route_ns: list[int] = []
            raw_ns: list[int] = []
            for start in range(0, len(timed), BLOCK):
                block = timed[start : start + BLOCK]
                runs = interleave({"route": (routed, block), "raw": (raw_write, block)}, BLOCK)
                route_ns += runs["route"][0]
                raw_ns += runs["raw"][0]
                for case_id in block:  # untimed: keep the load steady
                    kit.routing.release(case_id)
                raw.execute("DELETE FROM routing_work WHERE case_id IS NULL")
            raw.close()

            with kit.store.transaction() as tx:
                agent_rows = tx.agents()
                loads = {channel: tx.agent_loads(channel) for channel in CHANNELS}
                queue_list = tx.queues()
            contacts = [
                Contact(
                    channel=rng.choice(CHANNELS),
                    language=rng.choice(LANGUAGES),
                    purposes=(rng.choice(SKILLS),),
                    attributes={"vip": rng.random() < 0.05},
                )
                for _ in range(sizes.samples * 10)
            ]
            at = datetime.now(UTC)
            tuples = [(loads["email"].get(agent.id, 0), seq, agent.id) for agent, seq in agent_rows]
            for contact in contacts[:WARMUP]:
                decide(contact, agent_rows, loads[contact.channel], queue_list, at)
            runs = interleave(
                {
                    "decide": (
                        lambda c: decide(c, agent_rows, loads[c.channel], queue_list, at),
                        contacts,
                    ),
                    "min": (lambda c: min(tuples), contacts),
                },
                BLOCK,
            )
    route_s, raw_s = summary_us(route_ns), summary_us(raw_ns)
    decide_s, min_s = summary_us(runs["decide"][0]), summary_us(runs["min"][0])
    ok_route = route_s["p99_us"] <= ROUTE_P99_US
    ok_decide = decide_s["p99_us"] <= DECIDE_P99_US
    say()
    say(f"routing: {AGENTS} agents, {QUEUES} queues, {STANDING} cases held; rules: {outcomes}")
    say(f"  {'':44}{'p50 µs':>9}{'p99 µs':>9}")
    for label, s in (
        ("kit.route (SQLite file)", route_s),
        ("raw sqlite3: insert one work row + commit", raw_s),
        ("omnikit.routing.decide (pure)", decide_s),
        (f"min() over {AGENTS} agents' tuples", min_s),
    ):
        say(f"  {label:44}{s['p50_us']:>9.1f}{s['p99_us']:>9.1f}")
    say(
        f"  kit.route p99 {route_s['p99_us']:.0f} µs  target <= {ROUTE_P99_US:.0f} µs  "
        f"{verdict(ok_route)}  ({route_s['p99_us'] / raw_s['p99_us']:.1f}x the raw write)"
    )
    say(
        f"  decide p99 {decide_s['p99_us']:.1f} µs  target <= {DECIDE_P99_US:.0f} µs  "
        f"{verdict(ok_decide)}  ({decide_s['p99_us'] / min_s['p99_us']:.1f}x a bare min())"
    )
    report(
        "route",
        sizes,
        {
            "route": route_s,
            "raw_write": raw_s,
            "decide": decide_s,
            "bare_min": min_s,
            "rules": outcomes,
            "pass": {"route": ok_route, "decide": ok_decide},
        },
    )


if __name__ == "__main__":
    main()
