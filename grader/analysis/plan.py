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
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy
from sqlalchemy import exc as sa_exc

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


_NAME = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_TOKENS_TO_BLANK = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.S)
_FROM_KEYWORD = re.compile(r"\b(FROM|JOIN)\b", re.I)
_FROM_ITEM = re.compile(
    rf"\s*(?P<table>{_NAME}(?:\s*\.\s*{_NAME})*)(?P<alias>\s+(?:AS\s+)?{_NAME})?", re.I
)
_ITEM_SEPARATOR = re.compile(r"\s*,")
_NOT_ALIASES = frozenset(
    [
        "AND",
        "AS",
        "CROSS",
        "DEFAULT",
        "EXCEPT",
        "FETCH",
        "FOR",
        "FORCE",
        "FULL",
        "GROUP",
        "HAVING",
        "IGNORE",
        "INDEXED",
        "INNER",
        "INTERSECT",
        "INTO",
        "JOIN",
        "LATERAL",
        "LEFT",
        "LIMIT",
        "LOCK",
        "MINUS",
        "NATURAL",
        "NOT",
        "OFFSET",
        "ON",
        "OR",
        "ORDER",
        "OUTER",
        "PARTITION",
        "QUALIFY",
        "RETURNING",
        "RIGHT",
        "SELECT",
        "SET",
        "STRAIGHT_JOIN",
        "TABLESAMPLE",
        "UNION",
        "USE",
        "USING",
        "VALUES",
        "WHERE",
        "WINDOW",
        "WITH",
    ]
)


def table_aliases(sql: str) -> dict[str, str]:
    """Read the table aliases a statement declares in its FROM and JOIN clauses.

    SQLite (3.36 and later) and MySQL name a table in their plans by its alias
    only, so ``SCAN u`` must be traced back to ``users AS u``; SQLAlchemy writes
    such aliases for ``aliased()`` and eager loads (``tasks AS tasks_1``).
    Subqueries (``(SELECT ...) AS anon_1``) have no table and are left out.

    Args:
        sql: The statement's text.

    Returns:
        Lower-case alias to lower-case table name (schema dropped).
    """
    text = _TOKENS_TO_BLANK.sub(lambda m: "''" if m.group(0).startswith("'") else " ", sql)
    aliases: dict[str, str] = {}
    for keyword in _FROM_KEYWORD.finditer(text):
        position = keyword.end()
        while (item := _FROM_ITEM.match(text, position)) is not None:
            table = _unquote(re.findall(_NAME, item.group("table"))[-1]).lower()
            declared = item.group("alias")
            end = item.end("table")
            if declared is not None:
                alias = _unquote(re.findall(_NAME, declared)[-1])
                if alias.upper() not in _NOT_ALIASES:
                    end = item.end()
                    if alias.lower() != table:
                        aliases[alias.lower()] = table
            separator = _ITEM_SEPARATOR.match(text, end)
            if keyword.group(1).upper() != "FROM" or separator is None:
                break
            position = separator.end()
    return aliases


def _unquote(name: str) -> str:
    if name[:1] in {'"', "`", "["}:
        return name[1:-1]
    return name


_EXPLAINABLE = frozenset(
    {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "VALUES", "TABLE"}
)
_LEADING_NOISE = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/|\()*", re.S)
_FIRST_WORD = re.compile(r"[A-Za-z]+")


def _require_explainable(sql: str) -> None:
    if not isinstance(sql, str):
        raise PlanError(f"cannot explain a {type(sql).__name__}: the statement must be SQL text")
    start = _LEADING_NOISE.match(sql)
    word = _FIRST_WORD.match(sql, start.end() if start else 0)
    if word is None:
        raise PlanError("cannot explain an empty statement")
    keyword = word.group(0).upper()
    if keyword not in _EXPLAINABLE:
        raise PlanError(
            f"cannot explain a {keyword} statement: only queries and data changes"
            " (SELECT, WITH, INSERT, UPDATE, DELETE, ...) have a plan"
        )


