"""The whole catalog's self-check, on SQLite, PostgreSQL and MariaDB.

Every exercise that exists is verified once per dialect (`grader.authoring.verify`,
one seed): its reference solution must earn full marks and its starter must
be correct but slow. Each exercise's verdict is a test of its own, so a
failure names the dialect and the exercise
(``test_solution_full_marks[postgresql-filter_limit]``). The server dialects
skip with the reason when their server does not answer, and fail instead
under ``ORMGRADE_REQUIRE_SERVERS=1``.
"""

from __future__ import annotations

import pytest

from grader.authoring.verify import GATE, VerifyReport, solution_problems, starter_problems, verify
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions
from grader.results import ExerciseResult, GradeReport
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

#: One seed for every dialect, so that the dialects grade the same data.
SEED = 20241125
#: Every exercise of the catalog, whoever added it.
EXERCISES = Catalog(ROOT).ids
DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SERVER_FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url"}


@pytest.fixture(scope="module")
def verified(request: pytest.FixtureRequest, catalog: Catalog) -> VerifyReport:
    """The self-check of the whole catalog on one dialect (made once per dialect)."""
    dialect: str = request.param
    url = None
    if dialect in SERVER_FIXTURES:
        url = request.getfixturevalue(SERVER_FIXTURES[dialect])
    report = verify(catalog, options=GradeOptions(seed=SEED, db_url=url))
    assert report.solutions.dialect == dialect
    return report


def result_of(report: GradeReport, exercise_id: str) -> ExerciseResult:
    found = [r for r in report.exercises if r.id == exercise_id]
    assert found, f"{exercise_id} was not graded"
    return found[0]


@pytest.mark.parametrize("exercise_id", EXERCISES)
@pytest.mark.parametrize("verified", DIALECTS, indirect=True)
def test_solution_full_marks(verified: VerifyReport, exercise_id: str) -> None:
    result = result_of(verified.solutions, exercise_id)
    assert solution_problems(result) == [], f"seed {SEED}"
    assert result.score == result.max_score


@pytest.mark.parametrize("exercise_id", EXERCISES)
@pytest.mark.parametrize("verified", DIALECTS, indirect=True)
def test_starter_correct_but_slow(
    verified: VerifyReport, catalog: Catalog, exercise_id: str
) -> None:
    result = result_of(verified.starters, exercise_id)
    assert starter_problems(result, catalog.spec(exercise_id)) == [], f"seed {SEED}"
    assert result.score < result.max_score


#: The exercises whose spec declares what the starter is slow at (``starter_fails``).
TEACHING = [s.id for s in Catalog(ROOT).select() if s.starter_fails]


@pytest.mark.parametrize("exercise_id", TEACHING)
@pytest.mark.parametrize("verified", [pytest.param("sqlite")], indirect=True)
def test_starter_fails_exactly_what_it_teaches(
    verified: VerifyReport, catalog: Catalog, exercise_id: str
) -> None:
    result = result_of(verified.starters, exercise_id)
    assert result.check(GATE).passed
    failing = [c.name for c in result.checks if not c.passed and c.max_points]
    assert failing == list(catalog.spec(exercise_id).starter_fails)


def test_every_exercise_declares_what_its_starter_fails() -> None:
    assert TEACHING == EXERCISES


@pytest.mark.parametrize("verified", DIALECTS, indirect=True)
def test_every_exercise_is_verified(verified: VerifyReport) -> None:
    assert [r.id for r in verified.solutions.exercises] == EXERCISES
    assert [r.id for r in verified.starters.exercises] == EXERCISES
