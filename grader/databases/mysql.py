"""MariaDB and MySQL as grading database servers: templates copied table by table.

These servers cannot clone a database: a run's database is made from the
template's own ``SHOW CREATE TABLE`` (foreign keys included), filled
server-side with ``INSERT … SELECT`` and analysed. Pins and builds are named
locks and connections (see `MySQLBackend`); the shared bookkeeping is
`grader.databases.server`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine

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

    def _prepare(self, session: ServerSession) -> None:
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
            engine = server_engine(self.url.set(database=name))
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
            engine = server_engine(self.url.set(database=build))
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

    def _clone(self, session: ServerSession, template: str, name: str) -> None:
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

    def _create_empty(self, session: ServerSession, name: str) -> None:
        session.run(
            f"CREATE DATABASE {session.quote(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )

    def _drop_database(self, session: ServerSession, name: str) -> None:
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
            columns = loaded_columns(table, data)
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
