"""Checks on how queries read a partitioned table.

Message templates are module constants so that tests and reporters refer to
them instead of retyping them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.checks.base import Check, Evaluation, Verdict, register, shorten
from grader.checks.query import NO_PLAN, NO_READ, plan_lines, reads
from grader.errors import SpecFieldError
from grader.results import Evidence
from grader.rule import WRONG_VALUE, describe

if TYPE_CHECKING:
    from grader.analysis.plan import Plan
    from grader.execution.capture import CapturedStatement

# -- messages -----------------------------------------------------------------
PRUNED = "every read of {table} touches at most {bound} of its partitions ({touched})"
NOT_PRUNED = (
    "{count} statement(s) read {observed} partitions of {table} ({names}); at most {bound} "
    "allowed: the filter does not let the database prune the others"
)
NOT_PARTITIONED = (
    "{count} statement(s) read {table} without its plan naming a partition: the table read "
    "is not the partitioned {table}"
)
#: Nothing read at all: what a read that every partition was pruned from shows.
NONE_TOUCHED = "none (every partition pruned)"


@register
class PartitionsTouched(Check):
    """Reads of the partitioned ``table`` touch at most ``max`` of its partitions.

    A table partitioned by time keeps each period in a table of its own; a
    query whose filter compares the partition key itself with constants lets
    the planner skip ("prune") every partition that cannot hold a match, so a
    month's query reads one month whatever the table's age. A function wrapped
    around the key (``EXTRACT(MONTH FROM created_at)``, ``date(created_at)``)
    hides the range from the planner, and every partition is read. The verdict
    comes from the database's plan: PostgreSQL names the partitions it scans,
    MariaDB lists them in the ``partitions`` column of ``EXPLAIN PARTITIONS``.
    Options: ``table`` and ``max`` (the partitions one statement may touch).
    """

    kind = "partitions_touched"
    statement_based = True
    needs = frozenset({"plans"})
    default_hint = (
        "Read the plan below: it lists every partition the query reads. Compare the "
        "partition key itself with the bounds of the period, so the database can skip "
        "the partitions that cannot match."
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.bound: int = self.option("max", int)
        if self.bound < 0:
            raise SpecFieldError(
                "max", WRONG_VALUE.format(expected="an integer >= 0", found=describe(self.bound))
            )

    def judge(self, evaluation: Evaluation) -> Verdict:
        relevant: list[tuple[CapturedStatement, Plan | str]] = [
            (statement, evaluation.plans[statement.index])
            for statement, shape in zip(
                evaluation.main.log.statements, evaluation.shapes, strict=True
            )
            if reads(shape, self.table) and statement.index in evaluation.plans
        ]
        if not relevant:
            return Verdict(False, NO_READ.format(table=self.table))
        unread = [(s, p) for s, p in relevant if isinstance(p, str)]
        if unread:
            return Verdict(
                False,
                NO_PLAN.format(table=self.table),
                (
                    Evidence("statement", shorten(unread[0][0].sql)),
                    Evidence("plan", plan_lines(p for _, p in unread)),
                ),
            )
        from grader.analysis.plan import Plan  # imported when judging: listing needs no SQLAlchemy

        planned = [(s, p) for s, p in relevant if isinstance(p, Plan)]
        plain = [
            (s, p)
            for s, p in planned
            if any(not node.partitions for node in p.for_table(self.table))
        ]
        if plain:
            return Verdict(
                False,
                NOT_PARTITIONED.format(count=len(plain), table=self.table),
                (
                    Evidence("statement", shorten(plain[0][0].sql)),
                    Evidence("plan", plan_lines(p for _, p in plain)),
                ),
            )
        over = [(s, p) for s, p in planned if len(p.partitions_of(self.table)) > self.bound]
        if over:
            widest = max(over, key=lambda pair: len(pair[1].partitions_of(self.table)))
            names = widest[1].partitions_of(self.table)
            return Verdict(
                False,
                NOT_PRUNED.format(
                    count=len(over),
                    observed=len(names),
                    table=self.table,
                    names=", ".join(names),
                    bound=self.bound,
                ),
                (
                    Evidence("statement", shorten(widest[0].sql)),
                    Evidence("plan", plan_lines([widest[1]])),
                ),
            )
        touched = sorted({name for _, p in planned for name in p.partitions_of(self.table)})
        return Verdict(
            True,
            PRUNED.format(
                table=self.table, bound=self.bound, touched=", ".join(touched) or NONE_TOUCHED
            ),
        )
