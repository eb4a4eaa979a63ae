"""Databases to grade on: a seeded template per (size, seed), a copy per run.

`backend_for(url)` picks the backend of a SQLAlchemy URL. The SQLite backend
(the default) keeps templates as files in a cache folder and copies them per
run; server backends create a database per run from a template and drop it
afterwards. Every run gets its own copy: what one run does to its database
never reaches another.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
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
from grader.errors import DatabaseError, UsageError


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


#: Default size cap of the SQLite template cache, in MiB (``ORMGRADE_CACHE_MAX_MB``).
DEFAULT_CACHE_MAX_MB = 1024
CACHE_MAX_ENV = "ORMGRADE_CACHE_MAX_MB"
#: The note in the results when a cached template failed its checksum and was rebuilt.
TEMPLATE_REBUILT = (
    "a cached dataset template was damaged (its checksum did not match) and was rebuilt"
)
TEMPLATE_SUFFIX = ".sqlite"
CHECKSUM_SUFFIX = ".sha256"
PIN_MARK = ".pin-"
KEY_FILE = ".key"
_CHUNK = 1 << 20


def cache_max_bytes() -> int:
    """The template cache's size cap, from ``ORMGRADE_CACHE_MAX_MB`` (MiB) or the default.

    Raises:
        UsageError: The variable is set but is not a whole number of MiB >= 0.
    """
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_MB * 2**20
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"{CACHE_MAX_ENV}={raw!r}: expected a whole number of MiB (0 or more)")
    return value * 2**20


def cache_key(cache_dir: Path) -> bytes:
    """The secret of this cache that template names are derived with (made on first use).

    Names are keyed hashes: neither a file's name nor a run database's name tells
    the dataset seed to code that can list the folder or the server.
    """
    path = cache_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def keyed_name(cache_dir: Path, *parts: object) -> str:
    """A name for ``parts`` that only this cache's key can reproduce (hex, 24 digits)."""
    return hmac.new(cache_key(cache_dir), repr(parts).encode(), hashlib.sha256).hexdigest()[:24]


def file_digest(path: Path | str) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedTemplate:
    """One template file of the cache, as `cache_entries` lists it.

    Attributes:
        path: The template file.
        size: Its size in bytes.
        last_used: When a grading last copied it (seconds since the epoch).
        pinned: Whether a running grading uses it now.
    """

    path: Path
    size: int
    last_used: float
    pinned: bool


def _pins(template: Path) -> list[Path]:
    return list(template.parent.glob(template.name + PIN_MARK + "*"))


def _pinned(template: Path) -> bool:
    pinned = False
    for pin in _pins(template):
        pid = pin.name.rsplit(PIN_MARK, 1)[1]
        if pid.isdigit() and _alive(int(pid)):
            pinned = True
        else:
            pin.unlink(missing_ok=True)  # left by a grading that is gone
    return pinned


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def cache_entries(cache_dir: Path | None = None) -> list[CachedTemplate]:
    """The templates of the cache, least recently used first."""
    folder = cache_dir or default_cache_dir()
    entries = []
    for path in folder.glob("*" + TEMPLATE_SUFFIX):
        if path.name.startswith("."):
            continue
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        entries.append(CachedTemplate(path, info.st_size, info.st_mtime, _pinned(path)))
    return sorted(entries, key=lambda e: e.last_used)


def _remove_template(path: Path) -> None:
    for name in (path, path.with_name(path.name + CHECKSUM_SUFFIX)):
        name.unlink(missing_ok=True)


def evict(cache_dir: Path | None = None, max_bytes: int | None = None) -> list[Path]:
    """Remove least recently used templates until the cache fits ``max_bytes``.

    A template pinned by a running grading is never removed. Returns what was removed.
    """
    limit = cache_max_bytes() if max_bytes is None else max_bytes
    entries = cache_entries(cache_dir)
    total = sum(e.size for e in entries)
    removed = []
    for entry in entries:
        if total <= limit:
            break
        if entry.pinned:
            continue
        _remove_template(entry.path)
        total -= entry.size
        removed.append(entry.path)
    return removed


def clear_cache(cache_dir: Path | None = None) -> list[Path]:
    """Remove every template of the cache that no running grading pins."""
    return evict(cache_dir, 0)