def _driver_params(params: Any) -> Any:
    """Shape recorded parameters for ``exec_driver_sql``: one set, never a list of scalars."""
    if isinstance(params, list):
        if not params:
            return None
        if all(isinstance(each, tuple | Mapping) for each in params):
            return params[0]
        return tuple(params)
    return params


def _normalize_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    return {str(alias).lower(): str(table).lower() for alias, table in (aliases or {}).items()}


def _reason(error: sa_exc.SQLAlchemyError) -> str:
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _Reader:
    """What every dialect's reader shares: running EXPLAIN safely."""

    dialect: str = ""
    _explain_prefix: str = ""

    def explain(
        self,
        connection: sqlalchemy.engine.Connection,
        sql: str,
        params: Any = None,
        *,
        aliases: Mapping[str, str] | None = None,
    ) -> Plan:
        """Run EXPLAIN for ``sql`` with its driver-level ``params`` and parse the answer.

        Args:
            connection: Where to run EXPLAIN.
            sql: The statement exactly as sent to the driver.
            params: Its driver-level parameters (see :func:`explain`).
            aliases: Alias to table name, on top of those read from ``sql``.

        Raises:
            PlanError: The statement is not explainable or EXPLAIN failed.
        """
        _require_explainable(sql)
        known = {**table_aliases(sql), **_normalize_aliases(aliases)}
        try:
            result = connection.exec_driver_sql(
                self._prefix(connection) + sql, _driver_params(params)
            )
            raw = self._fetch(result)
            primary_keys = self._primary_keys(connection, raw)
            partition_of = self._partition_of(connection, raw)
        except sa_exc.SQLAlchemyError as error:
            raise PlanError(
                f"{self.dialect} could not explain the statement: {_reason(error)}"
            ) from error
        return self._build(raw, known, primary_keys, partition_of)

    def parse(
        self,
        raw: Any,
        aliases: Mapping[str, str] | None = None,
        *,
        primary_keys: Collection[str] = (),
        partition_of: Mapping[str, str] | None = None,
    ) -> Plan:
        """Parse EXPLAIN output already fetched.

        Args:
            raw: The EXPLAIN answer, as :meth:`explain` fetches it (see the
                dialect's reader for its shape).
            aliases: Alias to real table name, for plans that name tables by alias.
            primary_keys: Names of indexes known to be primary keys, beyond the
                ones the dialect names recognisably.
            partition_of: Partition to its partitioned table, for plans that
                name the partition read (PostgreSQL); the catalog tells when
                explaining live.

        Raises:
            PlanError: ``raw`` is not EXPLAIN output of this dialect.
        """
        return self._build(
            raw,
            _normalize_aliases(aliases),
            frozenset(primary_keys),
            _normalize_aliases(partition_of),
        )

    def _prefix(self, connection: sqlalchemy.engine.Connection) -> str:
        return self._explain_prefix

    def _fetch(self, result: sqlalchemy.engine.CursorResult[Any]) -> Any:
        raise NotImplementedError

    def _primary_keys(self, connection: sqlalchemy.engine.Connection, raw: Any) -> frozenset[str]:
        return frozenset()

    def _partition_of(self, connection: sqlalchemy.engine.Connection, raw: Any) -> dict[str, str]:
        return {}

    def _build(
        self,
        raw: Any,
        aliases: Mapping[str, str],
        primary_keys: frozenset[str],
        partition_of: Mapping[str, str],
    ) -> Plan:
        raise NotImplementedError


# --- SQLite ---------------------------------------------------------------------------

