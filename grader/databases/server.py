"""PostgreSQL and MariaDB/MySQL as grading databases: seeded templates, a database per run.

`grader.databases.backend.backend_for` looks up `BACKENDS` by the URL's backend name.
A server backend makes three kinds of databases, all named with the prefix
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

PostgreSQL copies a template with ``CREATE DATABASE … TEMPLATE`` (a file-level
copy that keeps the planner statistics). MariaDB and MySQL cannot clone a
database: a copy is a new database whose tables are created from the
template's own ``SHOW CREATE TABLE`` (foreign keys included), filled
server-side with ``INSERT … SELECT`` and analysed.

Every database is made with a byte-order collation (``C`` on PostgreSQL,
``utf8mb4_bin`` on MariaDB/MySQL), so that ORDER BY and string comparison agree
with Python and with SQLite: a starter that sorts in Python is the oracle of
a solution that sorts in SQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
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

from sqlalchemy import Integer, MetaData, create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from grader.databases import dataset
from grader.databases.cache import default_cache_dir, keyed_name
from grader.databases.dataset import DatasetSize
from grader.databases.template import SCHEMA_REVISION, Template, _metadata_key
from grader.domain import Base
from grader.errors import DatabaseError, UsageError

__all__ = [
    "BACKENDS",
    "KEEP_TEMPLATES",
    "STALE_AFTER",
    "LeftoverWarning",
    "MySQLBackend",
    "PostgreSQLBackend",
    "ScratchName",
    "ServerBackend",
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


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    words = str(original if original is not None else error).strip()
    return words.splitlines()[0] if words else type(error).__name__


def _engine(url: URL, **kwargs: Any) -> Engine:
    return create_engine(url, poolclass=NullPool, **kwargs)


# -- the shared part ------------------------------------------------------------


class LeftoverWarning(UserWarning):
    """A run database could not be dropped; the next grading on the server drops it."""


class _Session:
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
        self._worker_session: _Session | None = None
        # Connections for copies made on the caller's thread: runs are made in parallel.
        self._idle: list[_Session] = []
        self._closed = False
        try:
            self._engine = _engine(
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
            self._admin = _Session(self._engine)
        except sa_exc.DBAPIError as exc:
            self._engine.dispose()
            raise DatabaseError(
                UNREACHABLE.format(
                    dialect=self.dialect, url=self._shown(), problem=_first_line(exc)
                )
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
    def _session(self) -> Iterator[_Session]:
        """A connection of the backend's own for this thread, returned when done."""
        with self._runs_lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            with self._errors("connecting"):
                session = _Session(self._engine)
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
    def _in_background(self) -> Iterator[_Session]:
        """The background thread's connection; a new one after a failure."""
        if self._worker_session is None:
            self._worker_session = _Session(self._engine)
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
                failed.append(f"{name} ({_first_line(exc)})")
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
        self, session: _Session, create: Callable[[_Session, str], None], doing: str
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
                f"{self.dialect} server at {self._shown()}: {doing} failed: {_first_line(exc)}"
            ) from exc

    # -- what each server does its own way ----------------------------------------

    def _prepare(self, session: _Session) -> None:
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

    def _clone(self, session: _Session, template: str, name: str) -> None:
        raise NotImplementedError

    def _create_empty(self, session: _Session, name: str) -> None:
        raise NotImplementedError

    def _drop_database(self, session: _Session, name: str) -> None:
        raise NotImplementedError


# -- PostgreSQL -----------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, int | float | decimal.Decimal | dt.date | dt.time):
        return str(value)
    return str(value).translate(_COPY_ESCAPES)


def _loaded_columns(table: Any, data: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns of ``table`` that the generated rows give values for."""
    return [column.name for column in table.columns if column.name in data[0]]


def _lock_key(name: str) -> int:
    """A 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)


