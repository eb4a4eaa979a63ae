"""Correct answers in other styles earn full marks; subtly wrong ones fail the gate.

Each correct alternative (``tests/cases/test_correct_alternatives/<style>/``:
Core, ``text()``, other ORM spellings) is graded on SQLite, PostgreSQL and
MariaDB and must earn every point. Each subtly wrong variant
(``tests/cases/test_subtly_wrong_variants/<variant>/``: a dropped predicate,
a missing tie-breaker, the wrong side of a LEFT JOIN, ``<=`` for ``<`` …)
must fail ``correct_result`` with the wrong-result message and score
nothing. Server dialects skip with the reason when their server does not
answer (fail under ``ORMGRADE_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.checks.base import NOT_JUDGED
from grader.checks.query import WRONG_RESULT, WRONG_STATE
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult, Outcome
from tests.conftest import case_dir

#: The seed of the catalog self-check.
SEED = 20241125
ALTERNATIVES = case_dir("test_correct_alternatives")
WRONG = case_dir("test_subtly_wrong_variants")
SERVER_FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url"}
DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def cases(root: str) -> list[tuple[str, str]]:
    """(variant, exercise) of every example under ``root``."""
    folder = case_dir(root)
    return sorted(
        (variant.name, exercise.name)
        for variant in folder.iterdir()
        if variant.is_dir()
        for exercise in variant.iterdir()
        if exercise.is_dir()
    )


#: Wrong variants that no SQLite data can tell apart: SQLite returns tied rows
#: in id order (the id is the rowid), so a missing id tie-breaker goes unseen.
SQLITE_BLIND = {("missing_tie_breaker", "filter_limit"), ("missing_tie_breaker", "pagination")}


@pytest.fixture(scope="module")
def session(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[GradingSession]:
    """One grading session per dialect, shared by the module's tests."""
    dialect: str = request.param
    url = None
    if dialect in SERVER_FIXTURES:
        url = request.getfixturevalue(SERVER_FIXTURES[dialect])
    opened = open_session(catalog, GradeOptions(seed=SEED, db_url=url))
    assert opened.backend.dialect == dialect
    yield opened
    opened.close()


def graded(session: GradingSession, catalog: Catalog, root: str, variant: str, exercise: str):
    spec = catalog.spec(exercise)
    if not spec.runs_on(session.backend.dialect):
        pytest.skip(spec.not_on(session.backend.dialect))
    report = grade(case_dir(root) / variant, catalog, [exercise], session=session)
    (result,) = report.exercises
    assert result.outcome is Outcome.GRADED, result.error
    return result


@pytest.mark.parametrize(("variant", "exercise"), cases("test_correct_alternatives"))
@pytest.mark.parametrize("session", DIALECTS, indirect=True)
def test_correct_alternatives(
    session: GradingSession, catalog: Catalog, variant: str, exercise: str
) -> None:
    result: ExerciseResult = graded(
        session, catalog, "test_correct_alternatives", variant, exercise
    )
    assert result.score == result.max_score, [c.message for c in result.checks if not c.passed]


@pytest.mark.parametrize(("variant", "exercise"), cases("test_subtly_wrong_variants"))
@pytest.mark.parametrize("session", DIALECTS, indirect=True)
def test_subtly_wrong_variants(
    session: GradingSession, catalog: Catalog, variant: str, exercise: str
) -> None:
    if session.backend.dialect == "sqlite" and (variant, exercise) in SQLITE_BLIND:
        pytest.skip("SQLite returns tied rows in id order: no SQLite data tells this apart")
    result: ExerciseResult = graded(
        session, catalog, "test_subtly_wrong_variants", variant, exercise
    )
    gate = result.check("correct_result")
    assert not gate.passed
    prefixes = (WRONG_RESULT.split("{")[0], WRONG_STATE.split("{")[0])
    assert gate.message.startswith(prefixes), gate.message
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")


def test_every_style_is_represented() -> None:
    styles: dict[str, set[str]] = {}
    for variant, exercise in cases("test_correct_alternatives"):
        styles.setdefault(exercise, set()).add(variant.split("_")[0])
    assert all(found == {"core", "text", "orm"} for found in styles.values()), styles
    assert ALTERNATIVES.is_dir() and WRONG.is_dir()