_SQLITE_STEP = re.compile(
    r"^(?P<verb>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<source>SUBQUERY\s+\d+|\S+)"
    r"(?:\s+AS\s+(?P<alias>\S+))?"
    r"(?:\s+(?P<virtual>VIRTUAL\s+TABLE\b.*?)|\s+USING\s+(?P<using>.*?))?"
    r"(?:\s+(?:LEFT|RIGHT)-JOIN)?$"
)
_SQLITE_USING = re.compile(
    r"^(?:(?P<automatic>AUTOMATIC\s)"
    r"|(?P<integer_pk>INTEGER\s+PRIMARY\s+KEY\b)"
    r"|(?P<pk>PRIMARY\s+KEY\b)"
    r"|(?P<covering>COVERING\s+)?INDEX\s+(?P<index>[^\s(]+))"
)
_SQLITE_RESULT_NAME = re.compile(r"^(?:CO-ROUTINE|MATERIALIZE)\s+(?P<name>\S+)")
_SQLITE_ROW_ESTIMATE = re.compile(r"\s*\(~\d+ rows?\)$")
_SQLITE_AUTOINDEX = re.compile(r"\bINDEX\s+(sqlite_autoindex_\S+)")


@dataclass(frozen=True)
class _SQLiteRow:
    id: int
    parent: int
    detail: str


class SQLitePlanReader(_Reader):
    """Reads ``EXPLAIN QUERY PLAN``: rows of (id, parent, notused, detail).

    Both wordings are understood: 3.36 and later print ``SCAN u`` (the alias
    alone when there is one), ``SEARCH u USING INDEX ix (email=?)``; 3.24 to 3.35
    printed ``SCAN TABLE users AS u``, ``SCAN SUBQUERY 1 AS anon_1``.
    """

    dialect = "sqlite"
    _explain_prefix = "EXPLAIN QUERY PLAN "

    def _fetch(self, result: sqlalchemy.engine.CursorResult[Any]) -> Any:
        return [tuple(row) for row in result]

    def _primary_keys(self, connection: sqlalchemy.engine.Connection, raw: Any) -> frozenset[str]:
        # A non-integer primary key is served by an automatic index, named like a
        # UNIQUE constraint's; only the catalog tells them apart.
        names = {
            found.group(1)
            for row in _sqlite_rows(raw)
            if (found := _SQLITE_AUTOINDEX.search(row.detail)) is not None
        }
        if not names:
            return frozenset()
        result = connection.exec_driver_sql(
            "SELECT il.name FROM sqlite_master AS m JOIN pragma_index_list(m.name) AS il"
            " WHERE m.type = 'table' AND il.origin = 'pk'"
        )
        return frozenset(str(name) for name in result.scalars()) & names

    def _build(
        self,
        raw: Any,
        aliases: Mapping[str, str],
        primary_keys: frozenset[str],
        partition_of: Mapping[str, str],
    ) -> Plan:
        rows = _sqlite_rows(raw)
        results = {
            found.group("name").lower()
            for row in rows
            if (found := _SQLITE_RESULT_NAME.match(row.detail)) is not None
        }
        nodes: list[PlanNode] = []
        lines = ["QUERY PLAN"]
        for row, depth, prefix in _sqlite_tree(rows):
            lines.append(prefix + row.detail)
            nodes.append(_sqlite_node(row.detail, depth, aliases, results, primary_keys))
        return Plan(dialect=self.dialect, nodes=tuple(nodes), raw="\n".join(lines))


def _sqlite_rows(raw: Any) -> list[_SQLiteRow]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise PlanError(
            f"SQLite plan must be rows of (id, parent, notused, detail), not {type(raw).__name__}"
        )
    rows = []
    for row in raw:
        if isinstance(row, str | bytes) or not isinstance(row, Sequence) or len(row) < 4:
            raise PlanError(f"SQLite plan row must be (id, parent, notused, detail), not {row!r}")
        try:
            rows.append(_SQLiteRow(id=int(row[0]), parent=int(row[1]), detail=str(row[3])))
        except (TypeError, ValueError) as error:
            raise PlanError(f"SQLite plan row has no integer id and parent: {row!r}") from error
    return rows


