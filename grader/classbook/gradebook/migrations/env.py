"""Alembic environment of the gradebook.

Run by `grader.classbook.gradebook.migration` with a live connection in
``config.attributes["connection"]``; given only ``sqlalchemy.url`` it opens
its own (online) or writes SQL (offline).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

from grader.classbook.gradebook.migration import VERSION_TABLE
from grader.classbook.gradebook.model import GradebookBase

config = context.config


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=GradebookBase.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Write the migration SQL for ``sqlalchemy.url`` instead of running it."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate the given connection, or one opened on ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "the gradebook migrations need a connection or sqlalchemy.url"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
