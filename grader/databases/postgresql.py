"""PostgreSQL as a grading database server: templates cloned by ``CREATE DATABASE … TEMPLATE``.

A template is a database built once per (size, seed, schema), filled with COPY
and analysed; a run's database is a file-level copy of it, planner statistics
included. Pins and builds are advisory locks on the template's name (see
`PostgreSQLBackend`); the shared bookkeeping is `grader.databases.server`'s.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import time
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from sqlalchemy import Integer, MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from grader.databases import dataset
from grader.databases.dataset import DatasetSize
from grader.databases.server import (
    BUILD_TIMEOUT,
    BUILD_WAIT,
    PREFIX,
    TEMPLATE_PREFIX,
    ServerBackend,
    ServerSession,
    loaded_columns,
    scratch_name,
    server_engine,
)
from grader.errors import DatabaseError

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

    def _prepare(self, session: ServerSession) -> None:
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
            engine = server_engine(self.url.set(database=build))
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

    def _clone(self, session: ServerSession, template: str, name: str) -> None:
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

    def _create_empty(self, session: ServerSession, name: str) -> None:
        session.run(f"CREATE DATABASE {session.quote(name)} {self._fresh}")

    def _drop_database(self, session: ServerSession, name: str) -> None:
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
            columns = loaded_columns(table, data)
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
