"""Checks on which database each statement goes to.

An exercise called with a primary and a replica (call style
``primary_replica``) has every statement tagged with the database it reached
(`CapturedStatement.engine`: ``"main"`` for the primary, ``"replica"``).
Message templates are module constants so that tests and reporters refer to
them instead of retyping them.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from grader.checks.base import Check, Evaluation, Verdict, register
from grader.results import Evidence

if TYPE_CHECKING:
    from grader.execution.capture import CapturedStatement

#: The label of the primary's statements: the run's ``main`` database, the label that
#: `grader.execution.capture.MAIN` gives (named here so that loading a spec does not
#: import the recorder, and SQLAlchemy with it).
PRIMARY = "main"

# -- messages -----------------------------------------------------------------
ROUTING_OK = (
    "all {reads} read(s) went to the {read_engine} and all {writes} write(s) to the {write_engine}"
)
MISROUTED = (
    "{wrong} statement(s) went to the wrong database: {reads_wrong} of {reads} read(s) "
    "not on the {read_engine}, {writes_wrong} of {writes} write(s) not on the {write_engine}"
)
TOO_FEW_READS = (
    "{reads} read(s) recorded; the task reads data, so at least {bound} should reach the "
    "{read_engine}"
)

#: Statement kinds that read, and that write (as `StatementShape.kind` names them).
READ_KINDS = frozenset({"SELECT"})
WRITE_KINDS = frozenset({"INSERT", "UPDATE", "DELETE"})
#: How many misrouted statements are shown as evidence.
EVIDENCE_LIMIT = 4


def engine_name(label: str) -> str:
    """How the database labelled ``label`` is called in messages."""
    return {PRIMARY: "primary", "replica": "replica"}.get(label, label)


def _evidence(
    misrouted: list[tuple[str, CapturedStatement]], fingerprints: list[str]
) -> tuple[Evidence, ...]:
    counts: Counter[tuple[str, str, str]] = Counter()
    example: dict[tuple[str, str, str], CapturedStatement] = {}
    for role, statement in misrouted:
        key = (role, statement.engine, fingerprints[statement.index])
        counts[key] += 1
        example.setdefault(key, statement)
    evidence = []
    for key, count in counts.most_common(EVIDENCE_LIMIT):
        role, label, _ = key
        sql = " ".join(example[key].sql.split())
        evidence.append(
            Evidence(
                f"{role} ×{count} on the {engine_name(label)}",
                sql if len(sql) <= 500 else sql[:499] + "…",
            )
        )
    return tuple(evidence)


@register
class EngineRouting(Check):
    """Reads go to the replica, writes to the primary.

    A primary that also answers every report spends its capacity on reads a
    replica could serve; a write sent to a replica is lost (or refused). Route
    each statement by what it does: SELECTs to the replica, INSERT / UPDATE /
    DELETE to the primary. Options: ``reads`` and ``writes`` (the labels of
    the databases, default ``replica`` and ``main``), ``min_reads`` (reads
    the task must make at least, default 1).
    """

    kind = "engine_routing"
    default_hint = (
        "Which session (or engine) sends each statement below? Read through one bound "
        "to the replica and write through one bound to the primary."
    )

    def configure(self) -> None:
        self.reads: str = self.option("reads", str, "replica")
        self.writes: str = self.option("writes", str, PRIMARY)
        self.min_reads: int = self.option("min_reads", int, 1)

    def judge(self, evaluation: Evaluation) -> Verdict:
        shapes = evaluation.shapes
        reads = writes = 0
        misrouted: list[tuple[str, CapturedStatement]] = []
        for statement in evaluation.main.log.statements:
            kind = shapes[statement.index].kind
            if kind in READ_KINDS:
                reads += 1
                if statement.engine != self.reads:
                    misrouted.append(("read", statement))
            elif kind in WRITE_KINDS:
                writes += 1
                if statement.engine != self.writes:
                    misrouted.append(("write", statement))
        names = {"read_engine": engine_name(self.reads), "write_engine": engine_name(self.writes)}
        if misrouted:
            reads_wrong = sum(1 for role, _ in misrouted if role == "read")
            return Verdict(
                False,
                MISROUTED.format(
                    wrong=len(misrouted),
                    reads_wrong=reads_wrong,
                    reads=reads,
                    writes_wrong=len(misrouted) - reads_wrong,
                    writes=writes,
                    **names,
                ),
                _evidence(misrouted, [s.fingerprint for s in shapes]),
            )
        if reads < self.min_reads:
            return Verdict(False, TOO_FEW_READS.format(reads=reads, bound=self.min_reads, **names))
        return Verdict(True, ROUTING_OK.format(reads=reads, writes=writes, **names))
