"""The catalog self-check: solutions earn full marks, starters are correct but slow.

Every reference solution must earn every point; every starter must pass
``correct_result`` (it is the oracle, so anything else is a broken catalog)
and fail every check its spec lists in ``starter_fails`` (what the exercise
teaches; with none listed, at least one check). Every README follows the
rules of `grader.authoring.readme`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from grader.authoring.readme import readme_problems
from grader.course.catalog import Catalog
from grader.course.spec import ExerciseSpec
from grader.grading.runner import GradeOptions, grade, open_session
from grader.results import ExerciseResult, GradeReport

#: The name of the check every exercise gates on.
GATE = "correct_result"


@dataclass(frozen=True)
class VerifyProblem:
    """One way the catalog fails its self-check.

    Attributes:
        exercise_id: The exercise.
        side: ``solution``, ``starter`` or ``readme``.
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


#: The starter passes a check its spec declares it fails.
STARTER_PASSES = (
    "the starter passes {name}, which the spec lists in starter_fails: the exercise "
    "teaches nothing there (make the starter slow at it, or tighten the check: {message})"
)
#: The starter passes every check.
TEACHES_NOTHING = "the starter passes every performance check: the exercise teaches nothing"
#: No ``starter_fails`` in the spec.
NO_STARTER_FAILS = (
    "the spec declares no starter_fails; the starter fails {failing}: "
    "add starter_fails = [{quoted}] to spec.toml"
)


def starter_problems(result: ExerciseResult, spec: ExerciseSpec | None = None) -> list[str]:
    """Why a starter's result does not show a correct-but-slow starter.

    With ``spec``, each check of its ``starter_fails`` must fail, and a spec
    that declares none is told which checks to declare.
    """
    if result.error:
        return [f"{result.outcome.value}: {result.error.splitlines()[0]}"]
    problems = []
    gate = [c for c in result.checks if c.name == GATE]
    if not gate or not gate[0].passed:
        problems.append(f"the starter does not pass {GATE}")
    others = [c for c in result.checks if c.name != GATE]
    if others and all(c.passed for c in others):
        problems.append(TEACHES_NOTHING)
    if spec is None:
        return problems
    for name in spec.starter_fails:
        found = [c for c in result.checks if c.name == name]
        if found and found[0].passed:
            problems.append(STARTER_PASSES.format(name=name, message=found[0].message))
    failing = [c.name for c in others if not c.passed and c.max_points]
    if not spec.starter_fails and failing and not problems:
        problems.append(
            NO_STARTER_FAILS.format(
                failing=", ".join(failing), quoted=", ".join(f'"{n}"' for n in failing)
            )
        )
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
    ] + [
        VerifyProblem(r.id, "starter", m)
        for r in starters.exercises
        for m in starter_problems(r, catalog.spec(r.id))
    ]
    problems += [
        VerifyProblem(r.id, "readme", m)
        for r in solutions.exercises
        for m in readme_problems(catalog.spec(r.id))
    ]
    return VerifyReport(solutions, starters, tuple(problems), left_out)
