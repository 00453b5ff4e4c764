"""Recognition: shared identities, merges, erasure and the customer audit trail.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(36)


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("merged_into", ID))
        batch.add_column(sa.Column("erased_at", sa.BigInteger()))
        batch.create_foreign_key(
            "fk_customers_merged_into_customers", "customers", ["merged_into"], ["id"]
        )
        batch.create_index("ix_customers_merged_into", ["merged_into"])
    with op.batch_alter_table("identities") as batch:
        batch.add_column(
            sa.Column("shared", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.drop_constraint("uq_identities_kind_scope_value", type_="unique")
        batch.create_unique_constraint(
            "uq_identities_kind_scope_value_customer_id",
            ["kind", "scope", "value", "customer_id"],
        )
    op.create_index(
        "uq_identities_kind_scope_value_unshared",
        "identities",
        ["kind", "scope", "value"],
        unique=True,
        sqlite_where=sa.text("NOT shared"),
        postgresql_where=sa.text("NOT shared"),
    )
    op.create_table(
        "merges",
        sa.Column("id", ID, nullable=False),
        sa.Column("keep_id", ID, nullable=False),
        sa.Column("other_id", ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("moved", sa.Text(), nullable=False),
        sa.Column("undone_at", sa.BigInteger()),
        sa.Column("undone_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_merges"),
        sa.ForeignKeyConstraint(["keep_id"], ["customers.id"], name="fk_merges_keep_id_customers"),
        sa.ForeignKeyConstraint(
            ["other_id"], ["customers.id"], name="fk_merges_other_id_customers"
        ),
    )
    op.create_index("ix_merges_keep_id", "merges", ["keep_id"])
    op.create_index("ix_merges_other_id", "merges", ["other_id"])
    op.create_table(
        "customer_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128)),
        sa.Column("reason", sa.Text()),
        sa.Column("detail", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_customer_events"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_customer_events_customer_id_customers"
        ),
    )
    op.create_index("ix_customer_events_customer_id_at", "customer_events", ["customer_id", "at"])


def downgrade() -> None:
    op.drop_table("customer_events")
    op.drop_table("merges")
    op.drop_index("uq_identities_kind_scope_value_unshared", table_name="identities")
    with op.batch_alter_table("identities") as batch:
        batch.drop_constraint("uq_identities_kind_scope_value_customer_id", type_="unique")
        batch.create_unique_constraint("uq_identities_kind_scope_value", ["kind", "scope", "value"])
        batch.drop_column("shared")
    with op.batch_alter_table("customers") as batch:
        batch.drop_index("ix_customers_merged_into")
        batch.drop_constraint("fk_customers_merged_into_customers", type_="foreignkey")
        batch.drop_column("erased_at")
        batch.drop_column("merged_into")
