"""The database schema at start: Alembic's migrations (training_api/migrations/), applied
by every process that opens the database, idempotent and safe when several start at once.

The migrations are serialised: on PostgreSQL by an advisory lock held in the migrating
transaction (PostgreSQL's DDL is transactional, so the second process finds the schema at
head), on SQLite by a file lock beside the database (SQLite lives on one host). A database
made before the migrations existed (by `create_all`, with the same tables as 0001) is
stamped at 0001 rather than created again.
"""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
"""The revision whose tables the databases made before the migrations already have."""

ADVISORY_LOCK_KEY = 0x7461_676C_6F6F_70
"""PostgreSQL advisory lock key of the migrations ('tagloop' in hex)."""

_migrated: set[str] = set()
"""Database URLs already at head in this process (a worker opens the database per job)."""


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest revision; a no-op when it is there already."""
    key = engine.url.render_as_string(hide_password=False)
    if key in _migrated:
        return
    with _serialised(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        config = alembic_config(connection)
        if _made_before_migrations(connection):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    _migrated.add(key)


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "corrections" in tables and "alembic_version" not in tables


@contextmanager
def _serialised(engine: Engine) -> Iterator[None]:
    """A file lock beside a SQLite database; nothing for a server database (advisory lock)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(Path(f"{database}.migrate.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
