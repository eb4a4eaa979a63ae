"""A course repository's own ormgrade settings: ``ormgrade.toml`` or ``[tool.ormgrade]``.

GitHub Classroom's command grader runs each grading command with a bare
environment, so a course that grades on a database server names it in a file
of the repository instead of an environment variable::

    # ormgrade.toml
    db = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

    # or, in pyproject.toml
    [tool.ormgrade]
    db = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

The same file may name the broker that ``grade-all`` sends tasks to when
the class is graded on Celery workers (``broker = "redis://host:6379/0"``).

The file is read from the course repository (the catalog's root): the
nearest folder, from there upwards, that holds ``ormgrade.toml``,
``pyproject.toml`` or ``.git`` is the repository, and ``ormgrade.toml`` wins
over ``pyproject.toml`` there. Where a setting comes from several places,
the command line wins, then the pytest option or ini key, then this file;
without any, grading uses SQLite.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import UsageError

#: ormgrade's own settings file; its top-level keys are the settings.
CONFIG_FILE = "ormgrade.toml"
#: The packaging file whose ``[tool.ormgrade]`` table holds the settings.
PYPROJECT = "pyproject.toml"
#: A folder holding one of these is a repository's root: the search stops there.
ROOT_MARKERS = (CONFIG_FILE, PYPROJECT, ".git")

BAD_TOML = "{path}: not valid TOML: {error}"
BAD_DB = "{where}: db = {value!r} is not a database URL: {error}"
DB_NOT_TEXT = "{where}: db must be a string (a SQLAlchemy URL), not {kind}"
BAD_BROKER = (
    "{where}: broker = {value!r} is not a broker URL "
    "(redis://host:6379/0 or amqp://user:password@host:5672/vhost)"
)
#: The URL schemes a broker setting may use.
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


@dataclass(frozen=True)
class ProjectConfig:
    """The settings a course repository's config file holds.

    Attributes:
        path: The file they were read from; None when there is none.
        db: The database URL to grade on; None for the default (SQLite).
        broker: The Celery broker URL ``grade-all`` sends tasks to; None: grade locally.
    """

    path: Path | None = None
    db: str | None = None
    broker: str | None = None

    @property
    def where(self) -> str:
        """Where the settings come from, for messages."""
        if self.path is None:
            return "no config file"
        return str(self.path) + (" [tool.ormgrade]" if self.path.name == PYPROJECT else "")


def repository_root(start: Path) -> Path | None:
    """The nearest folder from ``start`` upwards that holds a root marker."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def read_config(start: Path) -> ProjectConfig:
    """The settings of the repository holding ``start``.

    Raises:
        UsageError: The file is not valid TOML or a setting has a bad value;
            the message names the file.
    """
    root = repository_root(start)
    if root is None:
        return ProjectConfig()
    for name in (CONFIG_FILE, PYPROJECT):
        path = root / name
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(BAD_TOML.format(path=path, error=exc)) from None
        table = data if name == CONFIG_FILE else data.get("tool", {}).get("ormgrade")
        if isinstance(table, Mapping):
            return _parse(table, path)
    return ProjectConfig()


def _parse(table: Mapping[str, Any], path: Path) -> ProjectConfig:
    config = ProjectConfig(path=path)
    db = table.get("db")
    if db is not None:
        if not isinstance(db, str):
            raise UsageError(DB_NOT_TEXT.format(where=config.where, kind=type(db).__name__))
        # Imported here: a command that only lists exercises must not pay for SQLAlchemy.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(db)
        except ArgumentError as exc:
            raise UsageError(BAD_DB.format(where=config.where, value=db, error=exc)) from None
    broker = table.get("broker")
    if broker is not None and not (
        isinstance(broker, str) and broker.split("://", 1)[0].lower() in BROKER_SCHEMES
    ):
        raise UsageError(BAD_BROKER.format(where=config.where, value=broker))
    return ProjectConfig(path=path, db=db, broker=broker)


def resolve_db_url(given: str | None, repository: Path) -> str | None:
    """The database URL to grade on.

    Args:
        given: The URL from the command line, or the pytest option or ini key;
            it wins when set.
        repository: A folder of the course repository (the catalog's root),
            whose config file is read when ``given`` is empty.

    Returns:
        The URL, or None for the default SQLite.

    Raises:
        UsageError: The config file is unreadable or its ``db`` is malformed.
    """
    if given:
        return given
    return read_config(repository).db


def resolve_broker_url(given: str | None, repository: Path) -> str | None:
    """The Celery broker URL grade-all sends tasks to (None: grade on this machine).

    Args:
        given: The URL from the command line; it wins when set.
        repository: A folder of the course repository, whose config file is
            read when ``given`` is empty.

    Raises:
        UsageError: The config file is unreadable or its ``broker`` is malformed.
    """
    if given:
        return given
    return read_config(repository).broker
