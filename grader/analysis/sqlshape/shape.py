"""What a statement's shape says: its kind, tables, filters, limits, joins, groups and columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

AGGREGATES = frozenset(
    {"COUNT", "SUM", "AVG", "MIN", "MAX", "GROUP_CONCAT", "STRING_AGG", "ARRAY_AGG", "TOTAL"}
)
"""Function names reported in :attr:`StatementShape.aggregates`."""


@dataclass(frozen=True)
class JoinInfo:
    """One join of a statement's top-level FROM clause.

    Attributes:
        kind: ``"INNER"``, ``"LEFT OUTER"``, ``"RIGHT OUTER"``, ``"FULL OUTER"`` or
            ``"CROSS"``. A plain ``JOIN`` is ``"INNER"``, ``LEFT JOIN`` is
            ``"LEFT OUTER"``, and a comma in the FROM list is ``"CROSS"``.
        table: The real table joined: lower-case, unquoted, without schema. A joined
            subquery reports the one table it reads, or ``""`` when it reads several.
        alias: The alias the joined table is known by in the statement, if any.
    """

    kind: str
    table: str
    alias: str | None


@dataclass(frozen=True)
class StatementShape:
    """What one SQL statement does, as far as the text tells.

    "Top level" means the outermost query block: a WHERE, LIMIT or GROUP BY that
    appears only inside a subquery does not count for the ``has_*`` fields. Table
    and column names are lower-case, unquoted and without schema.

    Attributes:
        sql: The statement text as given.
        kind: ``"SELECT"``, ``"INSERT"``, ``"UPDATE"``, ``"DELETE"`` or ``"OTHER"``
            (BEGIN, PRAGMA, DDL, unreadable text). ``WITH ... SELECT`` is a SELECT;
            MySQL's ``REPLACE INTO`` is an INSERT.
        tables: Every real table the statement references anywhere, subqueries and
            CTEs included (CTE names themselves are not tables).
        main_tables: The tables of the top-level FROM/JOIN list, or the target of an
            INSERT/UPDATE/DELETE (with the tables of ``UPDATE ... FROM``, ``DELETE
            ... USING`` and MySQL's multi-table forms). A subquery in the FROM list
            contributes the tables of its own FROM list.
        aliases: Alias -> real table, for aliases at any depth (``{"u": "users",
            "users_1": "users"}``). A subquery alias maps to the subquery's table
            when the subquery reads exactly one.
        has_where: Whether the top level has a WHERE.
        where_tables: Tables whose columns appear in the top-level WHERE. Qualified
            references are resolved through aliases; unqualified ones are attributed
            to the main table when there is exactly one. Columns that appear only
            inside a subquery of the WHERE are not counted.
        has_limit: Whether the top level limits its rows (LIMIT, ``FETCH FIRST n
            ROWS``, ``TOP n``). The "no limit" sentinels ``LIMIT ALL``, ``LIMIT -1``
            and MySQL's ``18446744073709551615`` do not count. The text cannot show
            parameter values: SQLAlchemy's SQLite dialect sends ``LIMIT ? OFFSET ?``
            both for a limit alone (offset bound to 0) and for an offset alone
            (limit bound to -1).
        limit: The limit as written (``"10"``, ``"?"``, ``"%(param_1)s"``, ``"%s"``),
            without a trailing ``::INTEGER`` cast; ``None`` without a limit.
        has_offset: Whether the top level has an OFFSET, including MySQL's
            ``LIMIT offset, count``.
        offset: The offset as written, or ``None``.
        joins: The top-level joins in order; the first FROM item is not a join.
        has_group_by: Whether the top level has a GROUP BY.
        has_order_by: Whether the top level has an ORDER BY.
        aggregates: Upper-case names of the aggregate functions (see
            :data:`AGGREGATES`) called in the top-level select list or HAVING.
        selected: Real table -> names of its columns read by the top-level select
            list (or RETURNING list). ``"*"`` stands for ``t.*`` or a bare ``*``;
            columns read through a subquery alias are traced back to the subquery's
            table; columns inside expressions (``lower(users.email)``) count too.
            Unqualified columns go to the main table when there is one, otherwise
            to the key ``""``.
        selects_expressions: Whether the select list has items other than plain
            columns: function calls, literals, parameters, arithmetic, subqueries.
        fingerprint: A normalized form of the statement; see :func:`fingerprint`.
        has_distinct: Whether the top level removes duplicates: ``SELECT
            DISTINCT`` (``DISTINCT ON`` too), an aggregate over ``DISTINCT``
            (``COUNT(DISTINCT …)``) in the select list or HAVING, or a compound
            ``UNION`` / ``INTERSECT`` / ``EXCEPT`` without ``ALL``; or its first
            FROM item is a subquery that does (``count(*) FROM (SELECT DISTINCT
            …)``). DISTINCT only inside a WHERE subquery does not count.
    """

    sql: str
    kind: str
    tables: frozenset[str]
    main_tables: frozenset[str]
    aliases: Mapping[str, str] = field(hash=False)
    has_where: bool
    where_tables: frozenset[str]
    has_limit: bool
    limit: str | None
    has_offset: bool
    offset: str | None
    joins: tuple[JoinInfo, ...]
    has_group_by: bool
    has_order_by: bool
    aggregates: frozenset[str]
    selected: Mapping[str, frozenset[str]] = field(hash=False)
    selects_expressions: bool
    fingerprint: str
    has_distinct: bool = False
