"""Checks on writes made by several workers at once: no update lost, and how.

A read-modify-write (read a value, change it in Python, write it back) loses
updates when two workers interleave: both read 100, both write 99. The first
check judges a concurrent run (`grader.grading.concurrency`): after every worker's
calls, the database must be what the same calls made one after another leave.
That run can only show a race that happened, so the second check reads the
statements of the graded call for the guard that makes the race impossible.
Message templates are module constants so that tests and reporters refer to
them instead of retyping them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from grader.analysis.sqlshape import StatementShape
from grader.checks.base import Check, Evaluation, Verdict, register
from grader.checks.query import describe_difference, statement_evidence
from grader.errors import OrmgradeError
from grader.results import Evidence

if TYPE_CHECKING:
    from grader.execution.capture import CapturedStatement, QueryLog

# -- messages -----------------------------------------------------------------
NO_LOST_UPDATE = (
    "{workers} workers made {calls} calls at once, and the database holds what the same "
    "calls made one after another leave"
)
LOST_UPDATES = (
    "{workers} workers made {calls} calls at once, and the database differs from what the "
    "same calls made one after another leave: {difference}"
)
WORKERS_FAILED = "{failed} of {workers} workers did not finish their {calls} calls: {message}"
NO_CONCURRENT_RUN = "no concurrent run was made"
GUARDED = "the read-modify-write of {table} is guarded: {how}"
UNGUARDED = (
    "{table} is updated with a value your code computed from an earlier plain read: "
    "nothing stops another worker from writing in between (no update computed in SQL, "
    "no lock taken before the read, no check that the row is unchanged)"
)
NO_UPDATE = "no statement updated {table}"

#: How each guard is described in messages.
ATOMIC = "the new value is computed by the database (SET {column} = … {column} …)"
ROW_LOCK = "the row is locked before it is read (SELECT … FOR UPDATE)"
WRITE_LOCK = "the database's write lock is taken before the read (BEGIN IMMEDIATE)"
OPTIMISTIC = (
    "the UPDATE applies only if the row still holds what was read (WHERE {column} = …), "
    "optimistic locking"
)

_QUOTES = re.compile(r"[\"`\[\]]")
#: Bound parameters (``%(budget)s``, ``:budget``) and string literals: their names are no columns.
_NOT_COLUMNS = re.compile(r"%\(\w+\)s|(?<![:\w]):\w+|'(?:[^']|'')*'")
_SET = re.compile(
    r"\bSET\b(?P<set>.*?)(?:\bWHERE\b(?P<where>.*?))?(?:\bRETURNING\b.*)?$", re.S | re.I
)
_FOR_UPDATE = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b", re.I)
_WRITE_BEGIN = re.compile(r"^\s*BEGIN\s+(?:IMMEDIATE|EXCLUSIVE)\b", re.I)


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def update_guards(sql: str) -> list[str]:
    """The guards an UPDATE statement carries by itself (atomic SET, optimistic WHERE)."""
    found = _SET.search(_QUOTES.sub("", _NOT_COLUMNS.sub("?", sql)))
    if found is None:
        return []
    guards = []
    where = found.group("where") or ""
    for assignment in _split_top_level(found.group("set")):
        target, equals, value = assignment.partition("=")
        if not equals:
            continue
        column = target.strip().rsplit(".", 1)[-1].strip()
        if not column:
            continue
        mention = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])", re.I)
        if mention.search(value):
            guards.append(ATOMIC.format(column=column))
        elif mention.search(where):
            guards.append(OPTIMISTIC.format(column=column))
    return guards


def _write_lock_first(log: QueryLog, first_read: int | None) -> bool:
    """Whether a ``BEGIN IMMEDIATE`` (or ``EXCLUSIVE``) was sent, before the first read."""
    for statement in log.statements:
        if first_read is not None and statement.index > first_read:
            break
        if _WRITE_BEGIN.match(statement.sql):
            return True
    # Sent through a raw cursor, the SQLite trace files it under transaction control;
    # its place among the statements is then unknown.
    return any(_WRITE_BEGIN.match(sql) for sql in log.transaction_control)


def guards_of(
    log: QueryLog, shapes: Sequence[StatementShape], table: str
) -> tuple[list[str], list[CapturedStatement]]:
    """The guards found on the updates of ``table``, and those updates."""
    updates = [
        s
        for s in log.statements
        if shapes[s.index].kind == "UPDATE" and table in shapes[s.index].main_tables
    ]
    if not updates:
        return [], []
    reads = [
        s
        for s in log.statements
        if shapes[s.index].kind == "SELECT" and table in shapes[s.index].tables
    ]
    first_update = updates[0].index
    guards: list[str] = []
    for update in updates:
        guards += [g for g in update_guards(update.sql) if g not in guards]
    if any(_FOR_UPDATE.search(s.sql) and s.index < first_update for s in reads):
        guards.append(ROW_LOCK)
    if _write_lock_first(log, reads[0].index if reads else None):
        guards.append(WRITE_LOCK)
    return guards, updates


@register
class NoLostUpdate(Check):
    """Concurrent calls lose no update.

    Several workers (processes, each with its own connection) call the
    submission at the same time on one database, ``calls_per_worker`` calls
    each (spec settings ``workers`` and ``calls_per_worker``). Afterwards the
    database must hold what the same calls leave when made one after another
    by the starter. Code that reads a value, changes it in Python and writes
    it back loses the updates that other workers made in between; code that
    fails under contention (a lock timeout, a conflict it does not retry)
    loses its own. Needs the exercise's ``snapshot`` hook.
    """

    kind = "no_lost_update"
    needs = frozenset({"concurrent"})
    default_hint = (
        "Two workers read the same value, both change it in Python, both write it back: "
        "one change is lost. Let the database compute the new value, or lock the row before "
        "reading it, or write only if the row is unchanged and retry otherwise."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        run = evaluation.extra.get("concurrent")
        from grader.execution.run import ConcurrentRun  # imported when judging

        if not isinstance(run, ConcurrentRun):
            return Verdict(False, NO_CONCURRENT_RUN)
        if not run.serial.ok:
            assert run.serial.failure is not None
            raise OrmgradeError(
                f"{evaluation.spec.id}: the starter failed making the calls one after "
                f"another: {run.serial.failure.message}"
            )
        grader_errors = [w for w in run.failed if w.failure and w.failure.is_grader_error]
        if grader_errors:
            assert grader_errors[0].failure is not None
            raise OrmgradeError(
                f"{evaluation.spec.id}: a worker of the concurrent run failed on the grader's "
                f"side: {grader_errors[0].failure.message}"
            )
        workers = len(run.workers)
        figures = {"workers": workers, "calls": run.calls}
        if run.failed:
            first = run.failed[0].failure
            assert first is not None
            evidence = [
                Evidence(f"{w.purpose}", w.failure.message) for w in run.failed if w.failure
            ]
            if first.traceback:
                evidence.append(Evidence("traceback", first.traceback))
            return Verdict(
                False,
                WORKERS_FAILED.format(
                    failed=len(run.failed),
                    workers=workers,
                    calls=run.calls_per_worker,
                    message=first.message,
                ),
                tuple(evidence[:4]),
            )
        statements = sum(len(w.log) for w in run.workers)
        sent = (Evidence("statements sent by the workers", str(statements)),)
        if run.state != run.serial.snapshot:
            difference = describe_difference(run.serial.snapshot, run.state)
            return Verdict(False, LOST_UPDATES.format(difference=difference, **figures), sent)
        return Verdict(True, NO_LOST_UPDATE.format(**figures), sent)


@register
class GuardedUpdate(Check):
    """The read-modify-write of a table cannot interleave with another writer.

    A concurrent run shows a lost update only when the race happened to
    strike; this check reads the graded call's statements for the guard that
    rules it out. Any of these counts: the UPDATE computes the new value in
    SQL (``SET n = n + 1``); the row is read with ``SELECT … FOR UPDATE``
    before the UPDATE; on SQLite, the transaction began with ``BEGIN
    IMMEDIATE`` before the read; or the UPDATE's WHERE tests a column it
    writes (``WHERE version = …``: optimistic locking, a conflict updates no
    row). Option: ``table``, the table whose rows are updated.
    """

    kind = "guarded_update"
    default_hint = (
        "Between your SELECT and your UPDATE another worker may write the same row. Which "
        "statement below would notice, or prevent, that?"
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str).lower()

    def judge(self, evaluation: Evaluation) -> Verdict:
        guards, updates = guards_of(evaluation.main.log, evaluation.shapes, self.table)
        if not updates:
            return Verdict(False, NO_UPDATE.format(table=self.table))
        evidence = statement_evidence(updates, evaluation.shapes)
        if guards:
            return Verdict(True, GUARDED.format(table=self.table, how="; ".join(guards)), evidence)
        return Verdict(False, UNGUARDED.format(table=self.table), evidence)
