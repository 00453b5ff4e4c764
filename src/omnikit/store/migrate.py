"""Schema versions: the store upgrades its schema when it is opened.

The migrations are Alembic scripts shipped inside the package
(``omnikit/store/migrations``), run on the store's own connection. Opening a store
whose schema is already current costs one query; Alembic is imported only when there
is something to do. A schema newer than this omnikit is refused, never downgraded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from omnikit.errors import StoreError
from omnikit.store.schema import VERSION_TABLE

__all__ = ["HEAD", "current_revision", "upgrade"]

HEAD = "0005"
"""The newest schema revision this omnikit knows (a test checks it against Alembic)."""


def current_revision(connection: Connection) -> str | None:
    """The schema revision of the store on ``connection``; ``None`` for an empty store."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).fetchone()
    return None if row is None else str(row[0])


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` for omnikit's migrations, bound to ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "omnikit.store:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = HEAD) -> None:
    """Bring the store's schema to ``revision`` (default: the newest), in one transaction.

    Raises ``StoreError`` when the store's schema is newer than this omnikit knows.
    """
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # SQLite changes a table by rebuilding it; with foreign keys enforced the
                # rebuild of a referenced table fails. The pragma only takes effect outside
                # a transaction, so it is set on the driver connection before BEGIN, and
                # the keys are checked before the upgrade commits.
                _driver(connection).execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    _upgrade(connection, revision)
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
                        if broken is not None:
                            raise StoreError(
                                f"the schema upgrade would break a foreign key in {broken[0]!r}"
                            )
            finally:
                if sqlite:
                    _driver(connection).execute("PRAGMA foreign_keys=ON")
    except DBAPIError as error:
        raise StoreError(f"cannot upgrade the store's schema: {error.orig}") from None
    except SQLAlchemyError as error:
        raise StoreError(f"cannot upgrade the store's schema: {error}") from None


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _upgrade(connection: Connection, revision: str) -> None:
    current = current_revision(connection)
    if current == revision:
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(connection)
    scripts = ScriptDirectory.from_config(config)
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise StoreError(
            f"the store's schema revision {current!r} is newer than this omnikit "
            f"(which knows up to {HEAD!r}); upgrade omnikit"
        )
    command.upgrade(config, revision)
