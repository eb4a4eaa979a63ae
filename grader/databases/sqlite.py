"""The default backend: SQLite templates kept as files in the cache, copied per run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
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


def _built(path: Path) -> bool:
    """Whether the template at ``path`` and its checksum are both there."""
    return path.exists() and path.with_name(path.name + CHECKSUM_SUFFIX).exists()
