"""Reading query blocks, clauses, sources and aliases from the token tree into a shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType

from grader.analysis.sqlshape.fingerprinting import _fingerprint_nodes
from grader.analysis.sqlshape.shape import JoinInfo, StatementShape
from grader.analysis.sqlshape.tokens import (
    _COMPOUND,
    _DELETE_CLAUSES,
    _DML_MODIFIERS,
    _KW,
    _LIT,
    _NAME,
    _NOT_ALIAS,
    _PARAM,
    _SELECT_CLAUSES,
    _SELECT_MODIFIERS,
    _UPDATE_CLAUSES,
    _bound_value,
    _chain,
    _Clauses,
    _collect_aggregates,
    _column_refs,
    _distinct_aggregate,
    _first_statement,
    _Group,
    _is_kw,
    _is_name,
    _is_punct,
    _is_star,
    _is_unbounded,
    _join_kind,
    _lex,
    _Node,
    _query_items,
    _split,
    _split_clauses,
    _Tok,
    _tree,
    _word,
)

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