class PostgreSQLBackend(ServerBackend):
    """Templates and per-run databases on a PostgreSQL server.

    A template is pinned by a shared advisory lock on its name, held by the
    backend's own connection until it closes; a builder holds the exclusive
    lock, and a template is dropped only by whoever gets the exclusive lock
    without waiting. The server releases every lock of a process that dies.
    Advisory locks belong to a database: gradings that share a server should
    name the same database in their URL. The role needs CREATEDB.
    """

    dialect = "postgresql"

    def _prepare(self, session: _Session) -> None:
        session.run(f"SET lock_timeout = '{BUILD_WAIT}s'")
        version = session.connection.dialect.server_version_info or (0,)
        self._force = version >= (13,)
        # libc named: with an ICU default the C collation would not be the one used.
        provider = " LOCALE_PROVIDER libc" if version >= (15,) else ""
        self._fresh = f"TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'{provider}"

    def _databases(self) -> list[str]:
        names = self._admin.column("SELECT datname FROM pg_database ORDER BY oid")
        return [name for name in names if name.startswith(PREFIX)]

    def _templates_oldest_first(self) -> list[str]:
        return [name for name in self._databases() if name.startswith(TEMPLATE_PREFIX)]

    def _exists(self, name: str) -> bool:
        return bool(
            self._admin.run("SELECT count(*) FROM pg_database WHERE datname = :name", name=name)
        )

    def _acquire(self, name: str, size: DatasetSize, seed: int, metadata: MetaData) -> None:
        # Two locks: pinning (shared) would block a builder waiting for the
        # exclusive lock on the same key until every other grading closed.
        admin, pin, build = self._admin, _lock_key(name), _lock_key(name + "/build")
        admin.run("SELECT pg_advisory_lock_shared(:key)", key=pin)
        if self._exists(name):
            return
        admin.run("SELECT pg_advisory_unlock_shared(:key)", key=pin)
        try:
            admin.run("SELECT pg_advisory_lock(:key)", key=build)
        except sa_exc.OperationalError as exc:
            raise DatabaseError(
                BUILD_TIMEOUT.format(seconds=BUILD_WAIT, name=name, dialect=self.dialect)
            ) from exc
        try:
            if not self._exists(name):
                self._build(name, size, seed, metadata)
            admin.run("SELECT pg_advisory_lock_shared(:key)", key=pin)
        finally:
            admin.run("SELECT pg_advisory_unlock(:key)", key=build)

    def _build(self, name: str, size: DatasetSize, seed: int, metadata: MetaData) -> None:
        admin, build = self._admin, scratch_name("b")
        admin.run(f"CREATE DATABASE {admin.quote(build)} {self._fresh}")
        try:
            engine = _engine(self.url.set(database=build))
            try:
                rows = dataset.generate(size, seed)
                with engine.begin() as conn:
                    _pg_load(conn, rows, metadata)
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    # VACUUM sets the visibility map, so that index-only scans are
                    # planned as they are on a table autovacuum has seen.
                    conn.exec_driver_sql("VACUUM (ANALYZE)")
            finally:
                engine.dispose()
            admin.run(f"ALTER DATABASE {admin.quote(build)} RENAME TO {admin.quote(name)}")
        except BaseException:
            with suppress(sa_exc.SQLAlchemyError):
                self._drop_database(admin, build)
            raise

    def _unpin_all(self) -> None:
        with suppress(sa_exc.SQLAlchemyError):
            self._admin.run("SELECT pg_advisory_unlock_all()")

    def _drop_unpinned(self, name: str) -> bool:
        admin, pin, build = self._admin, _lock_key(name), _lock_key(name + "/build")
        # The build lock too: a builder pins its template only after building it.
        if not admin.run("SELECT pg_try_advisory_lock(:key)", key=build):
            return False
        try:
            if not admin.run("SELECT pg_try_advisory_lock(:key)", key=pin):
                return False
            try:
                admin.run(f"DROP DATABASE IF EXISTS {admin.quote(name)}")
                return True
            except sa_exc.SQLAlchemyError:
                return False  # someone is connected to it
            finally:
                admin.run("SELECT pg_advisory_unlock(:key)", key=pin)
        finally:
            admin.run("SELECT pg_advisory_unlock(:key)", key=build)

    def _clone(self, session: _Session, template: str, name: str) -> None:
        for attempt in range(3):
            try:
                session.run(
                    f"CREATE DATABASE {session.quote(name)} TEMPLATE {session.quote(template)}"
                )
                return
            except sa_exc.OperationalError as exc:
                # 55006: another connection to the template (a hook reading it)
                # outlived the server's own wait of 5 s.
                if getattr(exc.orig, "sqlstate", None) != "55006" or attempt == 2:
                    raise
                time.sleep(0.5)

    def _create_empty(self, session: _Session, name: str) -> None:
        session.run(f"CREATE DATABASE {session.quote(name)} {self._fresh}")

    def _drop_database(self, session: _Session, name: str) -> None:
        if self._force:
            session.run(f"DROP DATABASE IF EXISTS {session.quote(name)} WITH (FORCE)")
            return
        session.run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name",
            name=name,
        )
        session.run(f"DROP DATABASE IF EXISTS {session.quote(name)}")


_PG_FOREIGN_KEYS = (
    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)"
    " FROM pg_constraint AS c JOIN pg_namespace AS n ON n.oid = c.connamespace"
    " WHERE c.contype = 'f' AND n.nspname = current_schema() ORDER BY c.oid"
)


