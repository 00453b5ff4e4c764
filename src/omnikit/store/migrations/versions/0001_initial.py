"""The first schema: customers, identities, interactions, cases and their events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text()),
        sa.Column("language", sa.String(35)),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "identities",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", sa.String(64)),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("undeliverable_reason", sa.Text()),
        sa.Column("undeliverable_at", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_identities_customer_id_customers"
        ),
        sa.UniqueConstraint("kind", "scope", "value", name="uq_identities_kind_scope_value"),
    )
    op.create_index("ix_identities_customer_id", "identities", ["customer_id"])
    op.create_table(
        "cases",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128)),
        sa.Column("queue", sa.String(128)),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_cases_customer_id_customers"
        ),
    )
    op.create_index("ix_cases_customer_id_status", "cases", ["customer_id", "status"])
    op.create_index("ix_cases_status_assignee", "cases", ["status", "assignee"])
    op.create_table(
        "interactions",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text()),
        sa.Column("subject", sa.Text()),
        sa.Column("attachments", sa.Text()),
        sa.Column("external_id", sa.String(256)),
        sa.Column("case_id", ID),
        sa.Column("agent", sa.String(128)),
        sa.Column("purpose", sa.Text()),
        sa.Column("status", sa.String(16)),
        sa.Column("metadata", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_interactions"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_interactions_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_interactions_case_id_cases"),
        sa.UniqueConstraint("channel", "external_id", name="uq_interactions_channel_external_id"),
    )
    op.create_index(
        "ix_interactions_customer_id_occurred_at_id",
        "interactions",
        ["customer_id", "occurred_at", "id"],
    )
    op.create_index(
        "ix_interactions_customer_id_channel_occurred_at",
        "interactions",
        ["customer_id", "channel", "occurred_at"],
    )
    op.create_index("ix_interactions_case_id", "interactions", ["case_id"])
    op.create_table(
        "case_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("before", sa.Text()),
        sa.Column("after", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_case_events"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_events_case_id_cases"),
    )
    op.create_index("ix_case_events_case_id_at", "case_events", ["case_id", "at"])


def downgrade() -> None:
    for table in ("case_events", "interactions", "cases", "identities", "customers"):
        op.drop_table(table)
