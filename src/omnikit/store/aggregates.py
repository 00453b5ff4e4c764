"""The SQL of ``kit.analytics``: aggregates computed in the database, for each dialect.

Each function returns a function of the dialect name (``"sqlite"`` or
``"postgresql"``) that writes the query with ``:name`` parameters, for
``StoreTransaction.aggregate``. The queries read the indexed columns of
``interactions``, ``cases`` and ``case_events`` and return one row per group: the
database does the counting, Python only names the results.

A *contact* is an inbound or outbound interaction (internal notes are not contacts).
Instants are integer microseconds since the epoch, UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = [
    "DAY",
    "case_performance",
    "contact_counts",
    "contact_performance",
    "contact_span",
    "paths",
    "switches",
]

DAY = 86_400_000_000
"""Microseconds in a day."""

_CONTACT = "i.direction IN ('inbound', 'outbound')"
_IN_PERIOD = "i.occurred_at >= :start AND i.occurred_at < :end"

Sql = Callable[[str], str]


def _purposes(dialect: str) -> str:
    """A join giving each interaction one row per purpose tag as ``p.value`` (NULL for
    an interaction without purpose)."""
    if dialect == "postgresql":
        return (
            "LEFT JOIN LATERAL jsonb_array_elements_text(CAST(i.purpose AS jsonb)) "
            "AS p(value) ON true"
        )
    return "LEFT JOIN json_each(i.purpose) AS p"


def _json_text(dialect: str, column: str, key: str) -> str:
    """The text of ``column``'s JSON member ``key``."""
    if dialect == "postgresql":
        return f"(CAST({column} AS jsonb) ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _local(shifts: int) -> str:
    """``i.occurred_at`` in local time: plus the offset from UTC ``:o0``, or with
    ``shifts`` offsets, ``:o{n}`` from the instant ``:s{n}`` on."""
    if shifts <= 1:
        return "(i.occurred_at + :o0)"
    branches = " ".join(f"WHEN i.occurred_at < :s{n} THEN :o{n - 1}" for n in range(1, shifts))
    return f"(i.occurred_at + CASE {branches} ELSE :o{shifts - 1} END)"


def _period(every: str | None, months: int, shifts: int) -> str:
    """The period of ``i.occurred_at`` as an integer: local days or weeks since the
    epoch (see ``_local``), or the index of the month among the bounds ``:m1`` …
    ``:m{months}`` (each the start of the next month)."""
    if every == "day":
        return f"{_local(shifts)} / {DAY}"
    if every == "week":  # 1970-01-01 was a Thursday: + 3 days starts weeks on Monday
        return f"({_local(shifts)} / {DAY} + 3) / 7"
    if every == "month":
        branches = " ".join(f"WHEN i.occurred_at < :m{n} THEN {n - 1}" for n in range(1, months))
        return f"CASE {branches} ELSE {months - 1} END" if branches else "0"
    return "0"


_DIMENSIONS = {
    "channel": "i.channel",
    "purpose": "p.value",
    "kind": "i.kind",
    "agent": "i.agent",
}


def contact_counts(by: Sequence[str], every: str | None, months: int, shifts: int) -> Sql:
    """Contacts, unique customers, inbound and outbound per period and ``by``: local
    days and weeks with ``shifts`` offsets from UTC (see ``_local``), months between
    ``months`` bounds."""
    columns = [_DIMENSIONS[name] for name in by]
    groups = ", ".join(["period", *columns])

    def sql(dialect: str) -> str:
        join = _purposes(dialect) if "purpose" in by else ""
        selected = "".join(f"{column}, " for column in columns)
        return (
            f"SELECT {_period(every, months, shifts)} AS period, {selected}"
            "COUNT(*), COUNT(DISTINCT i.customer_id), "
            "SUM(CASE WHEN i.direction = 'inbound' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN i.direction = 'outbound' THEN 1 ELSE 0 END) "
            f"FROM interactions AS i {join} "
            f"WHERE {_IN_PERIOD} AND {_CONTACT} "
            f"GROUP BY {groups} ORDER BY {groups}"
        )

    return sql


def contact_span() -> Sql:
    """The first and last instant of any contact (NULLs when there is none)."""

    def sql(dialect: str) -> str:
        return (
            f"SELECT MIN(i.occurred_at), MAX(i.occurred_at) FROM interactions AS i WHERE {_CONTACT}"
        )

    return sql


def _ordered(per: str) -> str:
    """The contacts in the period with who they belong to (a customer or a case)."""
    who = "i.customer_id" if per == "customer" else "i.case_id"
    only_cases = " AND i.case_id IS NOT NULL" if per == "case" else ""
    return (
        f"SELECT {who} AS who, i.channel AS channel, i.occurred_at AS at, i.id AS id "
        f"FROM interactions AS i WHERE {_IN_PERIOD} AND {_CONTACT}{only_cases}"
    )


