"""Query plans read from the database's own EXPLAIN, in one neutral model.

Each dialect prints its plan differently: SQLite answers ``EXPLAIN QUERY PLAN``
with one line per step, PostgreSQL ``EXPLAIN (FORMAT JSON)`` with a tree of
nodes, MySQL and MariaDB ``EXPLAIN`` with a table of one row per table access.
A reader per dialect runs the statement's EXPLAIN with the statement's own
parameters and parses the answer into a :class:`Plan`: a flat, depth-annotated
tuple of :class:`PlanNode`, each saying which table a step reads, how
(:class:`Access`), through which index and, on a partitioned table, which of
its partitions. Checks judge index usage from this
model alone; students are shown :meth:`Plan.render`, the plan laid out the way
their database prints it.

The model is `grader.analysis.plan.model`; what the readers share,
`grader.analysis.plan.reading`; one module per dialect reads its EXPLAIN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy

from grader.analysis.plan.model import INDEX_LOOKUPS, Access, Plan, PlanError, PlanNode, PlanReader
from grader.analysis.plan.mysql import MySQLPlanReader
from grader.analysis.plan.postgresql import PostgreSQLPlanReader
from grader.analysis.plan.reading import _Reader, table_aliases
from grader.analysis.plan.sqlite import SQLitePlanReader

__all__ = [
    "INDEX_LOOKUPS",
    "Access",
    "MySQLPlanReader",
    "Plan",
    "PlanError",
    "PlanNode",
    "PlanReader",
    "PostgreSQLPlanReader",
    "SQLitePlanReader",
    "explain",
    "reader_for",
    "table_aliases",
]


def reader_for(dialect_name: str) -> PlanReader:
    """Return the EXPLAIN reader for a SQLAlchemy dialect name.

    Args:
        dialect_name: ``"sqlite"``, ``"postgresql"``, ``"mysql"`` or ``"mariadb"``.

    Raises:
        PlanError: No reader knows this dialect.
    """
    return _reader(dialect_name)


def explain(
    connection: sqlalchemy.engine.Connection,
    sql: str,
    params: Any = None,
    aliases: Mapping[str, str] | None = None,
) -> Plan:
    """Explain one statement on ``connection`` with the reader of its dialect.

    Args:
        connection: Where to run EXPLAIN; the statement is planned, not executed.
        sql: The statement exactly as sent to the driver.
        params: Its driver-level parameters, as recorded (a tuple or list for
            positional styles, a dict for named ones, None for none). For an
            executemany, the first parameter set is used.
        aliases: Alias to table name, on top of those read from ``sql`` itself
            by :func:`table_aliases`.

    Raises:
        PlanError: The statement is not explainable, or the database or driver
            refused the EXPLAIN (on PostgreSQL that leaves the transaction aborted:
            roll back before reusing ``connection``).
    """
    return _reader(connection.dialect.name).explain(connection, sql, params, aliases=aliases)


_READERS: dict[str, type[_Reader]] = {
    "sqlite": SQLitePlanReader,
    "postgresql": PostgreSQLPlanReader,
    "mysql": MySQLPlanReader,
    "mariadb": MySQLPlanReader,
}


def _reader(dialect_name: str) -> _Reader:
    try:
        return _READERS[dialect_name.lower()]()
    except KeyError:
        known = ", ".join(sorted(_READERS))
        raise PlanError(
            f"no EXPLAIN reader for dialect {dialect_name!r} (known: {known})"
        ) from None
