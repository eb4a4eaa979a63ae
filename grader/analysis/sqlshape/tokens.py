"""Statement text as tokens (sqlparse's lexer) in nested groups, and predicates over them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlparse import tokens as T
from sqlparse.lexer import tokenize

from grader.analysis.sqlshape.shape import AGGREGATES

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
