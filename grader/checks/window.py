"""Checks on analytics computed by the database with window functions.

A top-N per group or a running total computed in Python has to fetch every
row of the table; with a window function (``row_number() OVER (PARTITION BY
… ORDER BY …)``, ``sum(…) OVER (ORDER BY …)``) the database ranks or adds up
the rows where they are and sends only the answer. The check reads the window
from the statement text (`grader.analysis.sqlshape.window_functions`) and bounds the
rows fetched by the size of the starter's answer. Message templates are
module constants so that tests and reporters refer to them.
"""

from __future__ import annotations

from grader.analysis.sqlshape import window_functions
from grader.checks.aggregate import group_count, rows_evidence, rows_fetched_within
from grader.checks.base import Check, Evaluation, Verdict, register
from grader.checks.query import NO_READ, reads

# -- messages -----------------------------------------------------------------
WINDOWED_OK = (
    "{table} is ranked by the database ({functions} … OVER): {rows} row(s) fetched for "
    "{answer} row(s) in the answer"
)
NOT_WINDOWED = (
    "no statement reading {table} calls a window function (… OVER (…)); "
    "{reads} statement(s) read {table}"
)
ROWS_OVER_ANSWER = (
    "{rows} rows of {table} fetched for {answer} row(s) in the answer (at most {bound} "
    "allowed): the rows are ranked or filtered in Python, not by the database"
)


@register
class WindowedInSql(Check):
    """The database computes the answer with a window function; only the answer comes back.

    Ranking the rows of each group, keeping the first N or adding up a running
    total in Python needs every row of the table in the program; a window
    function does it where the rows are, and a filter on its result (one
    query level up) sends only the rows of the answer. Passing needs one
    statement reading ``table`` that calls a function with ``OVER``, and the
    statements reading ``table`` must fetch no more rows than the starter's
    answer holds (its length; ``max_rows`` sets the bound instead).
    Options: ``table``, ``max_rows``.
    """

    kind = "windowed_in_sql"
    default_hint = (
        "Let the database rank the rows: a window function numbers the rows of each "
        "group in the order you need, and a filter on that number keeps the first ones."
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str)
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
        functions: set[str] = set()
        for statement, _ in pairs:
            functions |= window_functions(statement.sql)
        if not functions:
            return Verdict(
                False,
                NOT_WINDOWED.format(table=self.table, reads=len(pairs)),
                rows_evidence(statements, evaluation.shapes),
            )
        answer = group_count(evaluation.oracle.value)
        bound = answer if self.max_rows is None else self.max_rows
        rows = rows_fetched_within(
            statements,
            evaluation.shapes,
            bound,
            lambda n: ROWS_OVER_ANSWER.format(rows=n, table=self.table, answer=answer, bound=bound),
        )
        if isinstance(rows, Verdict):
            return rows
        return Verdict(
            True,
            WINDOWED_OK.format(
                table=self.table, functions=", ".join(sorted(functions)), rows=rows, answer=answer
            ),
        )