def switches(per: str) -> Sql:
    """Pairs of consecutive contacts of one customer (or case) at most ``:within``
    apart, counted by (from channel, to channel)."""

    def sql(dialect: str) -> str:
        return (
            f"WITH c AS ({_ordered(per)}), "
            "s AS (SELECT channel, at, "
            "LEAD(channel) OVER w AS next_channel, LEAD(at) OVER w AS next_at "
            "FROM c WINDOW w AS (PARTITION BY who ORDER BY at, id)) "
            "SELECT channel, next_channel, COUNT(*) FROM s "
            "WHERE next_at IS NOT NULL AND next_at - at <= :within "
            "GROUP BY channel, next_channel ORDER BY channel, next_channel"
        )

    return sql


def paths(per: str) -> Sql:
    """Journeys (contacts of one customer, or case, each at most ``:within`` after the
    one before) as their channels with repeats collapsed, counted by path; the
    ``:top`` most common with at least ``:min_steps`` steps."""

    def sql(dialect: str) -> str:
        if dialect == "postgresql":
            joined = "string_agg(channel, ',')"
        else:
            joined = "group_concat(channel, ',')"
        return (
            f"WITH c AS ({_ordered(per)}), "
            "s AS (SELECT who, channel, at, id, "
            "LAG(channel) OVER w AS prev_channel, LAG(at) OVER w AS prev_at "
            "FROM c WINDOW w AS (PARTITION BY who ORDER BY at, id)), "
            "j AS (SELECT who, channel, at, id, prev_channel, "
            "SUM(CASE WHEN prev_at IS NULL OR at - prev_at > :within THEN 1 ELSE 0 END) "
            "OVER (PARTITION BY who ORDER BY at, id ROWS UNBOUNDED PRECEDING) AS journey, "
            "CASE WHEN prev_at IS NULL OR at - prev_at > :within THEN 1 ELSE 0 END AS starts "
            "FROM s), "
            "steps AS (SELECT who, journey, channel, at, id FROM j "
            "WHERE starts = 1 OR channel <> prev_channel), "
            f"p AS (SELECT who, {joined} OVER x AS path, COUNT(*) OVER x AS size, "
            "ROW_NUMBER() OVER (PARTITION BY who, journey ORDER BY at, id) AS n "
            "FROM steps WINDOW x AS (PARTITION BY who, journey ORDER BY at, id "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) "
            "SELECT path, COUNT(*) AS journeys, COUNT(DISTINCT who) FROM p "
            "WHERE n = 1 AND size >= :min_steps "
            "GROUP BY path ORDER BY journeys DESC, path LIMIT :top"
        )

    return sql


def contact_performance() -> Sql:
    """Per channel: contacts, inbound, outbound, unique customers, outbound messages
    with a delivery status, delivered (or read), failed, and inbound contacts followed
    by another inbound contact of the customer within ``:repeat`` (looking up to
    ``:repeat`` past the period's end)."""

    def sql(dialect: str) -> str:
        return (
            "WITH n AS (SELECT i.channel AS channel, i.occurred_at AS at, "
            "LEAD(i.occurred_at) OVER (PARTITION BY i.customer_id "
            "ORDER BY i.occurred_at, i.id) AS next_at "
            "FROM interactions AS i WHERE i.occurred_at >= :start "
            "AND i.occurred_at < :end_repeat AND i.direction = 'inbound'), "
            "r AS (SELECT channel, SUM(CASE WHEN next_at - at <= :repeat THEN 1 ELSE 0 END) "
            "AS repeats FROM n WHERE at < :end GROUP BY channel), "
            # per channel and customer first, then per channel: one row per customer
            # counts the distinct customers without COUNT(DISTINCT)'s sort per group
            "g AS (SELECT i.channel AS channel, COUNT(*) AS contacts, "
            "SUM(CASE WHEN i.direction = 'inbound' THEN 1 ELSE 0 END) AS inbound, "
            "SUM(CASE WHEN i.direction = 'outbound' THEN 1 ELSE 0 END) AS outbound, "
            "SUM(CASE WHEN i.direction = 'outbound' AND i.status IS NOT NULL "
            "THEN 1 ELSE 0 END) AS tracked, "
            "SUM(CASE WHEN i.direction = 'outbound' AND i.status IN ('delivered', 'read') "
            "THEN 1 ELSE 0 END) AS delivered, "
            "SUM(CASE WHEN i.direction = 'outbound' AND i.status = 'failed' "
            "THEN 1 ELSE 0 END) AS failed "
            f"FROM interactions AS i WHERE {_IN_PERIOD} AND {_CONTACT} "
            "GROUP BY i.channel, i.customer_id), "
            "v AS (SELECT channel, SUM(contacts) AS contacts, SUM(inbound) AS inbound, "
            "SUM(outbound) AS outbound, COUNT(*) AS customers, SUM(tracked) AS tracked, "
            "SUM(delivered) AS delivered, SUM(failed) AS failed FROM g GROUP BY channel) "
            "SELECT v.channel, v.contacts, v.inbound, v.outbound, v.customers, v.tracked, "
            "v.delivered, v.failed, COALESCE(r.repeats, 0) "
            "FROM v LEFT JOIN r ON r.channel = v.channel ORDER BY v.channel"
        )

    return sql


