"""The Alembic environment of this exercise.

Run by hand (``alembic upgrade head`` in the exercise folder), it works on the
``sqlalchemy.url`` of ``alembic.ini``, or on ``-x url=...``, and compares the
database with the models of ``models.py``. The grader hands it an open
connection and the models' metadata in ``config.attributes`` instead.

SQLite cannot alter or drop most things in place, so on SQLite every
operation runs in batch mode (Alembic copies the table); PostgreSQL and
MySQL/MariaDB alter in place. The same revision runs on all three.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import Connection

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def target_metadata() -> MetaData:
    """The models' metadata: what ``--autogenerate`` compares the database with."""
    given = config.attributes.get("target_metadata")
    if given is not None:
        return given
    from models import Base  # models.py of this folder (prepend_sys_path = .)

    return Base.metadata


def database_url() -> str:
    """``-x url=...`` when given, else ``sqlalchemy.url`` of alembic.ini."""
    given = context.get_x_argument(as_dictionary=True).get("url")
    return given or config.get_main_option("sqlalchemy.url") or "sqlite:///exercise.db"


def run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection``, in batch mode on SQLite."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the grader's connection, or on one of our own."""
    given = config.attributes.get("connection")
    if given is not None:
        run_migrations(given)
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
