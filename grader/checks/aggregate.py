"""Checks on where the answer is computed: rows fetched and aggregation in SQL.

A report that counts, sums or groups in Python has to fetch every row it
counts; the same report computed by the database sends one row per group.
These checks judge the rows a run fetched (``CapturedStatement.rows_fetched``)
against a bound, and the shape of the statement that aggregates. Message
templates are module constants so that tests and reporters refer to them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from grader.analysis.sqlshape import AGGREGATES, StatementShape
from grader.checks.base import Check, Evaluation, Verdict, register, shorten
from grader.checks.query import NO_READ, reads
from grader.results import Evidence

if TYPE_CHECKING:
    from grader.execution.capture import CapturedStatement

# -- messages -----------------------------------------------------------------
ROWS_OK = "{observed} row(s) fetched from the database (at most {bound} allowed)"
TOO_MANY_ROWS = (
    "{observed} rows fetched from the database; at most {bound} allowed: "
    "the answer is still computed in Python from rows"
)
ROWS_UNKNOWN = (
    "{count} statement(s) went through a raw driver cursor, whose fetched rows cannot "
    "be counted; send them through the session or the engine"
)
AGGREGATED_OK = (
    "{table} is aggregated by the database ({how}): {rows} row(s) fetched for "
    "{groups} group(s) in the answer"
)
NOT_AGGREGATED = (
    "no statement reading {table} {wanted} its rows in SQL ({reads} statement(s) read {table})"
)
AGGREGATED_NOT_GROUPED = (
    "{table} is aggregated in SQL ({functions}{where}), but no statement reading it has a "
    "GROUP BY: this exercise asks for one grouped query, GROUP BY the key of each line of the "
    "answer with the aggregates beside it"
)
#: Where an aggregate without GROUP BY was seen (``{where}`` of `AGGREGATED_NOT_GROUPED`).
IN_SUBQUERY = " in a subquery, computed once per row of the outer query"
ROWS_OVER_GROUPS = (
    "{rows} rows of {table} fetched for {groups} group(s) in the answer (at most {bound} "
    "allowed): the rows are aggregated in Python, not by the database"
)

#: How many statements are shown as evidence.
EVIDENCE_LIMIT = 3

# Aggregate calls as the statement fingerprint writes them (names lower-case).
_AGGREGATE_CALL = re.compile(
    r"\b(" + "|".join(sorted(a.lower() for a in AGGREGATES)) + r")\(", re.IGNORECASE
)


def rows_evidence(
    statements: Sequence[CapturedStatement],
    shapes: Sequence[StatementShape],
    limit: int = EVIDENCE_LIMIT,
) -> tuple[Evidence, ...]:
    """The statements that fetched the most rows, each with its repeat and row counts."""
    rows: Counter[str] = Counter()
    repeats: Counter[str] = Counter()
    example: dict[str, CapturedStatement] = {}
    for statement in statements:
        key = (
            shapes[statement.index].fingerprint if statement.index < len(shapes) else statement.sql
        )
        rows[key] += statement.rows_fetched or 0
        repeats[key] += 1
        example.setdefault(key, statement)
    ranked = sorted(rows, key=lambda k: (-rows[k], -repeats[k]))[:limit]
    evidence = []
    for key in ranked:
        statement = example[key]
        label = f"statement ×{repeats[key]}, {rows[key]} row(s) fetched"
        if statement.source == "driver":
            label += " (raw driver cursor: rows not counted)"
        evidence.append(Evidence(label, shorten(statement.sql)))
    return tuple(evidence)


def rows_fetched_within(
    statements: Sequence[CapturedStatement],
    shapes: Sequence[StatementShape],
    bound: int,
    over: Callable[[int], str],
) -> Verdict | int:
    """The rows ``statements`` fetched, or the failing verdict when that cannot be told.

    It fails when a raw driver cursor's rows were not counted (`ROWS_UNKNOWN`),
    and when more than ``bound`` rows were fetched, with the message ``over(rows)``;
    either way the statements that fetched the most are the evidence.
    """
    unknown = [s for s in statements if s.rows_fetched is None and s.source == "driver"]
    if unknown:
        message = ROWS_UNKNOWN.format(count=len(unknown))
        return Verdict(False, message, rows_evidence(unknown, shapes))
    rows = sum(s.rows_fetched or 0 for s in statements)
    if rows > bound:
        return Verdict(False, over(rows), rows_evidence(statements, shapes))
    return rows


def group_count(value: Any) -> int:
    """How many groups an answer holds: its length for a list or dict, else 1."""
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    return 1


def groups_in_sql(shape: StatementShape) -> bool:
    """Whether a statement has a GROUP BY, at top level or inside a subquery.

    The shape describes the top level only; a GROUP BY in a derived table
    (``LEFT JOIN (SELECT … GROUP BY …)``) is read from the fingerprint.
    """
    return shape.has_group_by or "GROUP BY" in shape.fingerprint


def aggregates_in_sql(shape: StatementShape) -> frozenset[str]:
    """The aggregate functions a statement calls, at top level or inside a subquery."""
    nested = {m.group(1).upper() for m in _AGGREGATE_CALL.finditer(shape.fingerprint)}
    return frozenset(shape.aggregates | nested)


@register
class MaxRowsFetched(Check):
    """At most ``max`` rows travel from the database to the program.

    Fetching rows only to count them, test whether there are any, or add them
    up costs a row over the wire and an object in memory for each one; a
    COUNT or EXISTS answers with one row, whatever the size of the table.
    Options: ``max`` (the bound) and ``table`` (count only statements reading
    this table).
    """

    kind = "max_rows_fetched"
    statement_based = True
    default_hint = (
        "Look at the rows each statement fetched: can the database answer with one "
        "row (COUNT, EXISTS, SUM) instead of sending the rows you count?"
    )

    def configure(self) -> None:
        self.bound: int = self.option("max", int)
        self.table: str | None = self.option("table", str, None)

    def judge(self, evaluation: Evaluation) -> Verdict:
        statements = [
            s
            for s, shape in zip(evaluation.main.log.statements, evaluation.shapes, strict=True)
            if self.table is None or reads(shape, self.table)
        ]
        if self.table is not None and not statements:
            return Verdict(False, NO_READ.format(table=self.table))
        observed = rows_fetched_within(
            statements,
            evaluation.shapes,
            self.bound,
            lambda rows: TOO_MANY_ROWS.format(observed=rows, bound=self.bound),
        )
        if isinstance(observed, Verdict):
            return observed
        return Verdict(True, ROWS_OK.format(observed=observed, bound=self.bound))


@register
class AggregatedInSql(Check):
    """The database groups and aggregates ``table``; only the groups come back.

    A report computed in Python fetches every row it summarizes; with GROUP BY
    and COUNT/SUM the database reads the rows where they are and sends one
    row per group. Passing needs one statement reading ``table`` that groups
    (when ``group_by``) and calls an aggregate, and the statements reading
    ``table`` must fetch no more rows than there are groups in the starter's
    answer (the length of its list or dict; ``max_rows`` sets the bound
    instead). Options: ``table``, ``group_by`` (default true), ``max_rows``.
    """

    kind = "aggregated_in_sql"
    statement_based = True
    default_hint = (
        "Let the database do the counting: GROUP BY the key of each line of the "
        "report and compute the figures with COUNT / SUM in the same SELECT."
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.group_by: bool = self.option("group_by", bool, True)
        self.max_rows: int | None = self.option("max_rows", int, None)

    def judge(self, evaluation: Evaluation) -> Verdict:
        pairs = [
            (s, shape)
            for s, shape in zip(evaluation.main.log.statements, evaluation.shapes, strict=True)
            if reads(shape, self.table)
        ]
        if not pairs:
            return Verdict(False, NO_READ.format(table=self.table))
        statements = [s for s, _ in pairs]
        aggregating = [
            (s, shape)
            for s, shape in pairs
            if aggregates_in_sql(shape) and (groups_in_sql(shape) or not self.group_by)
        ]
        if not aggregating:
            ungrouped = [shape for _, shape in pairs if aggregates_in_sql(shape)]
            if ungrouped:
                functions = sorted(set().union(*(aggregates_in_sql(s) for s in ungrouped)))
                nested = all(not shape.aggregates for shape in ungrouped)
                return Verdict(
                    False,
                    AGGREGATED_NOT_GROUPED.format(
                        table=self.table,
                        functions=", ".join(functions),
                        where=IN_SUBQUERY if nested else "",
                    ),
                    rows_evidence(statements, evaluation.shapes),
                )
            wanted = "groups (GROUP BY) and aggregates" if self.group_by else "aggregates"
            return Verdict(
                False,
                NOT_AGGREGATED.format(table=self.table, wanted=wanted, reads=len(pairs)),
                rows_evidence(statements, evaluation.shapes),
            )
        groups = group_count(evaluation.oracle.value)
        bound = groups if self.max_rows is None else self.max_rows
        rows = rows_fetched_within(
            statements,
            evaluation.shapes,
            bound,
            lambda n: ROWS_OVER_GROUPS.format(rows=n, table=self.table, groups=groups, bound=bound),
        )
        if isinstance(rows, Verdict):
            return rows
        functions = sorted(set().union(*(aggregates_in_sql(shape) for _, shape in aggregating)))
        how = ("GROUP BY with " if self.group_by else "") + ", ".join(functions)
        return Verdict(
            True, AGGREGATED_OK.format(table=self.table, how=how, rows=rows, groups=groups)
        )
