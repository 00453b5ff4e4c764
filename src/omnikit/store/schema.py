"""The SQL schema, in SQLAlchemy Core: one definition for every backend.

Instants are integer microseconds since the Unix epoch (UTC): they sort, compare and
index alike on SQLite and PostgreSQL. JSON values are stored as text. The unique keys
are the guards recognition and idempotency rely on:

- ``identities (kind, scope, value)``: one identity value belongs to one customer;
- ``interactions (channel, external_id)``: a provider's id is recorded once.

The Alembic migrations under ``omnikit/store/migrations`` build exactly this schema;
a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

__all__ = [
    "VERSION_TABLE",
    "agents",
    "case_events",
    "cases",
    "consents",
    "customer_events",
    "customers",
    "identities",
    "interactions",
    "merges",
    "outbox",
    "preferences",
    "queue_entries",
    "queues",
    "routing_work",
    "subscriptions",
]

VERSION_TABLE = "omnikit_version"
"""Alembic's version table, named so that it cannot clash with an application's own."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

customers = Table(
    "customers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text),
    Column("language", String(35)),
    Column("attributes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("merged_into", ID, ForeignKey("customers.id")),
    Column("erased_at", BigInteger),
    Index(None, "merged_into"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("source", String(64)),
    Column("verified", Boolean, nullable=False),
    Column("first_seen_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("undeliverable_reason", Text),
    Column("undeliverable_at", BigInteger),
    Column("shared", Boolean, nullable=False, server_default=false()),
    # One customer per value, unless the value is shared (a switchboard, a family line).
    Index(
        "uq_identities_kind_scope_value_unshared",
        "kind",
        "scope",
        "value",
        unique=True,
        sqlite_where=text("NOT shared"),
        postgresql_where=text("NOT shared"),
    ),
    UniqueConstraint("kind", "scope", "value", "customer_id"),
    Index(None, "customer_id"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("assignee", String(128)),
    Column("queue", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("channel", String(32)),
    Column("purpose", Text),
    Column("follows", ID, ForeignKey("cases.id")),
    Column("resolved_at", BigInteger),
    Column("sla", Text),
    Column("sla_due", BigInteger),
    Index(None, "customer_id", "status"),
    Index(None, "status", "assignee"),
    Index(None, "sla_due"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("text", Text),
    Column("subject", Text),
    Column("attachments", Text),
    Column("external_id", String(256)),
    Column("case_id", ID, ForeignKey("cases.id")),
    Column("agent", String(128)),
    Column("purpose", Text),
    Column("status", String(16)),
    Column("metadata", Text),
    UniqueConstraint("channel", "external_id"),
    Index(None, "customer_id", "occurred_at", "id", "direction", "channel"),
    Index(None, "customer_id", "channel", "occurred_at"),
    Index(None, "case_id"),
)

merges = Table(
    "merges",
    metadata,
    Column("id", ID, primary_key=True),
    Column("keep_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("other_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128)),
    Column("reason", Text, nullable=False),
    Column("moved", Text, nullable=False),
    Column("undone_at", BigInteger),
    Column("undone_by", String(128)),
    Index(None, "keep_id"),
    Index(None, "other_id"),
)

customer_events = Table(
    "customer_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("actor", String(128)),
    Column("reason", Text),
    Column("detail", Text),
    Index(None, "customer_id", "at"),
)

case_events = Table(
    "case_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("case_id", ID, ForeignKey("cases.id"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("actor", String(128)),
    Column("before", Text),
    Column("after", Text),
    Column("note", Text),
    Index(None, "case_id", "at"),
)

# routing -------------------------------------------------------------------------------
# Agents and queues keep their settings as JSON; ``revision`` changes with every write so
# that a process can cache the parsed settings and re-read only what changed.

AGENT_ID = String(128)

agents = Table(
    "agents",
    metadata,
    Column("id", AGENT_ID, primary_key=True),
    Column("settings", Text, nullable=False),
    Column("revision", ID, nullable=False),
    Column("routed_seq", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

queues = Table(
    "queues",
    metadata,
    Column("id", AGENT_ID, primary_key=True),
    Column("settings", Text, nullable=False),
    Column("revision", ID, nullable=False),
    Column("position", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# One row per contact an agent is handling now: what counts against their capacity.
routing_work = Table(
    "routing_work",
    metadata,
    Column("id", ID, primary_key=True),
    Column("agent_id", AGENT_ID, ForeignKey("agents.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("case_id", ID, ForeignKey("cases.id"), unique=True),
    Column("interaction_id", ID, ForeignKey("interactions.id"), unique=True),
    Column("started_at", BigInteger, nullable=False),
    Index(None, "agent_id", "channel"),
)

# Contacts waiting in a queue: higher rank first, then first come, first served.
queue_entries = Table(
    "queue_entries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("queue_id", AGENT_ID, ForeignKey("queues.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("case_id", ID, ForeignKey("cases.id"), unique=True),
    Column("interaction_id", ID, ForeignKey("interactions.id"), unique=True),
    Column("rank", Integer, nullable=False),
    Column("enqueued_at", BigInteger, nullable=False),
    Index(None, "queue_id", "rank", "enqueued_at"),
)

# outbound ------------------------------------------------------------------------------

# One row per customer who set preferences: the Preferences model as JSON.
preferences = Table(
    "preferences",
    metadata,
    Column("customer_id", ID, ForeignKey("customers.id"), primary_key=True),
    Column("settings", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Consent is history, never overwritten: the newest record for a purpose and channel
# (or "*", every channel) is in force.
consents = Table(
    "consents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("actor", String(128)),
    Column("note", Text),
    Index(None, "customer_id", "purpose", "at"),
)

# The durable outbox: written in the same transaction as the outbound interaction (or
# the change an event reports), claimed by workers with a lease, kept once sent so that
# frequency caps can count it.
outbox = Table(
    "outbox",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("channel", String(32)),
    Column("adapter", String(64)),
    Column("customer_id", ID, ForeignKey("customers.id")),
    Column("interaction_id", ID, ForeignKey("interactions.id")),
    Column("notification_id", ID),
    Column("purpose", String(64)),
    Column("payload", Text, nullable=False),
    Column("fallback", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parts_sent", Integer, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("lease_until", BigInteger),
    Column("claim_token", ID),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger),
    Column("external_id", String(256)),
    Column("last_error", Text),
    Index(None, "status", "due_at"),
    # Frequency caps count a customer's messages of a purpose from this index alone
    # (covering: status, channel and notification are in it), not from the rows.
    Index(
        "ix_outbox_caps",
        "customer_id",
        "purpose",
        "created_at",
        "status",
        "channel",
        "notification_id",
    ),
    Index(None, "interaction_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
