"""PostgreSQL's ``EXPLAIN (FORMAT JSON)``: a tree of nodes, read into a plan."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy

from grader.analysis.plan.model import Access, Plan, PlanError, PlanNode
from grader.analysis.plan.reading import (
    _Reader,
)

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