def case_performance() -> Sql:
    """Per channel a case started on, for the cases opened in the period: how many;
    the p50 and p90 of first-response and resolution time (microseconds; nearest
    rank); cases resolved, resolved at first contact (one inbound contact, never
    reopened), reopened; cases with a service level, and those that met it.

    First response is the first outbound contact on the case after it was opened
    (business seconds where the case's SLA recorded them, ``first_response_business``
    in the ``sla`` JSON, else wall-clock); resolution runs from opening to
    ``resolved_at``.
    """

    def sql(dialect: str) -> str:
        before_status = _json_text(dialect, "e.before", "status")
        after_status = _json_text(dialect, "e.after", "status")
        business_first = _json_text(dialect, "c.sla", "first_response_business")
        business_resolution = _json_text(dialect, "c.sla", "resolution_business")
        return (
            "WITH k AS (SELECT c.id AS id, COALESCE(c.channel, '') AS channel, "
            "c.created_at AS created_at, c.resolved_at AS resolved_at, "
            "c.sla IS NOT NULL AS has_sla, "
            f"CAST({business_first} AS DOUBLE PRECISION) AS first_business, "
            f"CAST({business_resolution} AS DOUBLE PRECISION) AS resolution_business "
            "FROM cases AS c WHERE c.created_at >= :start AND c.created_at < :end), "
            "x AS (SELECT i.case_id AS case_id, "
            "MIN(CASE WHEN i.direction = 'outbound' AND i.occurred_at >= k.created_at "
            "THEN i.occurred_at END) AS first_out, "
            "SUM(CASE WHEN i.direction = 'inbound' THEN 1 ELSE 0 END) AS inbound "
            "FROM k JOIN interactions AS i ON i.case_id = k.id GROUP BY i.case_id), "
            "e AS (SELECT e.case_id AS case_id, "
            "MAX(CASE WHEN e.type = 'transitioned' "
            f"AND {before_status} IN ('resolved', 'closed') "
            f"AND {after_status} NOT IN ('resolved', 'closed') THEN 1 ELSE 0 END) "
            "AS reopened, "
            "MAX(CASE WHEN e.type = 'sla_breached' THEN 1 ELSE 0 END) AS breached "
            "FROM k JOIN case_events AS e ON e.case_id = k.id GROUP BY e.case_id), "
            "d AS (SELECT k.channel AS channel, "
            "COALESCE(k.first_business * 1000000, x.first_out - k.created_at) AS fr, "
            "COALESCE(k.resolution_business * 1000000, k.resolved_at - k.created_at) "
            "AS resolution, "
            "k.resolved_at IS NOT NULL AS resolved, "
            "COALESCE(x.inbound, 0) AS inbound, COALESCE(e.reopened, 0) AS reopened, "
            "k.has_sla AS has_sla, COALESCE(e.breached, 0) AS breached "
            "FROM k LEFT JOIN x ON x.case_id = k.id LEFT JOIN e ON e.case_id = k.id), "
            "f AS (SELECT channel, fr, "
            "ROW_NUMBER() OVER (PARTITION BY channel ORDER BY fr) AS rk, "
            "COUNT(*) OVER (PARTITION BY channel) AS total FROM d WHERE fr IS NOT NULL), "
            "fp AS (SELECT channel, "
            "MIN(CASE WHEN rk >= 0.5 * total THEN fr END) AS p50, "
            "MIN(CASE WHEN rk >= 0.9 * total THEN fr END) AS p90 "
            "FROM f GROUP BY channel), "
            "s AS (SELECT channel, resolution, "
            "ROW_NUMBER() OVER (PARTITION BY channel ORDER BY resolution) AS rk, "
            "COUNT(*) OVER (PARTITION BY channel) AS total FROM d "
            "WHERE resolution IS NOT NULL), "
            "sp AS (SELECT channel, "
            "MIN(CASE WHEN rk >= 0.5 * total THEN resolution END) AS p50, "
            "MIN(CASE WHEN rk >= 0.9 * total THEN resolution END) AS p90 "
            "FROM s GROUP BY channel), "
            "t AS (SELECT channel, COUNT(*) AS cases, "
            "SUM(CASE WHEN resolved THEN 1 ELSE 0 END) AS resolved, "
            "SUM(CASE WHEN resolved AND inbound <= 1 AND reopened = 0 THEN 1 ELSE 0 END) "
            "AS first_contact, "
            "SUM(reopened) AS reopened, "
            "SUM(CASE WHEN has_sla THEN 1 ELSE 0 END) AS with_sla, "
            "SUM(CASE WHEN has_sla AND breached = 0 THEN 1 ELSE 0 END) AS met "
            "FROM d GROUP BY channel) "
            "SELECT t.channel, t.cases, fp.p50, fp.p90, sp.p50, sp.p90, t.resolved, "
            "t.first_contact, t.reopened, t.with_sla, t.met "
            "FROM t LEFT JOIN fp ON fp.channel = t.channel "
            "LEFT JOIN sp ON sp.channel = t.channel ORDER BY t.channel"
        )

    return sql
