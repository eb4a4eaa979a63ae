"""The neutral plan model every dialect's EXPLAIN is read into, and the reader protocol."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy


class PlanError(Exception):
    """No plan could be had for a statement.

    Either the statement is not explainable, the database or driver refused the
    EXPLAIN, or its output could not be read; the message says which.
    """


class Access(enum.StrEnum):
    """How one step of a plan reaches its rows, whatever the dialect."""

    FULL_SCAN = "full_scan"
    """Every row of the table is read: SQLite ``SCAN t``, PostgreSQL ``Seq Scan``,
    MySQL type ``ALL``. SQLite's ``AUTOMATIC ... INDEX`` counts too: SQLite builds
    that throw-away index by reading the whole table on every run."""
    INDEX_SCAN = "index_scan"
    """A full pass over an index, in index order but without a search: SQLite
    ``SCAN t USING (COVERING) INDEX i``, PostgreSQL Index (Only) Scan without an
    Index Cond, MySQL type ``index``."""
    INDEX_SEARCH = "index_search"
    """A search of a secondary index for the matching rows: SQLite
    ``SEARCH t USING INDEX i (col=?)``, PostgreSQL Index Scan or Bitmap Index Scan
    with an Index Cond, MySQL ``ref``/``range``/``eq_ref``/``ref_or_null``/
    ``index_merge``."""
    COVERING_INDEX = "covering_index"
    """An index search answered from the index alone, without the table: SQLite
    ``SEARCH t USING COVERING INDEX i``, PostgreSQL Index Only Scan with an Index
    Cond, MySQL ``ref``/``range`` with Extra ``Using index``."""
    PRIMARY_KEY = "primary_key"
    """A search on the primary key: SQLite ``USING INTEGER PRIMARY KEY`` or
    ``USING PRIMARY KEY``, PostgreSQL index search on the table's primary key
    index, MySQL ``const``/``eq_ref``/``ref``/``range`` on key ``PRIMARY``."""
    TEMP_BTREE = "temp_btree"
    """Rows sorted or de-duplicated in a temporary structure: SQLite
    ``USE TEMP B-TREE FOR ...``, PostgreSQL Sort, MySQL Extra ``Using temporary``
    or ``Using filesort``."""
    OTHER = "other"
    """Any other step: subquery and CTE markers, joins, aggregates, limits, hashes."""


INDEX_LOOKUPS: frozenset[Access] = frozenset(
    {Access.INDEX_SEARCH, Access.COVERING_INDEX, Access.PRIMARY_KEY}
)
"""The kinds of access that find rows through an index instead of reading them all."""


@dataclass(frozen=True)
class PlanNode:
    """One step of a plan."""

    access: Access
    """How the step reaches its rows."""
    table: str | None
    """The real table read, lower-case, with aliases resolved; None for steps that
    read no table of the schema (sorts, joins, subquery and CTE results)."""
    alias: str | None
    """The alias the statement gave the table, when the plan shows one."""
    index: str | None
    """The index used, named as the database reports it."""
    detail: str
    """The database's own words for this step, to show the student."""
    depth: int = 0
    """Nesting level in the plan tree; 0 for top-level steps."""
    partitions: tuple[str, ...] = ()
    """The partitions of ``table`` the step reads, named as the database names them
    (PostgreSQL: the partition's own table, ``table`` being its partitioned root;
    MariaDB/MySQL: the ``partitions`` column, ``p2024_03``); empty when the table
    is not partitioned."""

    @property
    def uses_index(self) -> bool:
        """Whether the step finds its rows by searching an index."""
        return self.access in INDEX_LOOKUPS


@dataclass(frozen=True)
class Plan:
    """A statement's plan as one dialect-neutral sequence of steps."""

    dialect: str
    """``"sqlite"``, ``"postgresql"`` or ``"mysql"`` (MariaDB included)."""
    nodes: tuple[PlanNode, ...]
    """The steps, in the order the database prints them (depth-first)."""
    raw: str
    """The plan laid out as the database shows it, for humans."""

    def for_table(self, table: str) -> tuple[PlanNode, ...]:
        """Return the steps that read ``table`` (its real name, any case)."""
        wanted = table.lower()
        return tuple(node for node in self.nodes if node.table == wanted)

    def partitions_of(self, table: str) -> tuple[str, ...]:
        """Return the partitions of ``table`` the plan reads, each once, in plan order.

        Empty when the plan reads no partition of it: the table is not
        partitioned, or the database pruned every partition.
        """
        found: dict[str, None] = {}
        for node in self.for_table(table):
            found.update(dict.fromkeys(node.partitions))
        return tuple(found)

    def full_scans(self) -> tuple[PlanNode, ...]:
        """Return the steps that read a whole table."""
        return tuple(node for node in self.nodes if node.access is Access.FULL_SCAN)

    def uses_index_on(self, table: str) -> bool:
        """Return whether some step finds rows of ``table`` by searching an index.

        An index search, a covering index search or a primary-key search counts;
        a full pass over an index does not.
        """
        return any(node.uses_index for node in self.for_table(table))

    def render(self) -> str:
        """Return the plan as text, laid out the way the database prints it."""
        return self.raw


class PlanReader(Protocol):
    """Runs and reads EXPLAIN for one dialect."""

    dialect: str

    def explain(self, connection: sqlalchemy.engine.Connection, sql: str, params: Any) -> Plan:
        """Run EXPLAIN for ``sql`` with its driver-level ``params`` and parse the answer."""
        ...

    def parse(
        self,
        raw: Any,
        aliases: Mapping[str, str] | None = None,
        *,
        primary_keys: Collection[str] = (),
        partition_of: Mapping[str, str] | None = None,
    ) -> Plan:
        """Parse EXPLAIN output already fetched, resolving table aliases through ``aliases``."""
        ...
