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

The shape is `grader.analysis.sqlshape.shape`; the tokens and their predicates,
`grader.analysis.sqlshape.tokens`; reading them into a shape,
`grader.analysis.sqlshape.analyzer`; fingerprints, `grader.analysis.sqlshape.fingerprinting`.
"""

from __future__ import annotations

import functools

from grader.analysis.sqlshape.analyzer import _Analyzer, _fallback_shape
from grader.analysis.sqlshape.shape import AGGREGATES, JoinInfo, StatementShape
from grader.analysis.sqlshape.tokens import (
    _NAME,
    _first_statement,
    _Group,
    _is_kw,
    _lex,
    _Node,
    _tree,
)

__all__ = [
    "AGGREGATES",
    "JoinInfo",
    "StatementShape",
    "fingerprint",
    "parse_statement",
    "window_functions",
]


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
