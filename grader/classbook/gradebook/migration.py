"""Upgrade a gradebook's schema in place with the Alembic migrations shipped here.

The migrations live in ``grader/classbook/gradebook/migrations`` (their own Alembic
environment, no ``alembic.ini`` needed) and record their revision in the
``gradebook_alembic_version`` table. Opening a gradebook upgrades it to the
head revision; revisions only ever add to the schema, so no grade is lost.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from grader.errors import OrmgradeError

#: The folder of the gradebook's Alembic environment.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: The table that records a gradebook's revision; not Alembic's default name, so a
#: gradebook can share a database with an application that has its own migrations.
VERSION_TABLE = "gradebook_alembic_version"


UNKNOWN_REVISION = (
    "the gradebook is at revision {revision!r}, which this ormgrade does not know "
    "(written by a newer version?); upgrade ormgrade"
)


class GradebookError(OrmgradeError):
    """A gradebook cannot be opened or migrated."""


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration for the gradebook migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        config.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def head_revision() -> str:
    """The newest revision the migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the gradebook behind ``engine`` is at (None when it has no schema)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the gradebook behind ``engine`` to ``revision``.

    The steps run in one transaction where the database runs DDL in
    transactions (PostgreSQL); elsewhere each statement commits on its own.

    Raises:
        GradebookError: The gradebook is at a revision these migrations do not
            know (written by a newer ormgrade) or a migration failed.
    """
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    found = current_revision(engine)
    if found is not None and found not in known:
        raise GradebookError(UNKNOWN_REVISION.format(revision=found))
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except Exception as exc:
        raise GradebookError(f"cannot migrate the gradebook to {revision}: {exc}") from exc
