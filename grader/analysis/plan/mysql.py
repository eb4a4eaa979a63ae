"""MySQL's and MariaDB's ``EXPLAIN``: a table of one row per table access, read into a plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy

from grader.analysis.plan.model import Access, Plan, PlanError, PlanNode
from grader.analysis.plan.reading import (
    _Reader,
)

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