def _sqlite_tree(rows: list[_SQLiteRow]) -> Iterator[tuple[_SQLiteRow, int, str]]:
    """Walk the rows depth-first, with each row's depth and the CLI's tree prefix."""
    ids = {row.id for row in rows}
    children: dict[int | None, list[_SQLiteRow]] = {}
    for row in rows:
        parent = row.parent if row.parent in ids and row.parent != row.id else None
        children.setdefault(parent, []).append(row)
    seen: set[int] = set()

    def walk(parent: int | None, depth: int, indent: str) -> Iterator[tuple[_SQLiteRow, int, str]]:
        siblings = [row for row in children.get(parent, []) if row.id not in seen]
        for position, row in enumerate(siblings):
            seen.add(row.id)
            last = position == len(siblings) - 1
            yield row, depth, indent + ("`--" if last else "|--")
            yield from walk(row.id, depth + 1, indent + ("   " if last else "|  "))

    yield from walk(None, 0, "")
    # Rows caught in a parent cycle are kept, at the top level.
    for row in rows:
        if row.id not in seen:
            seen.add(row.id)
            yield row, 0, "`--"


def _sqlite_node(
    detail: str,
    depth: int,
    aliases: Mapping[str, str],
    results: Collection[str],
    primary_keys: frozenset[str],
) -> PlanNode:
    if detail.startswith("USE TEMP B-TREE"):
        return PlanNode(Access.TEMP_BTREE, None, None, None, detail, depth)
    step = _SQLITE_STEP.match(_SQLITE_ROW_ESTIMATE.sub("", detail))
    if step is None:
        return PlanNode(Access.OTHER, None, None, None, detail, depth)
    source, alias = step.group("source"), step.group("alias")
    if source.upper().startswith("SUBQUERY") or source.startswith("("):
        # A subquery's or CTE's result: it has no table unless the caller maps it.
        name = alias or None
        table = aliases.get(name.lower()) if name else None
        return PlanNode(Access.OTHER, table, name, None, detail, depth)
    if alias is None and source.lower() in aliases:
        # 3.36+ names an aliased table by its alias only.
        alias, target = source, aliases[source.lower()]
    else:
        target = source.lower()
    if target in results:
        return PlanNode(Access.OTHER, None, alias or source, None, detail, depth)
    if step.group("virtual"):
        return PlanNode(Access.OTHER, target, alias, None, detail, depth)
    access, index = _sqlite_access(step.group("verb"), step.group("using"), primary_keys)
    return PlanNode(access, target, alias, index, detail, depth)


def _sqlite_access(
    verb: str, using: str | None, primary_keys: frozenset[str]
) -> tuple[Access, str | None]:
    searching = verb == "SEARCH"
    if using is None:
        # A bare SEARCH is min()/max() seeking an end of the rowid b-tree.
        return (Access.PRIMARY_KEY if searching else Access.FULL_SCAN), None
    found = _SQLITE_USING.match(using)
    if found is None:
        return Access.OTHER, None
    if found.group("automatic"):
        return Access.FULL_SCAN, None
    if found.group("integer_pk") or found.group("pk"):
        return (Access.PRIMARY_KEY if searching else Access.INDEX_SCAN), None
    index = found.group("index")
    if not searching:
        return Access.INDEX_SCAN, index
    if index in primary_keys:
        return Access.PRIMARY_KEY, index
    return (Access.COVERING_INDEX if found.group("covering") else Access.INDEX_SEARCH), index


# --- PostgreSQL -----------------------------------------------------------------------

