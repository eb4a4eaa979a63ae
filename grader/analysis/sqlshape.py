"""The shape of one SQL statement: what it reads, how it filters, limits, joins and groups.

Checks judge *how* a submission talks to the database, and most of that can be read
from the statement text alone: whether a query has a WHERE, a LIMIT, the JOIN or the
GROUP BY it needs, which columns it selects, and which statements are repeats of
one another (the N+1 pattern). :func:`parse_statement` reads one statement as
SQLAlchemy renders it for SQLite, PostgreSQL (psycopg) or MySQL/MariaDB (pymysql),
or as a student wrote it by hand in ``text()``, and returns a
:class:`StatementShape`.

The text is split into tokens by sqlparse's lexer; the structure (query blocks,
clauses, subqueries, aliases) is read here from those tokens, because sqlparse's
own grouping is not reliable enough on nested ORM output. Parsing never raises:
anything that cannot be understood yields a best-effort shape.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlparse import tokens as T
from sqlparse.lexer import tokenize

__all__ = ["JoinInfo", "StatementShape", "fingerprint", "parse_statement", "window_functions"]

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


@functools.lru_cache(maxsize=4096)
def parse_statement(sql: str) -> StatementShape:
    """Read the shape of one SQL statement.

    Only the first statement of a ``;``-separated string is analysed. The result is
    cached, since a graded run sends the same statements many times.

    Args:
        sql: The statement as sent to the database (``?``, ``%s``, ``%(name)s`` or
            ``:name`` placeholders) or with literal values.

    Returns:
        The statement's shape. Text that cannot be understood never raises: it
        yields a shape of kind ``"OTHER"`` (or of its leading keyword) with
        whatever could be read.
    """
    try:
        return _Analyzer().shape(sql)
    except Exception:
        # A shape is evidence for a check, never a reason to abort grading.
        return _fallback_shape(sql)


def fingerprint(sql: str) -> str:
    """Normalize a statement so that repeats of it compare equal.

    Literals (numbers, strings) and placeholders become ``?``, the contents of an
    ``IN (...)`` list of values become ``...`` whatever its length, the further
    rows of a multi-row ``VALUES`` list collapse to ``, ...``, keywords are
    upper-cased, identifiers are unquoted and lower-cased, and whitespace and
    comments are normalized away. Two statements that differ only in parameter
    values (or in the number of values in an IN list) share a fingerprint.

    Args:
        sql: Any SQL text.

    Returns:
        The normalized text, e.g. ``"SELECT tasks.id FROM tasks WHERE
        tasks.assignee_id IN (...)"``.
    """
    return parse_statement(sql).fingerprint


@functools.lru_cache(maxsize=4096)
def window_functions(sql: str) -> frozenset[str]:
    """The functions a statement calls as window functions, at any depth.

    A window function is a call followed by ``OVER``: ``row_number() OVER
    (PARTITION BY …)``, ``sum(x) OVER w``. Calls inside subqueries, derived
    tables and CTEs count, since a top-N per group filters the window's
    result one level up. Only the first statement of the text is read, and
    unreadable text yields no function rather than an error.

    Args:
        sql: Any SQL text.

    Returns:
        Upper-case function names (``{"ROW_NUMBER", "SUM"}``).
    """
    try:
        found: set[str] = set()
        _collect_windows(_first_statement(_tree(_lex(sql))), found)
        return frozenset(found)
    except Exception:
        # Evidence for a check, never a reason to abort grading.
        return frozenset()


def _collect_windows(nodes: list[_Node], out: set[str]) -> None:
    for i, node in enumerate(nodes):
        if isinstance(node, _Group):
            _collect_windows(node.items, out)
            continue
        following = nodes[i + 1 : i + 3]
        if (
            node.kind == _NAME
            and len(following) == 2
            and isinstance(following[0], _Group)
            and _is_kw(following[1], "OVER")
        ):
            out.add(node.text.upper())


# --------------------------------------------------------------------------- tokens

_KW = "kw"
_NAME = "name"
_PARAM = "param"
_LIT = "lit"
_PUNCT = "punct"
_OP = "op"
_STAR = "star"
_OTHER = "other"

# sqlparse marks hundreds of words as keywords (NAME, DATA, LEVEL, COUNT, FIRST, ...);
# only these structure a statement. Any other "keyword" is read as an identifier,
# since it may well be a column or a function name.
_RESERVED = frozenset(
    {
        "ALL", "AND", "ANY", "AS", "ASC", "BETWEEN", "BY", "CASE", "COLLATE",
        "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "DEFAULT", "DELETE",
        "DESC", "DISTINCT", "ELSE", "END", "ESCAPE", "EXCEPT", "EXISTS", "FALSE",
        "FETCH", "FOR", "FROM", "GROUP BY", "HAVING", "IN", "INSERT", "INTERSECT",
        "INTERVAL", "INTO", "IS", "LATERAL", "LIMIT", "LOCALTIME", "LOCALTIMESTAMP",
        "MINUS", "NATURAL", "NOT", "NOT NULL", "NULL", "OFFSET", "ON", "ONLY", "OR",
        "ORDER BY", "OVER", "PARTITION", "RECURSIVE", "RETURNING", "SELECT", "SET",
        "SOME", "THEN", "TRUE", "UNION", "UNION ALL", "UPDATE", "USING", "VALUES",
        "WHEN", "WHERE", "WINDOW", "WITH",
    }
)  # fmt: skip

_STRUCTURAL_KEYWORD_TYPES = (
    T.Keyword.DML,
    T.Keyword.DDL,
    T.Keyword.CTE,
    T.Keyword.Order,
    T.Keyword.TZCast,
)

# Prefixes of typed string literals: X'ab' (blob), B'01', E'\n', N'text'.
_STRING_PREFIXES = frozenset({"x", "b", "e", "n"})


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str  # as written
    norm: str  # keywords and operators: upper-case; names: unquoted, lower-case
    builtin: bool = False  # sqlparse's Name.Builtin: a type name, or a column named like one


@dataclass(slots=True)
class _Group:
    """A parenthesized run of nodes."""

    items: list[_Node]


_Node = _Tok | _Group


def _unquote(text: str) -> str:
    if len(text) >= 2:
        first, last = text[0], text[-1]
        if first == last and first in '`"´':
            return text[1:-1].replace(first * 2, first)
        if first == "[" and last == "]":
            return text[1:-1]
    return text


def _lex(sql: str) -> list[_Tok]:
    raw = list(tokenize(sql))
    toks: list[_Tok] = []
    glued = False  # the current token follows the previous one without whitespace
    i = 0
    while i < len(raw):
        ttype, value = raw[i]
        i += 1
        if ttype in T.Whitespace or ttype in T.Comment:
            glued = False
            continue
        tok: _Tok
        if ttype in T.Name.Placeholder:
            tok = _Tok(_PARAM, value, value)
        elif ttype in T.Name and value == "__" and i < len(raw) and raw[i][1] == "[":
            # SQLAlchemy's not-yet-expanded parameter: __[POSTCOMPILE_id_1]
            parts = [value]
            while i < len(raw):
                parts.append(raw[i][1])
                i += 1
                if parts[-1] == "]":
                    break
            text = "".join(parts)
            tok = _Tok(_PARAM, text, text)
        elif ttype in T.Literal.String.Symbol:
            tok = _Tok(_NAME, value, _unquote(value).lower())
        elif ttype in T.Literal:
            prev = toks[-1] if toks else None
            if (
                glued
                and ttype in T.Literal.String.Single
                and prev is not None
                and prev.kind == _NAME
                and prev.norm in _STRING_PREFIXES
            ):
                toks.pop()
                value = prev.text + value
            tok = _Tok(_LIT, value, value)
        elif ttype in T.Name:
            tok = _Tok(_NAME, value, _unquote(value).lower(), builtin=ttype in T.Name.Builtin)
        elif ttype in T.Keyword:
            norm = " ".join(value.upper().split())
            if (
                any(ttype in kt for kt in _STRUCTURAL_KEYWORD_TYPES)
                or norm in _RESERVED
                or norm.endswith("JOIN")
            ):
                tok = _Tok(_KW, value, norm)
            else:
                tok = _Tok(_NAME, value, value.lower())
        elif ttype in T.Wildcard:
            tok = _Tok(_STAR, value, value)
        elif ttype in T.Punctuation:
            tok = _Tok(_PUNCT, value, value)
        elif ttype in T.Operator or ttype in T.Assignment:
            tok = _Tok(_OP, value, " ".join(value.upper().split()))
        else:
            tok = _Tok(_OTHER, value, value)
        toks.append(tok)
        glued = True
    return toks


def _tree(toks: list[_Tok]) -> list[_Node]:
    root: list[_Node] = []
    stack = [root]
    for tok in toks:
        if tok.kind == _PUNCT and tok.text == "(":
            group = _Group([])
            stack[-1].append(group)
            stack.append(group.items)
        elif tok.kind == _PUNCT and tok.text == ")":
            if len(stack) > 1:  # a stray ")" is dropped
                stack.pop()
        else:
            stack[-1].append(tok)
    return root


def _first_statement(root: list[_Node]) -> list[_Node]:
    current: list[_Node] = []
    for node in root:
        if _is_punct(node, ";"):
            if current:
                return current
            continue
        current.append(node)
    return current


# ------------------------------------------------------------------------ predicates


def _is_kw(node: _Node | None, *words: str) -> bool:
    return isinstance(node, _Tok) and node.kind == _KW and (not words or node.norm in words)


def _is_punct(node: _Node | None, text: str) -> bool:
    return isinstance(node, _Tok) and node.kind == _PUNCT and node.text == text


def _is_name(node: _Node | None) -> bool:
    return isinstance(node, _Tok) and node.kind == _NAME


def _is_star(node: _Node | None) -> bool:
    return isinstance(node, _Tok) and node.kind == _STAR


def _word(node: _Node | None) -> str:
    """The upper-case word of a keyword or name token, else ``""``."""
    if isinstance(node, _Tok) and node.kind in (_KW, _NAME):
        return node.text.upper()
    return ""


def _query_items(node: _Node | None) -> list[_Node] | None:
    """The contents of a parenthesized query (subquery, derived table), else None."""
    if not isinstance(node, _Group) or not node.items:
        return None
    head = node.items[0]
    if _is_kw(head, "SELECT", "WITH", "VALUES"):
        return node.items
    if isinstance(head, _Group) and _query_items(head) is not None:
        return node.items
    return None


def _chain(nodes: list[_Node], i: int) -> tuple[list[str], int]:
    """Read a dotted name (``schema.table.column``) starting at ``nodes[i]``."""
    names: list[str] = []
    if not _is_name(nodes[i] if i < len(nodes) else None):
        return names, i
    tok = nodes[i]
    assert isinstance(tok, _Tok)
    names.append(tok.norm)
    i += 1
    while i + 1 < len(nodes) and _is_punct(nodes[i], ".") and _is_name(nodes[i + 1]):
        nxt = nodes[i + 1]
        assert isinstance(nxt, _Tok)
        names.append(nxt.norm)
        i += 2
    return names, i


def _split(nodes: list[_Node], sep: str = ",") -> list[list[_Node]]:
    parts: list[list[_Node]] = [[]]
    for node in nodes:
        if _is_punct(node, sep):
            parts.append([])
        else:
            parts[-1].append(node)
    return parts


_Clauses = list[tuple[str | None, list[_Node]]]


def _split_clauses(nodes: list[_Node], keys: frozenset[str]) -> _Clauses:
    clauses: _Clauses = [(None, [])]
    for i, node in enumerate(nodes):
        if isinstance(node, _Tok) and node.kind == _KW and node.norm in keys:
            # JOIN ... USING (col) stays in its FROM list; DELETE ... USING t starts a clause.
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            if not (node.norm == "USING" and isinstance(nxt, _Group)):
                clauses.append((node.norm, []))
                continue
        clauses[-1][1].append(node)
    return clauses


_SELECT_CLAUSES = frozenset(
    {
        "SELECT", "FROM", "WHERE", "GROUP BY", "HAVING", "WINDOW", "ORDER BY",
        "LIMIT", "OFFSET", "FETCH", "FOR",
    }
)  # fmt: skip
_UPDATE_CLAUSES = frozenset({"UPDATE", "SET", "FROM", "WHERE", "ORDER BY", "LIMIT", "RETURNING"})
_DELETE_CLAUSES = frozenset({"DELETE", "FROM", "USING", "WHERE", "ORDER BY", "LIMIT", "RETURNING"})
_COMPOUND = frozenset({"UNION", "UNION ALL", "INTERSECT", "EXCEPT", "MINUS"})
_DML_MODIFIERS = frozenset(
    {
        "OR", "REPLACE", "IGNORE", "ABORT", "FAIL", "ROLLBACK", "LOW_PRIORITY",
        "DELAYED", "HIGH_PRIORITY", "QUICK", "ONLY",
    }
)  # fmt: skip
_SELECT_MODIFIERS = frozenset(
    {
        "SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "SQL_CACHE", "HIGH_PRIORITY",
        "STRAIGHT_JOIN", "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT",
    }
)  # fmt: skip
# Words that may follow a table reference without being its alias.
_NOT_ALIAS = frozenset({"USE", "FORCE", "IGNORE", "INDEXED", "TABLESAMPLE", "PARTITION"})
_MAX_MYSQL_LIMIT = 2**63 - 1  # MySQL spells "no limit" as 18446744073709551615


def _join_kind(node: _Node) -> str | None:
    if not isinstance(node, _Tok) or node.kind != _KW or not node.norm.endswith("JOIN"):
        return None
    if "CROSS" in node.norm:
        return "CROSS"
    for side in ("LEFT", "RIGHT", "FULL"):
        if side in node.norm:
            return f"{side} OUTER"
    return "INNER"


def _column_refs(nodes: list[_Node]) -> Iterator[tuple[str | None, str]]:
    """Yield ``(qualifier, column)`` for each column reference outside subqueries."""
    prev: _Node | None = None
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if isinstance(node, _Group):
            if _query_items(node) is None:
                yield from _column_refs(node.items)
            prev = node
            i += 1
            continue
        if node.kind != _NAME:
            prev = node
            i += 1
            continue
        names, j = _chain(nodes, i)
        nxt = nodes[j] if j < len(nodes) else None
        after_type_marker = _is_punct(prev, "::") or _is_kw(prev, "AS", "COLLATE")
        if (
            isinstance(nxt, _Group)  # a function call
            or after_type_marker  # x::INTEGER, CAST(x AS INTEGER), COLLATE nocase
            or _is_kw(nxt, "FROM")  # EXTRACT(year FROM x)
            or (len(names) == 1 and isinstance(nxt, _Tok) and nxt.kind == _LIT)  # DATE '...'
        ):
            prev = nodes[j - 1]
            i = j
            continue
        if _is_punct(nxt, ".") and _is_star(nodes[j + 1] if j + 1 < len(nodes) else None):
            j += 2  # t.* inside an expression
        else:
            yield (names[-2] if len(names) >= 2 else None, names[-1])
        prev = nodes[j - 1]
        i = j


def _collect_aggregates(nodes: list[_Node], out: set[str]) -> None:
    for i, node in enumerate(nodes):
        if isinstance(node, _Group):
            if _query_items(node) is None:
                _collect_aggregates(node.items, out)
            continue
        word = _word(node)
        if word in AGGREGATES and i + 1 < len(nodes) and isinstance(nodes[i + 1], _Group):
            out.add(word)


def _distinct_aggregate(nodes: list[_Node]) -> bool:
    """Whether an aggregate of ``nodes`` (not of a subquery) runs over DISTINCT values."""
    for i, node in enumerate(nodes):
        if isinstance(node, _Group):
            if _query_items(node) is None and _distinct_aggregate(node.items):
                return True
            continue
        following = nodes[i + 1] if i + 1 < len(nodes) else None
        if (
            _word(node) in AGGREGATES
            and isinstance(following, _Group)
            and following.items
            and _is_kw(following.items[0], "DISTINCT")
        ):
            return True
    return False


def _text(nodes: list[_Node]) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, _Group):
            parts.append("(" + _text(node.items) + ")")
        else:
            parts.append(node.text)
    return " ".join(parts)


def _bound_value(nodes: list[_Node]) -> str | None:
    """The text of a LIMIT/OFFSET/FETCH value, unwrapped from parens and casts."""
    while len(nodes) == 1 and isinstance(nodes[0], _Group):
        nodes = nodes[0].items
    for i, node in enumerate(nodes):
        if _is_punct(node, "::"):
            nodes = nodes[:i]
            break
    while nodes and _word(nodes[-1]) in ("ROW", "ROWS"):
        nodes = nodes[:-1]
    return _text(nodes) or None


def _is_unbounded(limit: str) -> bool:
    if limit.upper() == "ALL":
        return True
    try:
        value = int(limit)
    except ValueError:
        return False
    return value < 0 or value >= _MAX_MYSQL_LIMIT


# ------------------------------------------------------------------------- analysis


@dataclass
class _Query:
    """What has been read of one query block (mutable while it is being read)."""

    kind: str = "OTHER"
    sources: list[_Source] = field(default_factory=list)
    main_tables: set[str] = field(default_factory=set)
    has_where: bool = False
    where_tables: set[str] = field(default_factory=set)
    has_limit: bool = False
    limit: str | None = None
    has_offset: bool = False
    offset: str | None = None
    joins: list[JoinInfo] = field(default_factory=list)
    has_group_by: bool = False
    has_order_by: bool = False
    aggregates: set[str] = field(default_factory=set)
    selected: dict[str, set[str]] = field(default_factory=dict)
    selects_expressions: bool = False
    has_distinct: bool = False
    outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (table, col)

    def single_table(self) -> str | None:
        return next(iter(self.main_tables)) if len(self.main_tables) == 1 else None

    def select(self, table: str, column: str) -> None:
        self.selected.setdefault(table, set()).add(column)


@dataclass
class _Source:
    """One item of a FROM list: a real table, a subquery/CTE, or a table function."""

    table: str | None = None
    query: _Query | None = None
    alias: str | None = None

    @property
    def name(self) -> str | None:
        return self.alias or self.table

    def tables(self) -> set[str]:
        if self.table:
            return {self.table}
        return set(self.query.main_tables) if self.query else set()

    def single_table(self) -> str | None:
        if self.table:
            return self.table
        return self.query.single_table() if self.query else None

    def column(self, column: str) -> tuple[str, str] | None:
        if self.table:
            return (self.table, column)
        if self.query:
            if column in self.query.outputs:
                return self.query.outputs[column]
            single = self.query.single_table()
            if single:
                return (single, column)
        return None


class _Analyzer:
    """Reads one statement; collects tables, aliases and CTEs across all its blocks."""

    def __init__(self) -> None:
        self.tables: set[str] = set()
        self.aliases: dict[str, str] = {}
        self.ctes: dict[str, _Query] = {}

    def shape(self, sql: str) -> StatementShape:
        root = _tree(_lex(sql))
        q = self.query(_first_statement(root))
        return StatementShape(
            sql=sql,
            kind=q.kind,
            tables=frozenset(self.tables),
            main_tables=frozenset(q.main_tables),
            aliases=MappingProxyType(dict(sorted(self.aliases.items()))),
            has_where=q.has_where,
            where_tables=frozenset(t for t in q.where_tables if t),
            has_limit=q.has_limit,
            limit=q.limit,
            has_offset=q.has_offset,
            offset=q.offset,
            joins=tuple(q.joins),
            has_group_by=q.has_group_by,
            has_order_by=q.has_order_by,
            aggregates=frozenset(q.aggregates),
            selected=MappingProxyType(
                {t: frozenset(cols) for t, cols in sorted(q.selected.items())}
            ),
            selects_expressions=q.selects_expressions,
            fingerprint=_fingerprint_nodes(root),
            has_distinct=q.has_distinct,
        )

    # statements ----------------------------------------------------------------

    def query(self, items: list[_Node]) -> _Query:
        if items and _is_kw(items[0], "WITH"):
            items = self._with(items)
        if not items:
            return _Query()
        head = items[0]
        if isinstance(head, _Group):
            if _query_items(head) is not None:
                return self._select(items)
            self._scan_nested(items)
            return _Query()
        word = head.norm if head.kind == _KW else head.text.upper()
        if word == "SELECT":
            return self._select(items)
        if word == "VALUES":
            self._scan_nested(items)
            return _Query(kind="SELECT")
        if word in ("INSERT", "REPLACE"):
            return self._insert(items)
        if word == "UPDATE":
            return self._update(items)
        if word == "DELETE":
            return self._delete(items)
        return _Query()

    def _with(self, items: list[_Node]) -> list[_Node]:
        """Register the CTEs of a WITH prefix and return the statement after it."""
        i = 1
        if _word(items[i] if i < len(items) else None) == "RECURSIVE":
            i += 1
        while i < len(items) and _is_name(items[i]):
            name_tok = items[i]
            assert isinstance(name_tok, _Tok)
            i += 1
            if i < len(items) and isinstance(items[i], _Group) and _query_items(items[i]) is None:
                i += 1  # the CTE's column names
            if _is_kw(items[i] if i < len(items) else None, "AS"):
                i += 1
            while i < len(items) and _word(items[i]) in ("NOT", "MATERIALIZED"):
                i += 1
            body = _query_items(items[i] if i < len(items) else None)
            if body is not None:
                self.ctes[name_tok.norm] = _Query()  # a recursive CTE names itself
                self.ctes[name_tok.norm] = self.query(body)
                i += 1
            if not _is_punct(items[i] if i < len(items) else None, ","):
                break
            i += 1
        return items[i:]

    def _select(self, items: list[_Node]) -> _Query:
        parts: list[list[_Node]] = [[]]
        deduplicates = False
        for node in items:
            if _is_kw(node, *_COMPOUND):
                parts.append([])
                deduplicates |= _is_kw(node, "UNION", "INTERSECT", "EXCEPT", "MINUS")
            elif not parts[-1] and len(parts) > 1 and _is_kw(node, "ALL", "DISTINCT"):
                deduplicates &= not _is_kw(node, "ALL")
                continue
            else:
                parts[-1].append(node)
        if len(parts) == 1 and _query_items(items[0]) is None:
            return self._select_core(items)
        q = _Query(kind="SELECT", has_distinct=deduplicates)
        for index, part in enumerate(parts):
            if not part:
                continue
            last = index == len(parts) - 1
            inner = _query_items(part[0])
            if inner is not None:
                _merge(self.query(inner), q, tail=False)
                # ORDER BY / LIMIT after a parenthesized last part apply to the whole.
                self._clauses(q, _split_clauses(part[1:], _SELECT_CLAUSES))
            else:
                _merge(self._select_core(part), q, tail=last)
        return q

    def _select_core(self, items: list[_Node]) -> _Query:
        q = _Query(kind="SELECT")
        clauses = _split_clauses(items, _SELECT_CLAUSES)
        for key, nodes in clauses:
            if key == "FROM":
                self._from_list(nodes, q)
        self._clauses(q, clauses, skip=frozenset({"FROM"}))
        return q

    def _insert(self, items: list[_Node]) -> _Query:
        q = _Query(kind="INSERT")
        body, returning = items, None
        for i, node in enumerate(items):
            if _is_kw(node, "RETURNING"):
                body, returning = items[:i], items[i + 1 :]
                break
        into = next((i for i, node in enumerate(body) if _is_kw(node, "INTO")), None)
        i = 1 if into is None else into + 1
        while i < len(body) and _word(body[i]) in _DML_MODIFIERS:
            i += 1
        names, i = _chain(body, i)
        if names:
            source = _Source(table=names[-1])
            self.tables.add(names[-1])
            q.sources.append(source)
            q.main_tables.add(names[-1])
            if _is_kw(body[i] if i < len(body) else None, "AS") and _is_name(
                body[i + 1] if i + 1 < len(body) else None
            ):
                alias_tok = body[i + 1]
                assert isinstance(alias_tok, _Tok)
                self._register_alias(source, alias_tok.norm)
                i += 2
        rest = body[i:]
        if rest and isinstance(rest[0], _Group) and _query_items(rest[0]) is None:
            rest = rest[1:]  # the column list
        start = next(
            (
                k
                for k, node in enumerate(rest)
                if _is_kw(node, "SELECT", "WITH") or _query_items(node) is not None
            ),
            None,
        )
        if start is None:
            self._scan_nested(rest)
        else:
            end = next(
                (
                    k
                    for k in range(start, len(rest) - 1)
                    if _is_kw(rest[k], "ON") and _word(rest[k + 1]) in ("CONFLICT", "DUPLICATE")
                ),
                len(rest),
            )
            self.query(rest[start:end])
            self._scan_nested(rest[end:])
        if returning is not None:
            self._select_list(returning, q)
        return q

    def _update(self, items: list[_Node]) -> _Query:
        q = _Query(kind="UPDATE")
        clauses = _split_clauses(items, _UPDATE_CLAUSES)
        for key, nodes in clauses:
            if key == "UPDATE":
                self._from_list(_strip_modifiers(nodes), q)
            elif key == "FROM":
                self._from_list(nodes, q)
        self._clauses(q, clauses, skip=frozenset({"UPDATE", "FROM"}))
        return q

    def _delete(self, items: list[_Node]) -> _Query:
        q = _Query(kind="DELETE")
        clauses = _split_clauses(items, _DELETE_CLAUSES)
        has_from = any(key == "FROM" for key, _ in clauses)
        for key, nodes in clauses:
            if key in ("FROM", "USING") or (key == "DELETE" and not has_from):
                self._from_list(_strip_modifiers(nodes), q)
            elif key == "DELETE":
                self._scan_nested(nodes)  # MySQL's multi-table targets: aliases only
        self._clauses(q, clauses, skip=frozenset({"DELETE", "FROM", "USING"}))
        return q

    # clauses -------------------------------------------------------------------

    def _clauses(self, q: _Query, clauses: _Clauses, skip: frozenset[str] = frozenset()) -> None:
        where_refs: list[tuple[str | None, str]] = []
        for key, nodes in clauses:
            if key in skip:
                continue
            if key in ("SELECT", "RETURNING"):
                self._select_list(nodes, q)
                continue
            if key == "WHERE":
                q.has_where = True
                where_refs.extend(_column_refs(nodes))
            elif key == "GROUP BY":
                q.has_group_by = True
            elif key == "HAVING":
                _collect_aggregates(nodes, q.aggregates)
                q.has_distinct |= _distinct_aggregate(nodes)
            elif key == "ORDER BY":
                q.has_order_by = True
            elif key == "LIMIT":
                self._limit(nodes, q)
            elif key == "OFFSET":
                q.has_offset = True
                q.offset = _bound_value(nodes)
            elif key == "FETCH":
                self._fetch(nodes, q)
            self._scan_nested(nodes)
        for qualifier, column in where_refs:
            resolved = self._resolve(q, qualifier, column)
            if resolved is not None:
                q.where_tables.add(resolved[0])

    def _limit(self, nodes: list[_Node], q: _Query) -> None:
        parts = _split(nodes)
        if len(parts) >= 2:  # MySQL: LIMIT offset, count
            q.has_offset = True
            q.offset = _bound_value(parts[0])
            parts = parts[1:]
        self._set_limit(q, _bound_value(parts[0]))

    def _fetch(self, nodes: list[_Node], q: _Query) -> None:
        i = 1 if _word(nodes[0] if nodes else None) in ("FIRST", "NEXT") else 0
        count = nodes[i : i + 1]
        if not count or _word(count[0]) in ("ROW", "ROWS"):
            self._set_limit(q, "1")
        else:
            self._set_limit(q, _bound_value(count))

    @staticmethod
    def _set_limit(q: _Query, limit: str | None) -> None:
        if limit is None or _is_unbounded(limit):
            q.has_limit, q.limit = False, None
        else:
            q.has_limit, q.limit = True, limit

    def _select_list(self, nodes: list[_Node], q: _Query) -> None:
        items = _split(nodes)
        items[0] = self._strip_select_modifiers(items[0], q)
        for item in items:
            if not item:
                continue
            self._scan_nested(item)
            expr, label = _split_alias(item)
            _collect_aggregates(expr, q.aggregates)
            q.has_distinct |= _distinct_aggregate(expr)
            self._select_item(expr, label, q)

    def _strip_select_modifiers(self, item: list[_Node], q: _Query) -> list[_Node]:
        while len(item) > 1:
            if _is_kw(item[0], "DISTINCT"):
                q.has_distinct = True
                item = item[1:]
                if _is_kw(item[0], "ON") and len(item) > 1 and isinstance(item[1], _Group):
                    self._scan_nested(item[1:2])
                    item = item[2:]
            elif _is_kw(item[0], "ALL") or _word(item[0]) in _SELECT_MODIFIERS:
                item = item[1:]
            elif _word(item[0]) == "TOP" and len(item) > 2:
                self._set_limit(q, _bound_value(item[1:2]))
                item = item[2:]
            else:
                break
        return item

    def _select_item(self, expr: list[_Node], label: str | None, q: _Query) -> None:
        if len(expr) == 1 and _is_star(expr[0]):
            for source in q.sources:
                self._select_star(source, q)
            return
        names, end = _chain(expr, 0)
        if names and end == len(expr):
            qualifier = names[-2] if len(names) >= 2 else None
            resolved = self._resolve(q, qualifier, names[-1])
            q.select(*(resolved or ("", names[-1])))
            if resolved is not None:
                q.outputs[label or names[-1]] = resolved
            return
        if names and end + 2 == len(expr) and _is_punct(expr[end], ".") and _is_star(expr[-1]):
            found = self._find_source(q, names[-1])
            if found is not None:
                self._select_star(found, q)
            else:
                q.select(self.aliases.get(names[-1], names[-1]), "*")
            return
        q.selects_expressions = True
        for qualifier, column in _column_refs(expr):
            q.select(*(self._resolve(q, qualifier, column) or ("", column)))

    @staticmethod
    def _select_star(source: _Source, q: _Query) -> None:
        if source.table:
            q.select(source.table, "*")
        elif source.query is not None:
            if source.query.selected:
                for table, columns in source.query.selected.items():
                    for column in columns:
                        q.select(table, column)
            else:
                for table in source.query.main_tables:
                    q.select(table, "*")

    # FROM lists ----------------------------------------------------------------

    def _from_list(self, nodes: list[_Node], q: _Query) -> None:
        segments: list[tuple[str | None, list[_Node]]] = [(None, [])]
        for node in nodes:
            kind = _join_kind(node)
            if kind is not None:
                segments.append((kind, []))
            elif _is_punct(node, ","):
                segments.append(("CROSS", []))
            else:
                segments[-1][1].append(node)
        for kind, segment in segments:
            source = self._table_ref(segment, q)
            if source is None:
                continue
            q.sources.append(source)
            q.main_tables |= source.tables()
            if kind is None and source.query is not None:
                q.has_distinct |= source.query.has_distinct
            if kind is not None:
                q.joins.append(JoinInfo(kind, source.single_table() or "", source.alias))

    def _table_ref(self, segment: list[_Node], q: _Query) -> _Source | None:
        """Read one FROM item; scan what follows it (ON, USING, hints) for subqueries."""
        i = 0
        while i < len(segment) and _word(segment[i]) in ("LATERAL", "ONLY", "NATURAL"):
            i += 1
        head = segment[i] if i < len(segment) else None
        source: _Source | None = None
        if isinstance(head, _Group):
            inner = _query_items(head)
            if inner is None:  # a parenthesized join: its items join this level
                self._from_list(head.items, q)
            else:
                source = _Source(query=self.query(inner))
            i += 1
        elif _is_name(head):
            names, i = _chain(segment, i)
            if isinstance(segment[i] if i < len(segment) else None, _Group):
                source = _Source()  # a table-valued function: json_each(...), unnest(...)
                self._scan_nested(segment[i : i + 1])
                i += 1
            elif len(names) == 1 and names[0] in self.ctes:
                source = _Source(query=self.ctes[names[0]])
                self._register_alias(source, names[0])
            else:
                self.tables.add(names[-1])
                source = _Source(table=names[-1])
        if _is_kw(segment[i] if i < len(segment) else None, "AS"):
            i += 1
        alias = segment[i] if i < len(segment) else None
        if isinstance(alias, _Tok) and alias.kind == _NAME and alias.text.upper() not in _NOT_ALIAS:
            if source is not None:
                self._register_alias(source, alias.norm)
            i += 1
            if isinstance(segment[i] if i < len(segment) else None, _Group):
                i += 1  # column aliases: AS t(a, b)
        self._scan_nested(segment[i:])
        return source

    def _register_alias(self, source: _Source, alias: str) -> None:
        source.alias = alias
        table = source.single_table()
        if table and table != alias:
            self.aliases.setdefault(alias, table)

    # resolution ----------------------------------------------------------------

    @staticmethod
    def _find_source(q: _Query, name: str) -> _Source | None:
        return next((s for s in q.sources if s.name == name), None)

    def _resolve(self, q: _Query, qualifier: str | None, column: str) -> tuple[str, str] | None:
        """The real (table, column) a column reference reads, if it can be told."""
        if qualifier is None:
            if len(q.sources) == 1:
                resolved = q.sources[0].column(column)
                if resolved is not None:
                    return resolved
            single = q.single_table()
            return (single, column) if single else None
        source = self._find_source(q, qualifier)
        if source is not None:
            return source.column(column)
        # Not of this block: an outer block's table (a correlated subquery).
        if qualifier in self.aliases:
            return (self.aliases[qualifier], column)
        return (qualifier, column) if qualifier in self.tables else None

    def _scan_nested(self, nodes: list[_Node]) -> None:
        """Read every subquery in ``nodes`` for the tables and aliases it uses."""
        for node in nodes:
            if isinstance(node, _Group):
                inner = _query_items(node)
                if inner is None:
                    self._scan_nested(node.items)
                else:
                    self.query(inner)


def _strip_modifiers(nodes: list[_Node]) -> list[_Node]:
    i = 0
    while i < len(nodes) - 1 and _word(nodes[i]) in _DML_MODIFIERS:
        i += 1
    return nodes[i:]


def _split_alias(item: list[_Node]) -> tuple[list[_Node], str | None]:
    """Split ``expr [AS] label`` into the expression and its label."""
    last = item[-1]
    if len(item) < 2 or not (isinstance(last, _Tok) and last.kind == _NAME):
        return item, None
    before = item[-2]
    if _is_kw(before, "AS"):
        return item[:-2], last.norm
    # "users.id users_id", "count(*) n", "'x' label", "CASE ... END label"; but not
    # "x::INTEGER" or "t.col", where the name belongs to the expression.
    if (
        isinstance(before, _Group)
        or _is_kw(before, "END")
        or (isinstance(before, _Tok) and before.kind in (_NAME, _LIT, _PARAM))
    ):
        return item[:-1], last.norm
    return item, None


def _merge(part: _Query, q: _Query, *, tail: bool) -> None:
    """Fold one part of a compound SELECT (UNION, ...) into the whole."""
    q.main_tables |= part.main_tables
    q.has_where |= part.has_where
    q.where_tables |= part.where_tables
    q.joins.extend(part.joins)
    q.has_group_by |= part.has_group_by
    q.aggregates |= part.aggregates
    q.has_distinct |= part.has_distinct
    for table, columns in part.selected.items():
        q.selected.setdefault(table, set()).update(columns)
    q.selects_expressions |= part.selects_expressions
    if not q.outputs:
        q.outputs = dict(part.outputs)
    if tail:
        q.has_order_by = part.has_order_by
        q.has_limit, q.limit = part.has_limit, part.limit
        q.has_offset, q.offset = part.has_offset, part.offset


# ----------------------------------------------------------------------- fingerprint

_NO_SPACE_BEFORE = frozenset({",", ")", ".", "::", "[", "]", ";"})
_NO_SPACE_AFTER = frozenset({"(", ".", "::", "["})


def _literal_only(group: _Group) -> bool:
    """Whether a parenthesized list holds only values (a parameter list)."""
    has_value = False
    prev: _Node | None = None
    for node in group.items:
        if isinstance(node, _Group):
            if not _literal_only(node):
                return False
            has_value = True
        elif node.kind in (_LIT, _PARAM) or _is_kw(node, "NULL", "TRUE", "FALSE"):
            has_value = True
        elif not (
            (node.kind == _PUNCT and node.text in (",", "::", "[", "]"))
            or (node.kind == _OP and node.text in ("-", "+"))
            or (node.kind == _NAME and _is_punct(prev, "::"))
        ):
            return False
        prev = node
    return has_value


def _fingerprint_pieces(nodes: list[_Node]) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(nodes):
        node = nodes[i]
        prev = nodes[i - 1] if i else None
        i += 1
        if isinstance(node, _Tok):
            if node.kind in (_LIT, _PARAM):
                pieces.append(("?", _PARAM))
            elif node.kind in (_KW, _NAME, _OP):
                pieces.append((node.norm, node.kind))
            else:
                pieces.append((node.text, node.kind))
            continue
        if _is_kw(prev, "IN") and _literal_only(node):
            pieces.append(("(...)", _PARAM))
            continue
        row = _row_pieces(node)
        pieces.extend(row)
        if _is_kw(prev, "VALUES"):
            repeated = False
            while i + 1 < len(nodes) and _is_punct(nodes[i], ","):
                following = nodes[i + 1]
                if not isinstance(following, _Group) or _row_pieces(following) != row:
                    break
                repeated = True
                i += 2
            if repeated:
                pieces.extend([(",", _PUNCT), ("...", _PARAM)])
    return pieces


def _row_pieces(group: _Group) -> list[tuple[str, str]]:
    return [("(", _PUNCT), *_fingerprint_pieces(group.items), (")", _PUNCT)]


def _fingerprint_nodes(root: list[_Node]) -> str:
    while root and _is_punct(root[-1], ";"):
        root = root[:-1]
    out: list[str] = []
    prev_text, prev_kind = "", ""
    for text, kind in _fingerprint_pieces(root):
        if out and not (
            text in _NO_SPACE_BEFORE
            or prev_text in _NO_SPACE_AFTER
            or (text == "(" and prev_kind == _NAME)
        ):
            out.append(" ")
        out.append(text)
        prev_text, prev_kind = text, kind
    return "".join(out)


# -------------------------------------------------------------------------- fallback

_LEADING_WORD = re.compile(r"\s*(\w+)")


def _fallback_shape(sql: object) -> StatementShape:
    text = sql if isinstance(sql, str) else repr(sql)
    match = _LEADING_WORD.match(text)
    word = match.group(1).upper() if match else ""
    try:
        fp = _fingerprint_nodes(_tree(_lex(text)))
    except Exception:
        fp = " ".join(text.split())
    return StatementShape(
        sql=text,
        kind=word if word in ("SELECT", "INSERT", "UPDATE", "DELETE") else "OTHER",
        tables=frozenset(),
        main_tables=frozenset(),
        aliases=MappingProxyType({}),
        has_where=False,
        where_tables=frozenset(),
        has_limit=False,
        limit=None,
        has_offset=False,
        offset=None,
        joins=(),
        has_group_by=False,
        has_order_by=False,
        aggregates=frozenset(),
        selected=MappingProxyType({}),
        selects_expressions=False,
        fingerprint=fp,
    )