@dataclass
class SQLiteBackend:
    """Templates are SQLite files in a cache folder; a copy is a file copy.

    Templates are named by a keyed hash of (size, seed, schema), carry a
    SHA-256 taken when built, verified as each copy is made (a damaged template
    is rebuilt, and `notes` says so), and the cache is kept under its size cap
    (`cache_max_bytes`), least recently used first, never evicting a template a
    running grading has pinned.

    Attributes:
        cache_dir: Where templates are kept (built once per size and seed).
        work_dir: Where per-run copies go; removed by `close` when we made it.
        notes: What the backend had to repair, for the results' warnings.
    """

    cache_dir: Path = field(default_factory=default_cache_dir)
    work_dir: Path | None = None
    dialect: str = "sqlite"
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _own_work_dir: bool = False
    _digests: dict[str, str] = field(default_factory=dict, repr=False)
    _pins: list[Path] = field(default_factory=list, repr=False)
    _recipes: dict[str, tuple[DatasetSize, int, MetaData | None]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        if self.work_dir is None:
            self.work_dir = Path(tempfile.mkdtemp(prefix="ormgrade-db-"))
            self._own_work_dir = True

    def template(self, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> Template:
        # Keyed by the schema as it is now, also when it is the domain's own.
        schema = _metadata_key(metadata if metadata is not None else Base.metadata)
        name = keyed_name(
            self.cache_dir, size.key, seed, schema, SCHEMA_REVISION, dataset.DATASET_VERSION
        )
        path = self.cache_dir / f"{name}{TEMPLATE_SUFFIX}"
        with self._lock:
            self._pin(path)
            if not path.exists() or not path.with_name(path.name + CHECKSUM_SUFFIX).exists():
                self._build(path, size, seed, metadata)
                evict(self.cache_dir)
            self._digests[str(path)] = path.with_name(path.name + CHECKSUM_SUFFIX).read_text()
        self._recipes[str(path)] = (size, seed, metadata)
        return Template(size, seed, str(path), f"sqlite:///{path}")

    def _pin(self, path: Path) -> None:
        pin = path.with_name(path.name + PIN_MARK + str(os.getpid()))
        if pin not in self._pins:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            pin.touch()
            self._pins.append(pin)

    def _build(self, path: Path, size: DatasetSize, seed: int, metadata: MetaData | None) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=TEMPLATE_SUFFIX, dir=self.cache_dir)
        os.close(fd)
        try:
            engine = create_engine(f"sqlite:///{tmp}")
            try:
                dataset.build(engine, size, seed, metadata)
                with engine.connect() as conn:
                    conn.exec_driver_sql("ANALYZE")
            finally:
                engine.dispose()
            checksum = path.with_name(path.name + CHECKSUM_SUFFIX)
            checksum.write_text(file_digest(tmp))
            os.replace(tmp, path)  # atomic: concurrent builders agree
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def copy(self, template: Template) -> str:
        assert self.work_dir is not None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        target = self.work_dir / f"run-{uuid.uuid4().hex}.sqlite"
        if not self._copy_checked(template.location, target):
            with self._lock:
                # Someone else may have rebuilt it meanwhile: check once more, then rebuild.
                if not self._copy_checked(template.location, target):
                    size, seed, metadata = self._recipes[template.location]
                    _remove_template(Path(template.location))
                    self._build(Path(template.location), size, seed, metadata)
                    self._digests[template.location] = Path(
                        template.location + CHECKSUM_SUFFIX
                    ).read_text()
                    if TEMPLATE_REBUILT not in self.notes:
                        self.notes.append(TEMPLATE_REBUILT)
                    if not self._copy_checked(template.location, target):
                        raise DatabaseError(f"cannot make a sound copy of {template.location}")
        with contextlib.suppress(OSError):
            os.utime(template.location)  # least recently used: this one was just used
        return f"sqlite:///{target}"

    def _copy_checked(self, source: str, target: Path) -> bool:
        """Copy ``source`` to ``target``, hashing as it goes; False (no copy) on a mismatch."""
        expected = self._digests.get(source)
        if expected is None:
            expected = Path(source + CHECKSUM_SUFFIX).read_text()
            self._digests[source] = expected
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            return False
        if digest.hexdigest() != expected.strip():
            target.unlink(missing_ok=True)
            return False
        return True

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
        for pin in self._pins:
            pin.unlink(missing_ok=True)
        self._pins.clear()
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)


#: Bump when the domain models or the generator change, to invalidate cached templates.
SCHEMA_REVISION = 1


def _metadata_key(metadata: MetaData) -> str:
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
