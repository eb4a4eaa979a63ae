"""SQLite's ``EXPLAIN QUERY PLAN``: one line per step, read into a plan."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy

from grader.analysis.plan.model import Access, Plan, PlanError, PlanNode
from grader.analysis.plan.reading import (
    _Reader,
)

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
