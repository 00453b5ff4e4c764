"""Analytics: the index of a customer's interactions in time order covers direction and
channel, so that the analytics queries read contacts in that order from the index
alone, without sorting them or visiting the table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_interactions_customer_id_occurred_at_id_direction_channel",
        "interactions",
        ["customer_id", "occurred_at", "id", "direction", "channel"],
    )
    op.drop_index("ix_interactions_customer_id_occurred_at_id", table_name="interactions")


def downgrade() -> None:
    op.create_index(
        "ix_interactions_customer_id_occurred_at_id",
        "interactions",
        ["customer_id", "occurred_at", "id"],
    )
    op.drop_index(
        "ix_interactions_customer_id_occurred_at_id_direction_channel", table_name="interactions"
    )
