"""What every dialect's reader shares: table aliases read from the SQL, running EXPLAIN safely."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy
from sqlalchemy import exc as sa_exc

from grader.analysis.plan.model import Plan, PlanError

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
