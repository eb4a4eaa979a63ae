"""Synthetic results documents: a class's results without grading anyone.

The gradebook and the dashboard read only the results contract, so their
tests build results here, in the shape the grader writes them, with the
messages of the real checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from grader.checks.migration import LockFeedback
from grader.checks.query import CLAUSE_MISSING, CORRECT, TOO_MANY_QUERIES
from grader.classbook.gradebook import results_file_name
from grader.results import (
    CheckResult,
    Evidence,
    ExerciseResult,
    GradeReport,
    Outcome,
    to_json,
    write_atomic,
)

#: Exercise id -> (title, [(check, points)]), as in the catalog.
EXERCISES: dict[str, tuple[str, list[tuple[str, int]]]] = {
    "filter_limit": (
        "Filter and limit in SQL, not in Python",
        [("correct_result", 4), ("max_queries", 2), ("where_in_sql", 2), ("limit_in_sql", 2)],
    ),
    "eager_loading": (
        "Load related rows eagerly (no N+1)",
        [("correct_result", 4), ("no_n_plus_one", 4), ("max_queries", 2)],
    ),
}
#: Queries the reference solution and the starter emit, by exercise.
REFERENCE_QUERIES = {"filter_limit": 1, "eager_loading": 2}
STARTER_QUERIES = {"filter_limit": 1, "eager_loading": 29}
#: The SQL a failed check shows as evidence.
EVIDENCE_SQL = "SELECT users.id, users.name FROM users"


def failure_message(check: str, queries: int) -> str:
    """The message the real check gives when not met."""
    if check == "max_queries":
        return TOO_MANY_QUERIES.format(observed=queries, bound=1)
    if check in ("where_in_sql", "limit_in_sql"):
        clause = "WHERE" if check == "where_in_sql" else "LIMIT"
        return CLAUSE_MISSING.format(table="users", clause=clause, reads=1)
    return f"{check} not met ({queries} queries)"


def exercise_result(
    exercise_id: str,
    failed: Iterable[str] = (),
    queries: int | None = None,
    crashed: str | None = None,
    message: str | None = None,
    evidence: str = EVIDENCE_SQL,
) -> ExerciseResult:
    """One exercise's result: every check passed except ``failed``, or crashed.

    Args:
        exercise_id: A key of `EXERCISES`.
        failed: Checks not met.
        queries: Queries emitted (default: the reference's count).
        crashed: The error text of a crashed submission.
        message: The message of every failed check (default: the real check's).
        evidence: The SQL of every failed check's evidence.
    """
    title, checks = EXERCISES[exercise_id]
    failed = set(failed)
    count = REFERENCE_QUERIES[exercise_id] if queries is None else queries
    results = tuple(
        CheckResult(
            name=name,
            passed=name not in failed,
            points=0 if name in failed else points,
            max_points=points,
            message=(message or failure_message(name, count))
            if name in failed
            else CORRECT.format(seed=7),
            hint="Think about what the database could do." if name in failed else "",
            evidence=(Evidence("statement ×1", evidence),) if name in failed else (),
        )
        for name, points in checks
    )
    if crashed is not None:
        results = tuple(CheckResult(c.name, False, 0, c.max_points, "not judged") for c in results)
    return ExerciseResult(
        id=exercise_id,
        title=title,
        max_score=sum(p for _, p in checks),
        checks=results,
        outcome=Outcome.CRASHED if crashed is not None else Outcome.GRADED,
        error=crashed,
        stats={"queries": count, "starter_queries": STARTER_QUERIES[exercise_id]},
    )


def report(
    exercises: Mapping[str, ExerciseResult] | None = None,
    student: str = "",
    created_at: str = "2026-01-05T10:00:00+00:00",
    seed: int = 7,
    warnings: Iterable[str] = (),
) -> GradeReport:
    """A results document: full marks on every exercise unless given."""
    given = dict(exercises or {})
    return GradeReport(
        exercises=tuple(given.get(i) or exercise_result(i) for i in EXERCISES),
        dialect="sqlite",
        seed=seed,
        submission=student,
        created_at=created_at,
        grader_version="0.1.0",
        warnings=tuple(warnings),
    )


def write_report(results_dir: Path, student: str, document: GradeReport) -> Path:
    """Write ``document`` as ``student``'s results file in ``results_dir``."""
    path = results_dir / results_file_name(student)
    write_atomic(path, to_json(document))
    return path


#: A migration exercise as graded: no query counts, a 0-point feedback check.
MIGRATION = "migration_add_column"
#: The 0-point check of migration exercises (squawk's lock feedback).
LOCK_FEEDBACK = LockFeedback.kind
MIGRATION_CHECKS = [
    ("new_revision", 2),
    ("upgrade_applies", 4),
    ("models_match", 4),
    (LOCK_FEEDBACK, 0),
]


def migration_result(failed: Iterable[str] = ()) -> ExerciseResult:
    """A migration exercise's result: every check met except ``failed``.

    Its ``lock_feedback`` always passes and is worth no points (feedback
    only), and its stats hold no query counts, as the migration grader
    writes them.
    """
    failed = set(failed) - {LOCK_FEEDBACK}
    return ExerciseResult(
        id=MIGRATION,
        title="Add a column with its migration",
        max_score=sum(p for _, p in MIGRATION_CHECKS),
        checks=tuple(
            CheckResult(
                name=name,
                passed=name not in failed,
                points=0 if name in failed else points,
                max_points=points,
                message=f"{name} not met" if name in failed else f"{name} met",
            )
            for name, points in MIGRATION_CHECKS
        ),
        stats={},
    )
