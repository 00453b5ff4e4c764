"""Alembic environment for omnikit's store: runs on the connection the store hands it."""

from __future__ import annotations

from alembic import context

from omnikit.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "omnikit migrations run through omnikit.store.migrate.upgrade(), which passes "
        "the connection; there is no alembic.ini to run them from"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
