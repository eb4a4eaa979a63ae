"""Databases to grade on: a seeded template per (size, seed), a copy per run.

`backend_for(url)` picks the backend of a SQLAlchemy URL. The SQLite backend
(the default) keeps templates as files in a cache folder and copies them per
run; server backends create a database per run from a template and drop it
afterwards. Every run gets its own copy: what one run does to its database
never reaches another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from grader.databases.connect import make_engine
from grader.databases.sqlite import SQLiteBackend
from grader.databases.template import Backend
from grader.errors import UsageError


def backend_for(url: str | None, work_dir: Path | None = None) -> Backend:
    """The backend for a SQLAlchemy URL (None or ``sqlite`` for the default).

    Raises:
        UsageError: The URL cannot be parsed or names an unsupported database.
    """
    if url is None or url in ("sqlite", "sqlite://"):
        return SQLiteBackend(work_dir=work_dir)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"--db {url!r} is not a database URL: {exc}") from None
    name = parsed.get_backend_name()
    if name == "sqlite":
        folder = Path(parsed.database).parent if parsed.database else None
        return SQLiteBackend(work_dir=work_dir or folder)
    server = _server_backend(name)
    if server is None:
        raise UsageError(
            f"--db {url!r}: unsupported database {name!r} "
            "(use sqlite, postgresql+psycopg://… or mysql+pymysql://…)"
        )
    return server(url)


def _server_backend(name: str) -> Callable[[str], Backend] | None:
    """The server backend of the SQLAlchemy backend ``name`` (MariaDB answers to "mysql" too)."""
    try:
        from grader.databases.mysql import MySQLBackend
        from grader.databases.postgresql import PostgreSQLBackend
    except ImportError:
        return None
    backends: dict[str, Callable[[str], Backend]] = {
        "postgresql": PostgreSQLBackend,
        "mysql": MySQLBackend,
        "mariadb": MySQLBackend,
    }
    return backends.get(name)


@contextmanager
def internal_engine(url: str) -> Iterator[Engine]:
    """An engine for the grader's own statements (never captured)."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
