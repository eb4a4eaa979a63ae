"""The catalog self-check: solutions earn full marks, starters are correct but slow.

Every reference solution must earn every point; every starter must pass
``correct_result`` (it is the oracle, so anything else is a broken catalog)
and fail at least one other check (else the exercise teaches nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions, grade, open_session
from grader.results import ExerciseResult, GradeReport

#: The name of the check every exercise gates on.
GATE = "correct_result"


@dataclass(frozen=True)
class VerifyProblem:
    """One way the catalog fails its self-check.

    Attributes:
        exercise_id: The exercise.
        side: ``solution`` or ``starter``.
        message: What is wrong.
    """

    exercise_id: str
    side: str
    message: str


@dataclass(frozen=True)
class VerifyReport:
    """The self-check's findings.

    Attributes:
        solutions: Grades of the reference solutions.
        starters: Grades of the starters.
        problems: Everything that fails the self-check (empty when it passes).
        left_out: Why each exercise the dialect cannot express was not verified.
    """

    solutions: GradeReport
    starters: GradeReport
    problems: tuple[VerifyProblem, ...]
    left_out: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """The catalog passes its self-check."""
        return not self.problems


def solution_problems(result: ExerciseResult) -> list[str]:
    """Why a reference solution's result is not full marks."""
    if result.error:
        return [f"{result.outcome.value}: {result.error.splitlines()[0]}"]
    return [f"{c.name} not met: {c.message}" for c in result.checks if not c.passed]


def starter_problems(result: ExerciseResult) -> list[str]:
    """Why a starter's result does not show a correct-but-slow starter."""
    if result.error:
        return [f"{result.outcome.value}: {result.error.splitlines()[0]}"]
    problems = []
    gate = [c for c in result.checks if c.name == GATE]
    if not gate or not gate[0].passed:
        problems.append(f"the starter does not pass {GATE}")
    others = [c for c in result.checks if c.name != GATE]
    if others and all(c.passed for c in others):
        problems.append("the starter passes every performance check: the exercise teaches nothing")
    return problems


def verify(
    catalog: Catalog,
    ids: Iterable[str] = (),
    options: GradeOptions | None = None,
    progress: Callable[[str, ExerciseResult], None] | None = None,
) -> VerifyReport:
    """Grade the solutions and the starters of ``ids`` (all when empty) with one seed."""
    ids = list(ids)
    session = open_session(catalog, options)
    dialect = session.backend.dialect
    left_out = tuple(s.not_on(dialect) for s in catalog.select(ids) if not s.runs_on(dialect))
    try:
        solutions = grade(
            catalog.solutions_dir,
            catalog,
            ids,
            session=session,
            progress=(lambda r: progress("solution", r)) if progress else None,
        )
        starters = grade(
            catalog.exercises_dir,
            catalog,
            ids,
            session=session,
            progress=(lambda r: progress("starter", r)) if progress else None,
        )
    finally:
        session.close()
    problems = [
        VerifyProblem(r.id, "solution", m)
        for r in solutions.exercises
        for m in solution_problems(r)
    ] + [VerifyProblem(r.id, "starter", m) for r in starters.exercises for m in starter_problems(r)]
    return VerifyReport(solutions, starters, tuple(problems), left_out)
