"""Checks on how an exercise writes: statements per kind, and atomicity.

Writing row by row costs a statement (and often a commit) per row; a batch
costs a handful. A write that stops half-way must leave nothing behind. The
first check counts statements by kind, the second judges the database state
after a failure injected into the submission's own writes (`grader.execution.fault`).
Message templates are module constants so that tests and reporters refer to
them instead of retyping them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from grader.checks.base import Check, Evaluation, Verdict, register, shorten
from grader.checks.query import describe_difference, statement_evidence
from grader.errors import OrmgradeError, SpecFieldError
from grader.results import Evidence
from grader.rule import MISSING_KEY, WRONG_VALUE, describe

if TYPE_CHECKING:
    from grader.execution.capture import CapturedStatement

# -- messages -----------------------------------------------------------------
BUDGET_OK = "{observed}: within the budget ({bounds})"
OVER_BUDGET = "{observed} {kind} statements sent; at most {bound} allowed"
MISSING_WHERE = "{count} {kind} statement(s) without a WHERE clause change every row of {table}"
ATOMIC_OK = (
    "the write carrying row {at} was made to fail, and the database was left exactly "
    "as it was before the call"
)
PARTIAL_STATE = (
    "the write carrying row {at} was made to fail, and the database kept part of the "
    "operation: {change}"
)
STATE_CHANGE = "{added} row(s) that were not there before the call, {removed} row(s) gone"
FAULT_NOT_FIRED = (
    "the failure set for written row {at} never happened: the run wrote only {rows} row(s)"
)
FAULT_RUN_FAILED = "the run with an injected failure ended otherwise: {message}"
NO_FAULT_RUN = "no run with an injected failure was made"

#: The statement kinds a budget can bound (as `StatementShape.kind` names them).
KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Kinds whose statements need a WHERE when ``where`` is set.
FILTERED_KINDS = ("UPDATE", "DELETE")


def _one_line(text: str, limit: int = 400) -> str:
    """``text`` on one line (its whitespace runs made single spaces), shortened."""
    return shorten(" ".join(text.split()), limit)


def _rows(state: Any) -> Counter[str] | None:
    """A snapshot's rows as a multiset (a list, or a dict of lists), else None."""
    if isinstance(state, list):
        return Counter(repr(item) for item in state)
    if isinstance(state, dict) and all(isinstance(v, list) for v in state.values()):
        return Counter(f"{key}: {item!r}" for key, rows in state.items() for item in rows)
    return None


def describe_change(before: Any, after: Any, shown: int = 3) -> tuple[str, tuple[Evidence, ...]]:
    """How ``after`` differs from ``before``, in words, with the first rows added as evidence."""
    old, new = _rows(before), _rows(after)
    if old is None or new is None:
        return describe_difference(before, after), (
            Evidence("state before the call", _one_line(repr(before))),
            Evidence("state after the failure", _one_line(repr(after))),
        )
    added, removed = new - old, old - new
    change = STATE_CHANGE.format(added=sum(added.values()), removed=sum(removed.values()))
    evidence = []
    if added:
        rows = list(added.elements())[:shown]
        evidence.append(Evidence(f"left behind (first {len(rows)})", "\n".join(rows)))
    if removed:
        rows = list(removed.elements())[:shown]
        evidence.append(Evidence(f"gone (first {len(rows)})", "\n".join(rows)))
    return change, tuple(evidence)


