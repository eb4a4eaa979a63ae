"""What a migration run sees of the database: each table's schema and rows.

`snapshot` reads them into a `DatabaseState` (Alembic's own table left out);
`schema_differences` tells two states apart, one sentence per change, and
`populate` fills the starter's tables with an exercise's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, Table, insert, inspect, select
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect

from grader.execution.child import normalize

#: Alembic's own bookkeeping table, left out of every comparison.
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class ColumnState:
    """A column as the database reports it.

    Attributes:
        name: The column's name.
        type: Its type as the database prints it (``VARCHAR(100)``).
        kind: The generic SQLAlchemy type it reflects as (``String``, ``Integer``…).
        nullable: Whether it accepts NULL.
    """

    name: str
    type: str
    kind: str
    nullable: bool

    def describe(self) -> str:
        """``priority VARCHAR(10) NULL``."""
        return f"{self.name} {self.type} {'NULL' if self.nullable else 'NOT NULL'}"


@dataclass(frozen=True)
class IndexState:
    """An index as the database reports it.

    Attributes:
        name: The index's name.
        columns: The indexed columns, in index order.
        unique: Whether it is a unique index.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool

    def describe(self) -> str:
        """``ix_users_email (email)``, with ``UNIQUE`` when it is."""
        unique = "UNIQUE " if self.unique else ""
        return f"{unique}{self.name} ({', '.join(self.columns)})"