# In the order PostgreSQL's text format prints them.
_PG_CONDITIONS = (
    "Sort Key",
    "Presorted Key",
    "Group Key",
    "Cache Key",
    "Index Cond",
    "Order By",
    "Recheck Cond",
    "TID Cond",
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
    "One-Time Filter",
    "Filter",
    "Subplans Removed",
)
_PG_AGGREGATES = {"Hashed": "HashAggregate", "Sorted": "GroupAggregate", "Mixed": "MixedAggregate"}
_PG_JOINS = {"Hash Join", "Merge Join", "Nested Loop"}
_PG_INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
_PG_BITMAP_PARENTS = {"Bitmap Heap Scan", "BitmapAnd", "BitmapOr"}
# pg_partition_root (PostgreSQL 12+) climbs every level of a partition tree.
_PG_PARTITION_ROOTS = sqlalchemy.text(
    "SELECT c.relname, pg_catalog.pg_partition_root(c.oid)::regclass::text"
    " FROM pg_catalog.pg_class AS c"
    " WHERE c.relispartition AND c.relkind = 'r' AND c.relname IN :names"
    " AND pg_catalog.pg_table_is_visible(c.oid)"
).bindparams(sqlalchemy.bindparam("names", expanding=True))
_PG_PRIMARY_KEYS = sqlalchemy.text(
    "SELECT c.relname FROM pg_catalog.pg_index AS i"
    " JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid"
    " WHERE i.indisprimary AND c.relname IN :names"
).bindparams(sqlalchemy.bindparam("names", expanding=True))


@dataclass(frozen=True)
class _PGFacts:
    """What the catalog (or the caller) tells about the names a PostgreSQL plan shows."""

    aliases: Mapping[str, str]
    primary_keys: frozenset[str]
    partition_of: Mapping[str, str]


class PostgreSQLPlanReader(_Reader):
    """Reads ``EXPLAIN (FORMAT JSON)``: the JSON document, parsed or as text.

    An index is taken for the primary key when its name ends in ``_pkey``
    (PostgreSQL's default) or, when explaining live, the catalog says so. A
    scan of a partition is a step on its partitioned table that reads that
    partition; the catalog (or ``partition_of``) says which table that is.
    Partitions pruned when the executor starts (run-time pruning) are left out
    of the plan: PostgreSQL counts them as ``Subplans Removed``.
    """

    dialect = "postgresql"
    _explain_prefix = "EXPLAIN (FORMAT JSON) "

    def _fetch(self, result: sqlalchemy.engine.CursorResult[Any]) -> Any:
        return result.scalar_one()

    def _primary_keys(self, connection: sqlalchemy.engine.Connection, raw: Any) -> frozenset[str]:
        names = sorted(
            {str(node["Index Name"]) for node, _ in _pg_walk(_pg_root(raw)) if "Index Name" in node}
        )
        if not names:
            return frozenset()
        return frozenset(connection.execute(_PG_PRIMARY_KEYS, {"names": names}).scalars())

    def _partition_of(self, connection: sqlalchemy.engine.Connection, raw: Any) -> dict[str, str]:
        names = sorted(
            {
                str(node["Relation Name"])
                for node, _ in _pg_walk(_pg_root(raw))
                if "Relation Name" in node
            }
        )
        if not names:
            return {}
        found = connection.execute(_PG_PARTITION_ROOTS, {"names": names}).all()
        return {str(partition).lower(): str(root).lower() for partition, root in found}

    def _build(
        self,
        raw: Any,
        aliases: Mapping[str, str],
        primary_keys: frozenset[str],
        partition_of: Mapping[str, str],
    ) -> Plan:
        nodes: list[PlanNode] = []
        lines: list[str] = []
        facts = _PGFacts(aliases, primary_keys, partition_of)
        self._visit(_pg_root(raw), 0, 0, None, facts, nodes, lines)
        return Plan(dialect=self.dialect, nodes=tuple(nodes), raw="\n".join(lines))

    def _visit(
        self,
        node: Mapping[str, Any],
        depth: int,
        indent: int,
        heap: tuple[str | None, str | None, tuple[str, ...]] | None,
        facts: _PGFacts,
        nodes: list[PlanNode],
        lines: list[str],
    ) -> None:
        # Indentation follows PostgreSQL's text format (explain.c: two spaces a level,
        # "->  " before every child, sub-plan names on a line of their own).
        header = _pg_header(node)
        if subplan := node.get("Subplan Name"):
            lines.append("  " * indent + str(subplan))
            indent += 1
        if indent:
            lines.append("  " * indent + "->  " + header + _pg_cost(node))
            indent += 2
        else:
            lines.append(header + _pg_cost(node))
        indent += 1
        conditions = [f"{key}: {_pg_value(node[key])}" for key in _PG_CONDITIONS if key in node]
        lines.extend("  " * indent + condition for condition in conditions)
        detail = "; ".join([header, *conditions])
        nodes.append(_pg_node(node, detail, depth, heap, facts))

        kind = node.get("Node Type")
        if kind == "Bitmap Heap Scan":
            heap = (nodes[-1].table, nodes[-1].alias, nodes[-1].partitions)
        elif kind not in _PG_BITMAP_PARENTS:
            heap = None
        for child in _pg_children(node):
            self._visit(child, depth + 1, indent, heap, facts, nodes, lines)