@register
class StatementBudget(Check):
    """No more statements of each kind than the task needs.

    A row-by-row loop sends one INSERT (or one SELECT and one UPDATE) per row:
    thousands of round trips where a handful do. The budget bounds each kind
    on its own (options ``insert``, ``update``, ``delete``, ``select``; a kind
    left out is not bounded). One execution counts once, however many rows it
    carries: an executemany, an insertmanyvalues batch run and an ORM bulk
    UPDATE by primary key are each one statement, since the driver sends their
    rows together. With ``where = true`` every UPDATE and DELETE must also have
    a WHERE clause.
    """

    kind = "statement_budget"
    default_hint = (
        "Look at the statement repeated below: one per row. Can one statement carry "
        "all the rows, or change all of them at once?"
    )

    def configure(self) -> None:
        self.where: bool = self.option("where", bool, False)
        self.bounds: dict[str, int] = {}
        for kind in KINDS:
            bound = self.option(kind.lower(), int, None)
            if bound is not None:
                if bound < 0:
                    raise SpecFieldError(
                        kind.lower(),
                        WRONG_VALUE.format(expected="an integer >= 0", found=describe(bound)),
                    )
                self.bounds[kind] = bound
        if not self.bounds:
            raise SpecFieldError(
                "/".join(k.lower() for k in KINDS),
                MISSING_KEY.format(expected="a bound (an integer) for at least one of them"),
            )

    def judge(self, evaluation: Evaluation) -> Verdict:
        statements = evaluation.main.log.statements
        shapes = evaluation.shapes
        by_kind: dict[str, list[CapturedStatement]] = {kind: [] for kind in KINDS}
        for statement in statements:
            kind = shapes[statement.index].kind
            if kind in by_kind:
                by_kind[kind].append(statement)
        counted = _counts(by_kind)
        bounds = ", ".join(f"{kind} at most {bound}" for kind, bound in self.bounds.items())
        problems: list[str] = []
        offenders: list[CapturedStatement] = []
        for kind, bound in self.bounds.items():
            observed = len(by_kind[kind])
            if observed > bound:
                problems.append(OVER_BUDGET.format(observed=observed, kind=kind, bound=bound))
                offenders.extend(by_kind[kind])
        if self.where:
            for kind in FILTERED_KINDS:
                unfiltered = [s for s in by_kind[kind] if not shapes[s.index].has_where]
                if unfiltered:
                    tables = sorted({t for s in unfiltered for t in shapes[s.index].main_tables})
                    problems.append(
                        MISSING_WHERE.format(
                            count=len(unfiltered), kind=kind, table=", ".join(tables) or "the table"
                        )
                    )
                    offenders.extend(unfiltered)
        figures = Evidence("statements by kind", _figures(by_kind))
        if not problems:
            return Verdict(True, BUDGET_OK.format(observed=counted, bounds=bounds), (figures,))
        offenders.sort(key=lambda s: s.index)
        return Verdict(
            False,
            "; ".join(problems),
            (figures, *statement_evidence(offenders, shapes)),
        )


def _counts(by_kind: dict[str, list[CapturedStatement]]) -> str:
    return ", ".join(f"{len(found)} {kind}" for kind, found in by_kind.items() if found) or (
        "no statements"
    )


def _figures(by_kind: dict[str, list[CapturedStatement]]) -> str:
    lines = []
    for kind, found in by_kind.items():
        if found:
            rows = sum(s.rows_in for s in found)
            lines.append(f"{kind}: {len(found)} statement(s) carrying {rows} parameter set(s)")
    return "\n".join(lines) or "no statements"


@register
class AtomicUnderFault(Check):
    """A failure half-way through leaves nothing of the operation behind.

    Committing row by row makes every row its own transaction: when row 150
    of 300 fails (a lost connection, a violated constraint), the first 149
    stay, and running the operation again duplicates them. In one transaction
    the failure rolls everything back. The grader makes the write carrying
    row ``fault_after_rows`` (a spec setting) fail in a run of its own and
    compares the database after it with the database before the call; the
    exercise's ``snapshot`` hook says what the state is. That all the rows are
    written without a failure is judged by ``correct_result``.
    """

    kind = "atomic_under_fault"
    needs = frozenset({"fault"})
    default_hint = (
        "What is committed when the failure happens? Make the whole operation one "
        "transaction, so that a failure rolls all of it back."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        from grader.execution.run import FailureKind, RunRecord

        run = evaluation.extra.get("fault")
        if not isinstance(run, RunRecord):
            return Verdict(False, NO_FAULT_RUN)
        info: dict[str, Any] = dict(run.extra.get("fault") or {})
        at = info.get("after_rows", "?")
        if run.failure is not None and run.failure.kind != FailureKind.FAULT:
            return Verdict(
                False,
                FAULT_RUN_FAILED.format(message=run.failure.message),
                (Evidence("traceback", run.failure.traceback),) if run.failure.traceback else (),
            )
        if not info.get("fired"):
            return Verdict(False, FAULT_NOT_FIRED.format(at=at, rows=info.get("rows_written", 0)))
        if run.baseline is None and run.snapshot is None:
            raise OrmgradeError(
                f"{evaluation.spec.id}: {self.kind} needs the exercise's snapshot hook"
            )
        evidence = [Evidence("the write made to fail", _one_line(str(info.get("statement", ""))))]
        if run.failure is not None:
            # The driver error's own text ends with the SQL again and a link: keep the head.
            raised = re.split(r"\s*\[SQL:", run.failure.message, maxsplit=1)[0]
            evidence.append(Evidence("what your code raised", _one_line(raised)))
        if run.snapshot == run.baseline:
            return Verdict(True, ATOMIC_OK.format(at=at), tuple(evidence))
        change, shown = describe_change(run.baseline, run.snapshot)
        return Verdict(False, PARTIAL_STATE.format(at=at, change=change), (*shown, *evidence))
