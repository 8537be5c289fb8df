"""Alembic's environment. At start, training_api.db.migrate hands over its connection; from
the command line (`alembic revision --autogenerate`, see docs/SCALING.md) the connection is
made from TAGLOOP_DATABASE_URL, as the services would.

One set of migrations for SQLite and PostgreSQL: batch mode lets SQLite alter tables (it
copies them) and changes nothing for PostgreSQL.
"""

from alembic import context
from training_api.db import Base, make_engine


def run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if "connection" in context.config.attributes:
    run(context.config.attributes["connection"])
else:
    from training_api.config import Settings

    engine = make_engine(Settings().sqlalchemy_url(), migrated=False)
    with engine.begin() as cli_connection:
        run(cli_connection)
    engine.dispose()
