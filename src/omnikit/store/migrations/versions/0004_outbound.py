"""Outbound: preferences, consent history, the durable outbox, webhook subscriptions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "preferences",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_preferences"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_preferences_customer_id_customers"
        ),
    )
    op.create_table(
        "consents",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_consents"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_consents_customer_id_customers"
        ),
    )
    op.create_index(
        "ix_consents_customer_id_purpose_at", "consents", ["customer_id", "purpose", "at"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("adapter", sa.String(64)),
        sa.Column("customer_id", ID),
        sa.Column("interaction_id", ID),
        sa.Column("notification_id", ID),
        sa.Column("purpose", sa.String(64)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fallback", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parts_sent", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_until", sa.BigInteger()),
        sa.Column("claim_token", ID),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", sa.BigInteger()),
        sa.Column("external_id", sa.String(256)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_outbox_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_outbox_interaction_id_interactions",
        ),
    )
    op.create_index("ix_outbox_status_due_at", "outbox", ["status", "due_at"])
    op.create_index(
        "ix_outbox_caps",
        "outbox",
        ["customer_id", "purpose", "created_at", "status", "channel", "notification_id"],
    )
    op.create_index("ix_outbox_interaction_id", "outbox", ["interaction_id"])
    op.create_table(
        "subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    op.drop_table("outbox")
    op.drop_table("consents")
    op.drop_table("preferences")
