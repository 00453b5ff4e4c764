"""Routing and service levels: agents, queues, work in hand, waiting contacts; case
channel, purpose, follow-ups, resolution time and SLA due times.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(36)
NAME = sa.String(128)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("channel", sa.String(32)))
        batch.add_column(sa.Column("purpose", sa.Text()))
        batch.add_column(sa.Column("follows", ID))
        batch.add_column(sa.Column("resolved_at", sa.BigInteger()))
        batch.add_column(sa.Column("sla", sa.Text()))
        batch.add_column(sa.Column("sla_due", sa.BigInteger()))
        batch.create_foreign_key("fk_cases_follows_cases", "cases", ["follows"], ["id"])
        batch.create_index("ix_cases_sla_due", ["sla_due"])
    for table in ("agents", "queues"):
        op.create_table(
            table,
            sa.Column("id", NAME, nullable=False),
            sa.Column("settings", sa.Text(), nullable=False),
            sa.Column("revision", ID, nullable=False),
            *(
                [sa.Column("routed_seq", sa.BigInteger(), nullable=False)]
                if table == "agents"
                else [sa.Column("position", sa.Integer(), nullable=False)]
            ),
            sa.Column("updated_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        )
    op.create_table(
        "routing_work",
        sa.Column("id", ID, nullable=False),
        sa.Column("agent_id", NAME, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("case_id", ID),
        sa.Column("interaction_id", ID),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_routing_work"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_routing_work_agent_id_agents"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_routing_work_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_routing_work_interaction_id_interactions",
        ),
        sa.UniqueConstraint("case_id", name="uq_routing_work_case_id"),
        sa.UniqueConstraint("interaction_id", name="uq_routing_work_interaction_id"),
    )
    op.create_index("ix_routing_work_agent_id_channel", "routing_work", ["agent_id", "channel"])
    op.create_table(
        "queue_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("queue_id", NAME, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("case_id", ID),
        sa.Column("interaction_id", ID),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("enqueued_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_queue_entries"),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name="fk_queue_entries_queue_id_queues"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_queue_entries_case_id_cases"),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name="fk_queue_entries_interaction_id_interactions",
        ),
        sa.UniqueConstraint("case_id", name="uq_queue_entries_case_id"),
        sa.UniqueConstraint("interaction_id", name="uq_queue_entries_interaction_id"),
    )
    op.create_index(
        "ix_queue_entries_queue_id_rank_enqueued_at",
        "queue_entries",
        ["queue_id", "rank", "enqueued_at"],
    )


def downgrade() -> None:
    op.drop_table("queue_entries")
    op.drop_table("routing_work")
    op.drop_table("queues")
    op.drop_table("agents")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_sla_due")
        batch.drop_constraint("fk_cases_follows_cases", type_="foreignkey")
        for column in ("sla_due", "sla", "resolved_at", "follows", "purpose", "channel"):
            batch.drop_column(column)
