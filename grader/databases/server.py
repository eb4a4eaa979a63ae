"""Database servers as grading databases: seeded templates, a database per run.

What every server backend shares: the names, the pins, the bookkeeping and
the background drops (`ServerBackend`). Each dialect says how its server
creates, clones, locks and drops databases, in a module of its own:
`grader.databases.postgresql` and `grader.databases.mysql` (MariaDB and
MySQL); `grader.databases.backend.backend_for` picks one by the URL's backend
name. A server backend makes three kinds of databases, all named with the prefix
``ormgrade_`` so that it never touches anything else on the server:

- ``ormgrade_t_<key>_<size>_s<seed>``: a seeded, analysed template of one
  (size, seed, schema). Templates stay on the server between gradings and are
  shared read-only by concurrent ones: a backend pins each template it uses
  until it closes, a template is built under a server-side lock (a second
  builder waits, then finds it ready), and templates nobody pins are dropped,
  oldest first, once there are more than `KEEP_TEMPLATES`.
- ``ormgrade_b_<host>_<pid>_<time>_<random>``: a template being built. It
  becomes the template in one atomic rename when complete, so a half-built
  template is never used.
- ``ormgrade_r_<host>_<pid>_<time>_<random>``: one run's own database, a copy
  of a template (`copy`) or empty (`empty`), dropped after the run.

Build and run names say which machine, process and second made them: when a
backend opens, it drops those left behind by a process of this machine that is
gone, and any older than `STALE_AFTER` seconds.

PostgreSQL copies a template with ``CREATE DATABASE … TEMPLATE``; MariaDB and
MySQL, which cannot clone a database, table by table.

Every database is made with a byte-order collation (``C`` on PostgreSQL,
``utf8mb4_bin`` on MariaDB/MySQL), so that ORDER BY and string comparison agree
with Python and with SQLite: a starter that sorts in Python is the oracle of
a solution that sorts in SQL.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from grader.databases import dataset
from grader.databases.cache import default_cache_dir, keyed_name
from grader.databases.connect import make_engine
from grader.databases.dataset import DatasetSize
from grader.databases.template import SCHEMA_REVISION, Template, _metadata_key
from grader.domain import Base
from grader.errors import DatabaseError, UsageError

__all__ = [
    "KEEP_TEMPLATES",
    "STALE_AFTER",
    "LeftoverWarning",
    "ScratchName",
    "ServerBackend",
    "ServerSession",
    "scratch_name",
    "template_name",
]

#: Every database a server backend makes starts with this.
PREFIX = "ormgrade_"
TEMPLATE_PREFIX = PREFIX + "t_"
BUILD_PREFIX = PREFIX + "b_"
RUN_PREFIX = PREFIX + "r_"
#: Seconds after which a build or run database is a leftover whoever made it.
STALE_AFTER = 3600.0
#: Templates kept on a server; beyond this, unpinned ones are dropped oldest first.
KEEP_TEMPLATES = 8
#: Seconds a backend waits for another grading to finish building a template.
BUILD_WAIT = 600
#: Seconds to wait for a server to answer a connection.
CONNECT_TIMEOUT = 10
#: Bump when the way templates are built changes, so that old ones are not reused.
LAYOUT_REVISION = 1
#: The longest database name both servers accept (PostgreSQL: 63 bytes, MySQL: 64).
MAX_NAME = 63
#: A short, stable mark of this machine, in build and run names.
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]

DRIVER_EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
#: The driver each extra brings, as pip names it (the same as in pyproject.toml's extras).
DRIVER_PACKAGES = {"postgres": "psycopg[binary]>=3.1", "mysql": "PyMySQL>=1.1"}
UNREACHABLE = (
    "cannot reach the {dialect} server at {url}: {problem}. Is it running? The "
    "Databases section of the README says how to start it."
)
NO_DRIVER = (
    "the database driver for {url} is not installed ({problem}); install the supported "
    'one with python -m pip install "{package}" (or, in the folder of this course\'s '
    'pyproject.toml, python -m pip install -e ".[{extra}]") and use a URL such as {example}'
)
DRIVER_EXAMPLES = {
    "postgresql": "postgresql+psycopg://…",
    "mysql": "mysql+pymysql://…",
    "mariadb": "mariadb+pymysql://…",
}
BUILD_TIMEOUT = (
    "waited {seconds} s for another grading to build the template {name} on the "
    "{dialect} server; try again"
)
NOT_A_RUN = "refusing to drop {name!r}: not a run database of ormgrade ({prefix}…)"


# -- names ----------------------------------------------------------------------


def process_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ScratchName:
    """What the name of a build or run database says about who made it.

    Attributes:
        kind: ``"b"`` for a template being built, ``"r"`` for a run's database.
        host: The short mark of the machine that made it (see `HOST`).
        pid: The id of the process that made it.
        created: When it was made, in seconds since the epoch.
    """

    kind: str
    host: str
    pid: int
    created: int

    _PATTERN: ClassVar[re.Pattern[str]] = re.compile(
        rf"^{PREFIX}(?P<kind>[br])_(?P<host>[0-9a-f]{{6}})_(?P<pid>\d+)_(?P<created>\d+)_[0-9a-f]+$"
    )

    @classmethod
    def parse(cls, name: str) -> ScratchName | None:
        """The parts of ``name``, or None when it is not a build or run name."""
        found = cls._PATTERN.match(name)
        if found is None:
            return None
        return cls(found["kind"], found["host"], int(found["pid"]), int(found["created"]))

    def is_leftover(
        self, now: float, host: str = HOST, alive: Callable[[int], bool] = process_alive
    ) -> bool:
        """Whether its maker is gone: a process of ``host`` no longer alive, or too long ago."""
        if now - self.created > STALE_AFTER:
            return True
        return self.host == host and not alive(self.pid)


def scratch_name(kind: str) -> str:
    """A new, unique build (``"b"``) or run (``"r"``) database name."""
    return f"{PREFIX}{kind}_{HOST}_{os.getpid()}_{int(time.time())}_{secrets.token_hex(3)}"


def template_name(size: DatasetSize, seed: int, metadata: MetaData | None = None) -> str:
    """The name of the template of (``size``, ``seed``, schema).

    A keyed hash (the key of this machine's template cache, `grader.databases.backend.cache_key`):
    the same for every grading that shares the key, and no run can tell the seed
    from the list of databases on the server.
    """
    described = (
        size.key,
        seed,
        _metadata_key(metadata if metadata is not None else Base.metadata),
        SCHEMA_REVISION,
        LAYOUT_REVISION,
        dataset.DATASET_VERSION,
    )
    key = keyed_name(default_cache_dir(), *described)
    return f"{TEMPLATE_PREFIX}{key}"[:MAX_NAME]


def first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    words = str(original if original is not None else error).strip()
    return words.splitlines()[0] if words else type(error).__name__


def server_engine(url: URL, **kwargs: Any) -> Engine:
    return make_engine(url, poolclass=NullPool, **kwargs)


# -- the shared part ------------------------------------------------------------


class LeftoverWarning(UserWarning):
    """A run database could not be dropped; the next grading on the server drops it."""


class ServerSession:
    """One autocommit connection of the backend's own, with the statements it needs."""

    def __init__(self, engine: Engine) -> None:
        self.connection = engine.connect()

    def run(self, sql: str, **params: Any) -> Any:
        """Run one statement; returns the first value of its first row, if it has rows.

        Without ``params`` the text goes to the driver as it is: psycopg and
        PyMySQL would otherwise read every ``%`` in it as a placeholder.
        """
        if params:
            result = self.connection.execute(text(sql), params)
        else:
            result = self.connection.exec_driver_sql(sql, execution_options={"no_parameters": True})
        return result.scalar() if result.returns_rows else None

    def column(self, sql: str, **params: Any) -> list[Any]:
        """The first column of every row of a query."""
        return list(self.connection.execute(text(sql), params).scalars())

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        return [tuple(row) for row in self.connection.execute(text(sql), params)]

    def quote(self, name: str) -> str:
        """``name`` quoted as an identifier of this server."""
        return self.connection.dialect.identifier_preparer.quote_identifier(name)

    def close(self) -> None:
        with suppress(sa_exc.SQLAlchemyError):
            self.connection.close()


class ServerBackend:
    """Templates and per-run databases on one database server.

    Subclasses say how their server creates, clones, locks and drops
    databases; this class keeps the names, the pins and the bookkeeping.
    Making and dropping run databases is kept off the grading's path where it
    can be: a drop happens in a background thread, and the next copy of a
    template is made there too, as soon as the template is ready and again
    each time a copy is taken (a spare left unused is dropped by `close`).

    Attributes:
        url: The server URL given. The backend connects to its database to
            create and drop the others, and never changes that database.
    """

    dialect: str = ""

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url)
        self._lock = threading.RLock()
        self._runs_lock = threading.Lock()
        self._runs: set[str] = set()
        self._pinned: dict[str, Template] = {}
        self._spares: dict[str, Future[str]] = {}
        self._worker: ThreadPoolExecutor | None = None
        self._worker_session: ServerSession | None = None
        # Connections for copies made on the caller's thread: runs are made in parallel.
        self._idle: list[ServerSession] = []
        self._closed = False
        try:
            self._engine = server_engine(
                self.url,
                isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": CONNECT_TIMEOUT},
            )
        except ImportError as exc:
            raise UsageError(
                NO_DRIVER.format(
                    url=self._shown(),
                    problem=exc,
                    extra=(extra := DRIVER_EXTRAS.get(self.url.get_backend_name(), "postgres")),
                    package=DRIVER_PACKAGES[extra],
                    example=DRIVER_EXAMPLES.get(self.url.get_backend_name(), ""),
                )
            ) from None
        try:
            self._admin = ServerSession(self._engine)
        except sa_exc.DBAPIError as exc:
            self._engine.dispose()
            raise DatabaseError(
                UNREACHABLE.format(dialect=self.dialect, url=self._shown(), problem=first_line(exc))
            ) from None
        try:
            self._prepare(self._admin)
            self.collect_leftovers()
        except BaseException:
            self.close()
            raise

    # -- the Backend protocol ----------------------------------------------------

    def template(self, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> Template:
        """The template for (``size``, ``seed``, ``metadata``), built on first use and pinned."""
        name = template_name(size, seed, metadata)
        with self._lock:
            self._check_open()
            found = self._pinned.get(name)
            if found is None:
                schema = metadata if metadata is not None else Base.metadata
                with self._errors(f"preparing the template {name}"):
                    self._acquire(name, size, seed, schema)
                found = Template(size, seed, name, self.url_of(name))
                self._pinned[name] = found
                with self._errors("dropping unused templates"):
                    self.evict()
                # Every template is copied at least once: the first copy is made now.
                self._spares[name] = self._background().submit(self._make_spare, name)
            return found

    def copy(self, template: Template) -> str:
        """A new run database holding what ``template`` holds; returns its URL.

        Safe to call from several threads at once: copies are made in parallel.
        """
        with self._lock:
            self._check_open()
            spare = self._spares.pop(template.location, None)
            self._spares[template.location] = self._background().submit(
                self._make_spare, template.location
            )
        name = None
        # A spare still queued behind other work is not waited for: copying
        # here, in parallel, is quicker.
        if spare is not None and not spare.cancel():
            # A spare that failed is made again below, where its error shows.
            with suppress(Exception):
                name = spare.result()
        if name is None:
            with self._session() as session:
                name = self._new_run(
                    session,
                    lambda session, run: self._clone(session, template.location, run),
                    f"copying {template.location}",
                )
        return self.url_of(name)

    def empty(self) -> str:
        """A new, empty run database; returns its URL."""
        self._check_open()
        with self._session() as session:
            name = self._new_run(session, self._create_empty, "creating an empty database")
        return self.url_of(name)

    def drop(self, url: str) -> None:
        """Drop a run database made by `copy` or `empty`; one already gone is fine.

        The drop itself happens in the background; `close` waits for it.

        Raises:
            UsageError: ``url`` names a database that is not a run database.
        """
        name = make_url(url).database or ""
        if not name.startswith(RUN_PREFIX):
            raise UsageError(NOT_A_RUN.format(name=name, prefix=RUN_PREFIX))
        with self._lock:
            if not self._closed:
                self._background().submit(self._drop_in_background, name)

    def close(self) -> None:
        """Drop the run databases still there, unpin the templates, disconnect.

        Waits for the background work. A run database the server refuses to
        drop is reported with a `LeftoverWarning`; the next grading on the
        server drops it.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                for spare in self._spares.values():
                    spare.cancel()
                self._spares.clear()
                if self._worker is not None:
                    self._worker.shutdown(wait=True)
                if self._worker_session is not None:
                    self._worker_session.close()
                with self._runs_lock:
                    idle, self._idle = self._idle, []
                for session in idle:
                    session.close()
                self._drop_remaining()
                self._unpin_all()
            finally:
                self._pinned.clear()
                self._admin.close()
                self._engine.dispose()

    # -- housekeeping -------------------------------------------------------------

    def url_of(self, name: str) -> str:
        """The URL of database ``name`` on this server (password included)."""
        return self.url.set(database=name).render_as_string(hide_password=False)

    def collect_leftovers(self, now: float | None = None) -> list[str]:
        """Drop build and run databases whose maker is gone; returns their names."""
        now = time.time() if now is None else now
        dropped = []
        with self._lock:
            for name in self._databases():
                parsed = ScratchName.parse(name)
                with self._runs_lock:
                    ours = name in self._runs
                if parsed is None or ours or not parsed.is_leftover(now):
                    continue
                try:
                    self._drop_database(self._admin, name)
                except sa_exc.SQLAlchemyError:
                    continue  # another backend is dropping it right now
                dropped.append(name)
        return dropped

    def evict(self, keep: int = KEEP_TEMPLATES) -> list[str]:
        """Drop templates that nobody pins, oldest first, until ``keep`` are left.

        Returns:
            The names dropped.
        """
        dropped = []
        with self._lock:
            templates = self._templates_oldest_first()
            surplus = len(templates) - keep
            for name in templates:
                if surplus <= 0:
                    break
                if name not in self._pinned and self._drop_unpinned(name):
                    dropped.append(name)
                    surplus -= 1
        return dropped

    def templates(self) -> list[str]:
        """The templates on the server, oldest first."""
        with self._lock:
            return self._templates_oldest_first()

    def databases(self) -> list[str]:
        """Every database on the server whose name has this module's prefix."""
        with self._lock:
            return self._databases()

    # -- helpers ------------------------------------------------------------------

    def _background(self) -> ThreadPoolExecutor:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ormgrade-db")
        return self._worker

    @contextmanager
    def _session(self) -> Iterator[ServerSession]:
        """A connection of the backend's own for this thread, returned when done."""
        with self._runs_lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            with self._errors("connecting"):
                session = ServerSession(self._engine)
                self._prepare(session)
        try:
            yield session
        except BaseException:
            session.close()  # it may be broken
            raise
        with self._runs_lock:
            if self._closed:
                session.close()
            else:
                self._idle.append(session)

    @contextmanager
    def _in_background(self) -> Iterator[ServerSession]:
        """The background thread's connection; a new one after a failure."""
        if self._worker_session is None:
            self._worker_session = ServerSession(self._engine)
            self._prepare(self._worker_session)
        try:
            yield self._worker_session
        except BaseException:
            self._worker_session.close()
            self._worker_session = None
            raise

    def _make_spare(self, template: str) -> str:
        with self._in_background() as session:
            return self._new_run(
                session,
                lambda session, run: self._clone(session, template, run),
                f"copying {template}",
            )

    def _drop_in_background(self, name: str) -> None:
        # On failure the name stays listed: close() tries again.
        with self._in_background() as session:
            self._drop_database(session, name)
        with self._runs_lock:
            self._runs.discard(name)

    def _drop_remaining(self) -> None:
        with self._runs_lock:
            remaining = sorted(self._runs)
        failed = []
        for name in remaining:
            try:
                self._drop_database(self._admin, name)
            except sa_exc.SQLAlchemyError as exc:
                failed.append(f"{name} ({first_line(exc)})")
        with self._runs_lock:
            self._runs.clear()
        if failed:
            warnings.warn(
                f"{self.dialect} server at {self._shown()}: could not drop "
                + ", ".join(failed)
                + "; the next grading on this server drops them",
                LeftoverWarning,
                stacklevel=3,
            )

    def _new_run(
        self, session: ServerSession, create: Callable[[ServerSession, str], None], doing: str
    ) -> str:
        name = scratch_name("r")
        with self._runs_lock:
            self._runs.add(name)
        try:
            with self._errors(doing):
                create(session, name)
        except BaseException:
            with suppress(sa_exc.SQLAlchemyError):
                self._drop_database(session, name)
            with self._runs_lock:
                self._runs.discard(name)
            raise
        return name

    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseError(f"the {self.dialect} backend is closed")

    def _shown(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        # COPY and executemany on the driver's own cursor raise the driver's errors.
        driver_error = self._engine.dialect.loaded_dbapi.Error
        try:
            yield
        except (sa_exc.SQLAlchemyError, driver_error) as exc:
            raise DatabaseError(
                f"{self.dialect} server at {self._shown()}: {doing} failed: {first_line(exc)}"
            ) from exc

    # -- what each server does its own way ----------------------------------------

    def _prepare(self, session: ServerSession) -> None:
        """Set up a new connection of the backend's own."""
        raise NotImplementedError

    def _databases(self) -> list[str]:
        raise NotImplementedError

    def _templates_oldest_first(self) -> list[str]:
        raise NotImplementedError

    def _acquire(self, name: str, size: DatasetSize, seed: int, metadata: MetaData) -> None:
        """Make sure template ``name`` exists, building it if needed, and pin it."""
        raise NotImplementedError

    def _unpin_all(self) -> None:
        raise NotImplementedError

    def _drop_unpinned(self, name: str) -> bool:
        """Drop template ``name`` unless someone pins it; returns whether it was dropped."""
        raise NotImplementedError

    def _clone(self, session: ServerSession, template: str, name: str) -> None:
        raise NotImplementedError

    def _create_empty(self, session: ServerSession, name: str) -> None:
        raise NotImplementedError

    def _drop_database(self, session: ServerSession, name: str) -> None:
        raise NotImplementedError


def loaded_columns(table: Any, data: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns of ``table`` that the generated rows give values for."""
    return [column.name for column in table.columns if column.name in data[0]]
