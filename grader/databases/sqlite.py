"""The default backend: SQLite templates kept as files in the cache, copied per run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import make_url

from grader.databases import dataset
from grader.databases.cache import (
    _CHUNK,
    CHECKSUM_SUFFIX,
    PIN_MARK,
    TEMPLATE_REBUILT,
    TEMPLATE_SUFFIX,
    _remove_template,
    build_lock,
    default_cache_dir,
    evict,
    file_digest,
    keyed_name,
)
from grader.databases.dataset import DatasetSize
from grader.databases.template import SCHEMA_REVISION, Template, _metadata_key
from grader.domain import Base
from grader.errors import DatabaseError

#: A template's mtime is refreshed (for least-recently-used eviction) when it is older.
TOUCH_AFTER_SECONDS = 60.0
#: Changes this close to a verification may carry the same timestamps as the verified
#: file (file timestamps come from a clock that ticks every few milliseconds): a stat
#: younger than this at verification is not trusted to tell a later change.
RACY_NS = 50_000_000

# What each template file was verified as in this process: path -> (expected digest,
# the file's stat key when its bytes were last hashed and found to match).
_verified: dict[str, tuple[str, tuple[int, ...]]] = {}
_verified_lock = threading.Lock()


def _stat_key(path: str) -> tuple[int, ...]:
    """What changes whenever the file does: ctime cannot be set back by a writer."""
    info = os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _is_verified(source: str, expected: str, key: tuple[int, ...]) -> bool:
    with _verified_lock:
        return _verified.get(source) == (expected, key)


def verified(location: str) -> bool:
    """Whether this process has hashed the template at ``location``, unchanged since."""
    with _verified_lock:
        known = _verified.get(location)
    try:
        return known is not None and known[1] == _stat_key(location)
    except FileNotFoundError:
        return False


def _remember(source: str, expected: str, key: tuple[int, ...], hashed_at_ns: int) -> None:
    # Only a file whose last change is clearly older than the hash is remembered: a
    # change made in the same clock tick would leave the timestamps as they were.
    if max(key[3], key[4]) < hashed_at_ns - RACY_NS:
        with _verified_lock:
            _verified[source] = (expected, key)


@dataclass
class SQLiteBackend:
    """Templates are SQLite files in a cache folder; a copy is a file copy.

    Templates are named by a keyed hash of (size, seed, schema), carry a
    SHA-256 taken when built, verified as a copy is made (a damaged template
    is rebuilt, and `notes` says so): the bytes are hashed while copied the
    first time the process copies a template and again whenever the file's
    stat (inode, size, mtime, ctime) has changed since; in between, a copy is
    a plain file copy, checked against the same stat before and after. The
    cache is kept under its size cap
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
            if not _built(path):
                with build_lock(self.cache_dir):
                    if not _built(path):  # another grading may have built it meanwhile
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
                    with build_lock(self.cache_dir):
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
            # Least recently used: this one was just used. Not on every copy: touching
            # the file changes its stat, which would make the next copy hash it again.
            if os.stat(template.location).st_mtime < time.time() - TOUCH_AFTER_SECONDS:
                os.utime(template.location)
        return f"sqlite:///{target}"

    def _copy_checked(self, source: str, target: Path) -> bool:
        """Copy ``source`` to ``target``, verified; False (no copy) on a mismatch.

        A template already hashed by this process and unchanged since (the same
        stat before and after the copy) is copied as it is; any other is hashed
        while it is copied.
        """
        expected = self._digests.get(source)
        if expected is None:
            expected = Path(source + CHECKSUM_SUFFIX).read_text()
            self._digests[source] = expected
        expected = expected.strip()
        try:
            before = _stat_key(source)
            if _is_verified(source, expected, before):
                shutil.copyfile(source, target)
                if _stat_key(source) == before:
                    return True
            hashed_at = time.time_ns()
            digest = hashlib.sha256()
            with open(source, "rb") as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            after = _stat_key(source)
        except FileNotFoundError:
            target.unlink(missing_ok=True)
            return False
        if digest.hexdigest() != expected:
            target.unlink(missing_ok=True)
            return False
        if after == before:
            _remember(source, expected, after, hashed_at)
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


def _built(path: Path) -> bool:
    """Whether the template at ``path`` and its checksum are both there."""
    return path.exists() and path.with_name(path.name + CHECKSUM_SUFFIX).exists()
