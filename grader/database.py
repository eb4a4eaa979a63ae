"""Databases to grade on: a seeded template per (size, seed), a copy per run.

`backend_for(url)` picks the backend of a SQLAlchemy URL. The SQLite backend
(the default) keeps templates as files in a cache folder and copies them per
run; server backends create a database per run from a template and drop it
afterwards. Every run gets its own copy: what one run does to its database
never reaches another.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from grader import dataset
from grader.dataset import DatasetSize
from grader.domain import Base
from grader.errors import UsageError


@dataclass(frozen=True)
class Template:
    """A seeded database that per-run copies are made from.

    Attributes:
        size: The dataset size it holds.
        seed: The seed it was generated with.
        location: Backend-specific: a file path or a database name.
        url: A URL that reads the template itself (for the grader only).
    """

    size: DatasetSize
    seed: int
    location: str
    url: str


class Backend(Protocol):
    """Makes seeded templates and per-run copies on one kind of database."""

    dialect: str

    def template(self, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> Template:
        """The template for (size, seed), built on first use."""
        ...

    def copy(self, template: Template) -> str:
        """A fresh copy of ``template``; returns its URL."""
        ...

    def empty(self) -> str:
        """A fresh, empty database of the run's own (dropped with `drop`); returns its URL."""
        ...

    def drop(self, url: str) -> None:
        """Remove a copy made by `copy`; never raises for one already gone."""
        ...

    def close(self) -> None:
        """Release everything this backend made that is not cached for later runs."""
        ...


def default_cache_dir() -> Path:
    """Where seeded SQLite templates are kept between runs."""
    base = os.environ.get("ORMGRADE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ormgrade"
    )
    return Path(base)


@dataclass
class SQLiteBackend:
    """Templates are SQLite files in a cache folder; a copy is a file copy.

    Attributes:
        cache_dir: Where templates are kept (built once per size and seed).
        work_dir: Where per-run copies go; removed by `close` when we made it.
    """

    cache_dir: Path = field(default_factory=default_cache_dir)
    work_dir: Path | None = None
    dialect: str = "sqlite"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _own_work_dir: bool = False

    def __post_init__(self) -> None:
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="ormgrade-db-"))
            self._own_work_dir = True

    def template(self, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> Template:
        # Keyed by the schema as it is now, also when it is the domain's own.
        suffix = f"-{_metadata_key(metadata if metadata is not None else Base.metadata)}"
        path = self.cache_dir / (
            f"{size.key}-s{seed}{suffix}-v{SCHEMA_REVISION}-d{dataset.DATASET_VERSION}.sqlite"
        )
        with self._lock:
            if not path.exists():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".sqlite", dir=self.cache_dir)
                os.close(fd)
                try:
                    engine = create_engine(f"sqlite:///{tmp}")
                    try:
                        dataset.build(engine, size, seed, metadata)
                        with engine.connect() as conn:
                            conn.exec_driver_sql("ANALYZE")
                    finally:
                        engine.dispose()
                    os.replace(tmp, path)  # atomic: concurrent builders agree
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
        return Template(size, seed, str(path), f"sqlite:///{path}")

    def copy(self, template: Template) -> str:
        assert self.work_dir is not None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        target = self.work_dir / f"run-{uuid.uuid4().hex}.sqlite"
        shutil.copyfile(template.location, target)
        return f"sqlite:///{target}"

    def empty(self) -> str:
        assert self.work_dir is not None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.work_dir / f'run-{uuid.uuid4().hex}.sqlite'}"

    def drop(self, url: str) -> None:
        database = make_url(url).database
        if database:
            for name in (database, database + "-journal", database + "-wal", database + "-shm"):
                Path(name).unlink(missing_ok=True)

    def close(self) -> None:
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)


#: Bump when the domain models or the generator change, to invalidate cached templates.
SCHEMA_REVISION = 1


def _metadata_key(metadata: MetaData) -> str:
    import hashlib

    # Types, keys and constraints too: a migration exercise's starter schema may
    # differ from the domain's only in a column type.
    described = sorted(
        (
            t.name,
            tuple(sorted((c.name, repr(c.type), c.nullable, c.primary_key) for c in t.columns)),
            tuple(sorted(i.name or "" for i in t.indexes)),
            tuple(sorted(f"{fk.parent.name}->{fk.target_fullname}" for fk in t.foreign_keys)),
            tuple(sorted(type(c).__name__ + ":" + str(c.name or "") for c in t.constraints)),
        )
        for t in metadata.tables.values()
    )
    return hashlib.sha1(repr(described).encode()).hexdigest()[:10]


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
    try:
        from grader import server_database
    except ImportError:
        return None
    return server_database.BACKENDS.get(name)


@contextmanager
def internal_engine(url: str) -> Iterator[Engine]:
    """An engine for the grader's own statements (never captured)."""
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