def _pg_root(raw: Any) -> Mapping[str, Any]:
    document = raw
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise PlanError(f"PostgreSQL plan is not JSON: {error}") from error
    if isinstance(document, Sequence) and not isinstance(document, str | bytes):
        if len(document) != 1:
            raise PlanError(f"PostgreSQL JSON plan must hold one plan, not {len(document)}")
        document = document[0]
    if isinstance(document, Mapping) and "Plan" in document:
        document = document["Plan"]
    if not isinstance(document, Mapping) or "Node Type" not in document:
        raise PlanError("PostgreSQL JSON plan has no 'Plan' node with a 'Node Type'")
    return document


def _pg_children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    children = node.get("Plans", [])
    if not isinstance(children, list) or not all(isinstance(c, Mapping) for c in children):
        raise PlanError(f"PostgreSQL plan node {node.get('Node Type')!r} has malformed 'Plans'")
    return children


def _pg_walk(node: Mapping[str, Any], depth: int = 0) -> Iterator[tuple[Mapping[str, Any], int]]:
    yield node, depth
    for child in _pg_children(node):
        yield from _pg_walk(child, depth + 1)


def _pg_header(node: Mapping[str, Any]) -> str:
    kind = str(node.get("Node Type"))
    if kind == "Aggregate":
        kind = _PG_AGGREGATES.get(str(node.get("Strategy")), kind)
    elif kind in _PG_JOINS and node.get("Join Type", "Inner") != "Inner":
        join = node["Join Type"]
        kind = f"Nested Loop {join} Join" if kind == "Nested Loop" else f"{kind[:-5]} {join} Join"
    elif kind == "ModifyTable" and "Operation" in node:
        kind = str(node["Operation"])
    if node.get("Parallel Aware"):
        kind = f"Parallel {kind}"
    if node.get("Scan Direction") == "Backward":
        kind += " Backward"
    if "Index Name" in node:
        verb = "on" if node.get("Node Type") == "Bitmap Index Scan" else "using"
        kind += f" {verb} {node['Index Name']}"
    name = node.get("Relation Name") or node.get("CTE Name") or node.get("Function Name")
    alias = node.get("Alias")
    if name:
        kind += f" on {name}" + (f" {alias}" if alias and alias != name else "")
    elif alias:
        kind += f" on {alias}"
    return kind


def _pg_cost(node: Mapping[str, Any]) -> str:
    try:
        return (
            f"  (cost={float(node['Startup Cost']):.2f}..{float(node['Total Cost']):.2f}"
            f" rows={node['Plan Rows']} width={node['Plan Width']})"
        )
    except (KeyError, TypeError, ValueError):
        return ""


def _pg_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(each) for each in value)
    return str(value)


def _pg_alias(node: Mapping[str, Any]) -> str | None:
    alias = node.get("Alias")
    return str(alias) if alias and alias != node.get("Relation Name") else None