def _pg_load(
    conn: Connection, rows: Mapping[str, list[dict[str, Any]]], metadata: MetaData
) -> None:
    """Create the schema and fill it with COPY.

    Foreign keys are taken off while the rows go in and put back after
    (as the server itself describes them): checking each once is far faster
    than firing its triggers for every row.
    """
    metadata.create_all(conn)
    quote = conn.dialect.identifier_preparer.quote
    foreign_keys = conn.exec_driver_sql(_PG_FOREIGN_KEYS).all()
    for table, name, _ in foreign_keys:
        conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for table in metadata.sorted_tables:
            data = rows.get(table.name)
            if not data:
                continue
            columns = _loaded_columns(table, data)
            statement = (
                f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
            )
            with cursor.copy(statement) as copy:
                for start in range(0, len(data), 20_000):
                    copy.write(
                        "".join(
                            "\t".join([_copy_field(row[c]) for c in columns]) + "\n"
                            for row in data[start : start + 20_000]
                        )
                    )
    finally:
        cursor.close()
    for table, name, definition in foreign_keys:
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}",
            execution_options={"no_parameters": True},
        )
    # COPY with explicit ids leaves serial sequences at 1: move them past the rows.
    for table in metadata.sorted_tables:
        primary = list(table.primary_key.columns)
        if (
            len(primary) != 1
            or not isinstance(primary[0].type, Integer)
            or not rows.get(table.name)
        ):
            continue
        conn.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"(SELECT coalesce(max({quote(primary[0].name)}), 0) + 1 FROM {quote(table.name)}),"
                " false)"
            ),
            {"table": quote(table.name), "column": primary[0].name},
        )


# -- MariaDB / MySQL ------------------------------------------------------------