@dataclass(frozen=True)
class TableState:
    """A table's schema as the database reports it.

    Attributes:
        name: The table's name.
        columns: Its columns, by name.
        primary_key: The primary-key columns.
        indexes: Its indexes, by name.
        foreign_keys: Each foreign key as ``column -> table(column)``.
    """

    name: str
    columns: tuple[ColumnState, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[IndexState, ...] = ()
    foreign_keys: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnState | None:
        """The column called ``name``, if the table has one."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class DatabaseState:
    """The schema and the rows of every table but Alembic's own.

    Attributes:
        tables: Every table's schema, by name.
        rows: Every table's rows in primary-key order, each a column-to-value
            mapping of plain values (dates as ISO text).
    """

    tables: tuple[TableState, ...]
    rows: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def table(self, name: str) -> TableState | None:
        """The table called ``name``, if there is one."""
        return next((t for t in self.tables if t.name == name), None)

    @property
    def row_count(self) -> int:
        """Rows over all tables."""
        return sum(len(r) for r in self.rows.values())

    def differences(self, other: DatabaseState) -> list[str]:
        """How the schema of ``other`` differs from this one (`schema_differences`)."""
        return schema_differences(self, other)


def schema_differences(expected: DatabaseState, got: DatabaseState) -> list[str]:
    """How the schema of ``got`` differs from ``expected``, one sentence each.

    Columns are compared by name, type and nullability (not by position);
    indexes by name, columns and uniqueness.
    """
    found: list[str] = []
    names = {t.name for t in expected.tables} | {t.name for t in got.tables}
    for name in sorted(names):
        before, after = expected.table(name), got.table(name)
        if before is None:
            found.append(f"table {name} is new")
            continue
        if after is None:
            found.append(f"table {name} is gone")
            continue
        for column in before.columns:
            now = after.column(column.name)
            if now is None:
                found.append(f"column {name}.{column.name} is gone")
            elif now != column:
                found.append(f"column {name}.{column.describe()} is now {now.describe()}")
        for column in after.columns:
            if before.column(column.name) is None:
                found.append(f"column {name}.{column.describe()} is new")
        if before.primary_key != after.primary_key:
            found.append(
                f"the primary key of {name} was ({', '.join(before.primary_key)}), "
                f"is ({', '.join(after.primary_key)})"
            )
        old_ix = {i.name: i for i in before.indexes}
        new_ix = {i.name: i for i in after.indexes}
        for ix_name in sorted(old_ix.keys() | new_ix.keys()):
            was, now_ix = old_ix.get(ix_name), new_ix.get(ix_name)
            if now_ix is None and was is not None:
                found.append(f"index {was.describe()} on {name} is gone")
            elif was is None and now_ix is not None:
                found.append(f"index {now_ix.describe()} on {name} is new")
            elif was != now_ix and was is not None and now_ix is not None:
                found.append(f"index {was.describe()} on {name} is now {now_ix.describe()}")
        for fk in sorted(set(before.foreign_keys) - set(after.foreign_keys)):
            found.append(f"foreign key {name}.{fk} is gone")
        for fk in sorted(set(after.foreign_keys) - set(before.foreign_keys)):
            found.append(f"foreign key {name}.{fk} is new")
    return found


def type_sql(type_: Any, dialect: Dialect) -> str:
    """``type_`` as ``dialect`` prints it (``VARCHAR(100)``), or its Python name in capitals."""
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render: its Python name will do
        return type(type_).__name__.upper()


#: Generic kinds a reflected type is reported as, most specific first.
TYPE_KINDS: tuple[type[sqltypes.TypeEngine[Any]], ...] = (
    sqltypes.Boolean,
    sqltypes.DateTime,
    sqltypes.Date,
    sqltypes.Time,
    sqltypes.Interval,
    sqltypes.Integer,
    sqltypes.Float,
    sqltypes.Numeric,
    sqltypes.Enum,
    sqltypes.Text,
    sqltypes.String,
    sqltypes.LargeBinary,
    sqltypes.JSON,
)


def type_kind(type_: Any) -> str:
    """The generic SQLAlchemy type a reflected type is an instance of (``Integer``)."""
    # MySQL and MariaDB store BOOLEAN as TINYINT(1) and reflect it so.
    if isinstance(type_, mysql.TINYINT) and getattr(type_, "display_width", None) == 1:
        return sqltypes.Boolean.__name__
    for kind in TYPE_KINDS:
        if isinstance(type_, kind):
            return kind.__name__
    return type(type_).__name__


def snapshot(connection: Connection) -> DatabaseState:
    """The schema and rows of every table on ``connection`` but Alembic's own."""
    inspector = inspect(connection)
    dialect = connection.dialect
    tables = []
    rows: dict[str, tuple[Mapping[str, Any], ...]] = {}
    metadata = MetaData()
    for name in sorted(inspector.get_table_names()):
        if name == VERSION_TABLE:
            continue
        columns = tuple(
            sorted(
                (
                    ColumnState(
                        str(c["name"]),
                        type_sql(c["type"], dialect),
                        type_kind(c["type"]),
                        bool(c["nullable"]),
                    )
                    for c in inspector.get_columns(name)
                ),
                key=lambda c: c.name,
            )
        )
        primary_key = tuple(
            str(c) for c in inspector.get_pk_constraint(name).get("constrained_columns") or ()
        )
        indexes = tuple(
            sorted(
                (
                    IndexState(
                        str(i["name"]),
                        tuple(
                            str(c) if c is not None else "<expression>" for c in i["column_names"]
                        ),
                        bool(i["unique"]),
                    )
                    for i in inspector.get_indexes(name)
                ),
                key=lambda i: i.name,
            )
        )
        foreign_keys = tuple(
            sorted(
                f"{', '.join(fk['constrained_columns'])} -> "
                f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"
                for fk in inspector.get_foreign_keys(name)
            )
        )
        tables.append(TableState(str(name), columns, primary_key, indexes, foreign_keys))
        table = Table(name, metadata, autoload_with=connection)
        order = [table.c[c] for c in primary_key] or list(table.c)
        rows[str(name)] = tuple(
            {str(key): normalize(value) for key, value in row._mapping.items()}
            for row in connection.execute(select(table).order_by(*order))
        )
    return DatabaseState(tuple(tables), rows)


def populate(connection: Connection, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Insert the exercise's rows into the tables as the database has them."""
    metadata = MetaData()
    metadata.reflect(connection)
    for name, rows in data.items():
        if rows:
            connection.execute(insert(metadata.tables[name]), [dict(r) for r in rows])