def _lower(name: Any) -> str | None:
    return str(name).lower() if name else None


def _pg_node(
    node: Mapping[str, Any],
    detail: str,
    depth: int,
    heap: tuple[str | None, str | None, tuple[str, ...]] | None,
    facts: _PGFacts,
) -> PlanNode:
    aliases, primary_keys = facts.aliases, facts.primary_keys
    kind = node.get("Node Type")
    table, alias = _lower(node.get("Relation Name")), _pg_alias(node)
    partitions: tuple[str, ...] = ()
    if table is not None and table in facts.partition_of:
        table, partitions = facts.partition_of[table], (table,)
    index = str(node["Index Name"]) if "Index Name" in node else None
    if table is None and alias is not None:
        # A subquery or CTE result, known by its alias only.
        table = aliases.get(alias.lower())
    if kind == "Seq Scan":
        access = Access.FULL_SCAN
    elif kind in _PG_INDEX_SCANS:
        if kind == "Bitmap Index Scan" and heap is not None:
            table, alias, partitions = heap
        if kind != "Bitmap Index Scan" and "Index Cond" not in node:
            access = Access.INDEX_SCAN
        elif index is not None and (index in primary_keys or index.endswith("_pkey")):
            access = Access.PRIMARY_KEY
        elif kind == "Index Only Scan":
            access = Access.COVERING_INDEX
        else:
            access = Access.INDEX_SEARCH
    elif kind in {"Sort", "Incremental Sort"}:
        access = Access.TEMP_BTREE
    else:
        access = Access.OTHER
    return PlanNode(access, table, alias, index, detail, depth, partitions)


# --- MySQL / MariaDB ------------------------------------------------------------------

_MARIADB_COLUMNS = (
    "id",
    "select_type",
    "table",
    "type",
    "possible_keys",
    "key",
    "key_len",
    "ref",
    "rows",
    "Extra",
)
_MARIADB_PARTITIONS_COLUMNS = (*_MARIADB_COLUMNS[:3], "partitions", *_MARIADB_COLUMNS[3:])
_MYSQL_COLUMNS = (*_MARIADB_COLUMNS[:3], "partitions", *_MARIADB_COLUMNS[3:9], "filtered", "Extra")
_MYSQL_SEARCHES = {
    "const",
    "eq_ref",
    "ref",
    "range",
    "ref_or_null",
    "index_merge",
    "fulltext",
    "unique_subquery",
    "index_subquery",
}
_MYSQL_TOP_LEVEL = {"SIMPLE", "PRIMARY", "UNION RESULT", "INSERT", "UPDATE", "DELETE"}
_MYSQL_SORTS = ("Using temporary", "Using filesort")


class MySQLPlanReader(_Reader):
    """Reads tabular ``EXPLAIN`` of MySQL and MariaDB.

    Rows are mappings keyed by column name, or sequences in the column order of
    MariaDB (10 columns; 11 with ``EXPLAIN PARTITIONS``) or MySQL 8 (12 columns,
    with partitions and filtered). The ``table`` column shows aliases, resolved
    through the alias map; ``<derived2>``, ``<subquery2>`` and ``<union1,2>``
    read no table of the schema. The ``partitions`` column (``p2024_02,p2024_03``)
    names the partitions a step reads; it is shown only when some step has one.
    """

    dialect = "mysql"
    _explain_prefix = "EXPLAIN "

    def _prefix(self, connection: sqlalchemy.engine.Connection) -> str:
        # MariaDB shows the partitions column only when asked; MySQL 8 always
        # shows it and refuses the PARTITIONS keyword.
        if getattr(connection.dialect, "is_mariadb", False):
            return "EXPLAIN PARTITIONS "
        return self._explain_prefix

    def _fetch(self, result: sqlalchemy.engine.CursorResult[Any]) -> Any:
        columns = list(result.keys())
        return [dict(zip(columns, row, strict=True)) for row in result]

    def _build(
        self,
        raw: Any,
        aliases: Mapping[str, str],
        primary_keys: frozenset[str],
        partition_of: Mapping[str, str],
    ) -> Plan:
        rows = _mysql_rows(raw)
        nodes: list[PlanNode] = []
        for row in rows:
            nodes.extend(_mysql_nodes(row, aliases))
        return Plan(dialect=self.dialect, nodes=tuple(nodes), raw=_mysql_table(rows))