class MySQLBackend(ServerBackend):
    """Templates and per-run databases on a MariaDB or MySQL server.

    A template is pinned by a connection of this backend whose current
    database is the template. Builds and drops take ``GET_LOCK`` on the
    template's name, and a template is dropped only while no connection has
    it as its current database (PROCESSLIST shows others' connections only to
    a user with the PROCESS privilege). The user needs CREATE, DROP, ALTER,
    INSERT and SELECT on ``ormgrade\\_%`` databases.
    """

    dialect = "mysql"

    def __init__(self, url: str | URL) -> None:
        self._pins: dict[str, tuple[Engine, Connection]] = {}
        self._ddl: dict[str, list[tuple[str, str]]] = {}
        super().__init__(url)

    def _prepare(self, session: _Session) -> None:
        # DROP DATABASE waits for the metadata locks of connections it could not kill.
        session.run("SET SESSION lock_wait_timeout = 60")
        # Copies fill their tables in any order.
        session.run("SET SESSION foreign_key_checks = 0")

    def _databases(self) -> list[str]:
        names = self._admin.column("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        return [name for name in names if name.startswith(PREFIX)]

    def _templates_oldest_first(self) -> list[str]:
        names = [name for name in self._databases() if name.startswith(TEMPLATE_PREFIX)]
        made = dict(
            self._admin.rows(
                "SELECT TABLE_SCHEMA, MIN(CREATE_TIME) FROM information_schema.TABLES"
                " GROUP BY TABLE_SCHEMA"
            )
        )
        oldest = dt.datetime.min
        return sorted(names, key=lambda name: (made.get(name) or oldest, name))

    def _tables(self, name: str) -> list[str]:
        return self._admin.column(
            "SELECT TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = :name AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            name=name,
        )

    def _complete(self, name: str, metadata: MetaData) -> bool:
        exists = self._admin.run(
            "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name", name=name
        )
        # A template gets all its tables in one RENAME TABLE: an empty one is
        # what a builder killed between CREATE DATABASE and RENAME left.
        return bool(exists) and (not metadata.tables or bool(self._tables(name)))

    def _acquire(self, name: str, size: DatasetSize, seed: int, metadata: MetaData) -> None:
        admin = self._admin
        if admin.run("SELECT GET_LOCK(:name, :wait)", name=name, wait=BUILD_WAIT) != 1:
            raise DatabaseError(
                BUILD_TIMEOUT.format(seconds=BUILD_WAIT, name=name, dialect=self.dialect)
            )
        try:
            if not self._complete(name, metadata):
                self._drop_database(admin, name)
                self._build(name, size, seed, metadata)
            engine = _engine(self.url.set(database=name))
            self._pins[name] = (engine, engine.connect())
            self._ddl[name] = [
                (
                    table,
                    admin.rows(f"SHOW CREATE TABLE {admin.quote(name)}.{admin.quote(table)}")[0][1],
                )
                for table in self._tables(name)
            ]
        finally:
            admin.run("SELECT RELEASE_LOCK(:name)", name=name)

    def _build(self, name: str, size: DatasetSize, seed: int, metadata: MetaData) -> None:
        admin, build = self._admin, scratch_name("b")
        quote = admin.quote
        self._create_empty(admin, build)
        try:
            engine = _engine(self.url.set(database=build))
            try:
                rows = dataset.generate(size, seed)
                with engine.begin() as conn:
                    conn.exec_driver_sql("SET SESSION foreign_key_checks = 0, unique_checks = 0")
                    metadata.create_all(conn)
                    _mysql_load(conn, rows, metadata)
                    if metadata.tables:
                        conn.exec_driver_sql(
                            "ANALYZE TABLE " + ", ".join(quote(t) for t in metadata.tables)
                        ).all()
            finally:
                engine.dispose()
            self._create_empty(admin, name)
            moved = self._tables(build)
            if moved:
                admin.run(
                    "RENAME TABLE "
                    + ", ".join(
                        f"{quote(build)}.{quote(t)} TO {quote(name)}.{quote(t)}" for t in moved
                    )
                )
        except BaseException:
            with suppress(sa_exc.SQLAlchemyError):
                self._drop_database(admin, build)
                self._drop_database(admin, name)
            raise
        self._drop_database(admin, build)

    def _unpin_all(self) -> None:
        for engine, conn in self._pins.values():
            with suppress(sa_exc.SQLAlchemyError):
                conn.close()
            engine.dispose()
        self._pins.clear()
        self._ddl.clear()

    def _drop_unpinned(self, name: str) -> bool:
        admin = self._admin
        if admin.run("SELECT GET_LOCK(:name, 0)", name=name) != 1:
            return False
        try:
            if admin.run(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = :name", name=name
            ):
                return False
            admin.run(f"DROP DATABASE IF EXISTS {admin.quote(name)}")
            return True
        finally:
            admin.run("SELECT RELEASE_LOCK(:name)", name=name)

    def _clone(self, session: _Session, template: str, name: str) -> None:
        ddl = self._ddl.get(template)
        if ddl is None:
            raise DatabaseError(f"{template} is not a template this backend pinned")
        quote = session.quote
        self._create_empty(session, name)
        # SHOW CREATE TABLE names referenced tables without their database. The
        # session leaves the run's database after: dropping it kills its users.
        session.run(f"USE {quote(name)}")
        try:
            for _, create in ddl:
                session.run(create)
        finally:
            session.run("USE information_schema")
        for table, _ in ddl:
            session.run(
                f"INSERT INTO {quote(name)}.{quote(table)} "
                f"SELECT * FROM {quote(template)}.{quote(table)}"
            )
        if ddl:
            session.rows("ANALYZE TABLE " + ", ".join(f"{quote(name)}.{quote(t)}" for t, _ in ddl))

    def _create_empty(self, session: _Session, name: str) -> None:
        session.run(
            f"CREATE DATABASE {session.quote(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )

    def _drop_database(self, session: _Session, name: str) -> None:
        # A killed run can leave a connection holding locks on its tables.
        for connection_id in session.column(
            "SELECT ID FROM information_schema.PROCESSLIST"
            " WHERE DB = :name AND ID <> CONNECTION_ID()",
            name=name,
        ):
            with suppress(sa_exc.SQLAlchemyError):
                session.run(f"KILL CONNECTION {int(connection_id)}")
        session.run(f"DROP DATABASE IF EXISTS {session.quote(name)}")


def _mysql_load(
    conn: Connection, rows: Mapping[str, list[dict[str, Any]]], metadata: MetaData
) -> None:
    """Fill the tables with multi-row INSERTs (the driver batches an executemany)."""
    quote = conn.dialect.identifier_preparer.quote
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for table in metadata.sorted_tables:
            data = rows.get(table.name)
            if not data:
                continue
            columns = _loaded_columns(table, data)
            statement = (
                f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))})"
            )
            for start in range(0, len(data), 20_000):
                cursor.executemany(
                    statement,
                    [tuple(row[c] for c in columns) for row in data[start : start + 20_000]],
                )
    finally:
        cursor.close()


#: Server backends by SQLAlchemy backend name (MariaDB answers to "mysql" too).
BACKENDS: Mapping[str, type[ServerBackend]] = {
    "postgresql": PostgreSQLBackend,
    "mysql": MySQLBackend,
    "mariadb": MySQLBackend,
}