def _mysql_rows(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        raise PlanError(f"MySQL plan must be a sequence of EXPLAIN rows, not {type(raw).__name__}")
    rows = []
    for row in raw:
        if isinstance(row, Mapping):
            rows.append({str(key): value for key, value in row.items()})
        elif isinstance(row, Sequence) and not isinstance(row, str | bytes):
            columns = {
                10: _MARIADB_COLUMNS,
                11: _MARIADB_PARTITIONS_COLUMNS,
                12: _MYSQL_COLUMNS,
            }.get(len(row))
            if columns is None:
                raise PlanError(f"MySQL EXPLAIN row has {len(row)} columns, expected 10, 11 or 12")
            rows.append(dict(zip(columns, row, strict=True)))
        else:
            raise PlanError(f"MySQL EXPLAIN row must be a mapping or a sequence, not {row!r}")
    return rows


def _mysql_nodes(row: Mapping[str, Any], aliases: Mapping[str, str]) -> list[PlanNode]:
    column = {key.lower(): value for key, value in row.items()}
    select_type = str(column.get("select_type") or "")
    name = column.get("table")
    join_type = str(column.get("type") or "").lower().removeprefix("hash_")
    key = column.get("key")
    extras = [part.strip() for part in str(column.get("extra") or "").split(";") if part.strip()]
    depth = 0 if select_type.upper() in _MYSQL_TOP_LEVEL else 1

    table: str | None
    alias: str | None
    if not name or str(name).startswith("<"):
        table = alias = None
    elif str(name).lower() in aliases:
        table, alias = aliases[str(name).lower()], str(name)
    else:
        table, alias = str(name).lower(), None

    if table is None or select_type.upper() == "INSERT":
        access = Access.OTHER
    elif join_type == "all":
        access = Access.FULL_SCAN
    elif join_type == "index":
        access = Access.INDEX_SCAN
    elif join_type in _MYSQL_SEARCHES:
        if str(key).upper() == "PRIMARY":
            access = Access.PRIMARY_KEY
        elif any(e == "Using index" or e.startswith("Using index for") for e in extras):
            access = Access.COVERING_INDEX
        else:
            access = Access.INDEX_SEARCH
    else:
        access = Access.OTHER

    facts = [f"type={column.get('type')}"]
    facts += [f"{label}={column[label]}" for label in ("key", "ref", "rows") if column.get(label)]
    where = f"{select_type} {name}".strip()
    detail = f"{where}: {', '.join(facts)}" + (f" ({'; '.join(extras)})" if extras else "")
    partitions = tuple(
        part.strip() for part in str(column.get("partitions") or "").split(",") if part.strip()
    )
    if partitions:
        detail += f" [partitions {','.join(partitions)}]"
    nodes = [PlanNode(access, table, alias, str(key) if key else None, detail, depth, partitions)]
    sorts = [extra for extra in extras if extra.startswith(_MYSQL_SORTS)]
    if sorts:
        nodes.append(
            PlanNode(Access.TEMP_BTREE, None, None, None, f"{where}: {'; '.join(sorts)}", depth)
        )
    return nodes


def _mysql_table(rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    if all(row.get("partitions") is None for row in rows):
        # No partitioned table read: the plan as a plain EXPLAIN prints it.
        columns = [c for c in columns if c != "partitions"]
    if not columns:
        return ""
    cells = [columns] + [
        ["NULL" if row.get(c) is None else str(row[c]) for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


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
