"""End to end: grade example submissions through the runner, in child processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.checks.base import NOT_JUDGED
from grader.checks.query import TOO_MANY_QUERIES, WRONG_RESULT
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions, grade
from grader.results import Outcome, from_json, to_json
from tests.conftest import case_dir

FIRST = ["filter_limit", "eager_loading", "column_projection"]


@pytest.fixture(scope="module")
def solutions(catalog: Catalog):
    return grade(catalog.solutions_dir, catalog, FIRST, GradeOptions(seed=11))


@pytest.fixture(scope="module")
def starters(catalog: Catalog):
    return grade(catalog.exercises_dir, catalog, FIRST, GradeOptions(seed=11))


def test_reference_solutions_earn_full_marks(solutions) -> None:
    assert [(e.id, e.score, e.max_score) for e in solutions.exercises] == [
        (e.id, e.max_score, e.max_score) for e in solutions.exercises
    ]
    assert solutions.score == solutions.max_score == 30


def test_starters_are_correct_but_score_below_full(starters) -> None:
    for result in starters.exercises:
        assert result.check("correct_result").passed, result.id
        assert result.score < result.max_score, result.id


def test_results_json_round_trips(solutions) -> None:
    text = to_json(solutions)
    document = json.loads(text)
    assert document["schema_version"] == 1
    assert document["dialect"] == "sqlite"
    assert document["seed"] == 11
    assert document["score"] == 30
    first = document["exercises"][0]
    assert set(first) >= {"id", "title", "score", "max_score", "error", "checks"}
    assert set(first["checks"][0]) == {
        "name",
        "passed",
        "points",
        "max_points",
        "message",
        "hint",
        "evidence",
    }
    assert from_json(text).to_dict() == solutions.to_dict()


def test_hard_coded_answer_fails_on_another_seed(catalog: Catalog) -> None:
    submission = case_dir("test_hard_coded_answer_fails_on_another_seed")
    copied = grade(submission, catalog, ["filter_limit"], GradeOptions(seed=7)).exercises[0]
    assert copied.check("correct_result").passed  # the seed it was copied from
    fresh = grade(submission, catalog, ["filter_limit"], GradeOptions(seed=8)).exercises[0]
    gate = fresh.check("correct_result")
    assert not gate.passed
    assert gate.message.startswith(WRONG_RESULT.split("{")[0])
    assert fresh.score == 0


def test_raw_driver_cursor_is_counted(catalog: Catalog) -> None:
    result = grade(
        case_dir("test_raw_driver_cursor_is_counted"),
        catalog,
        ["filter_limit"],
        GradeOptions(seed=3),
    ).exercises[0]
    assert result.check("correct_result").passed
    queries = result.check("max_queries")
    assert not queries.passed
    assert queries.message == TOO_MANY_QUERIES.format(observed=2, bound=1)
    assert all("(raw driver cursor)" in e.label for e in queries.evidence)
    assert result.check("where_in_sql").passed
    assert result.check("limit_in_sql").passed


def test_wrong_answer_scores_nothing(catalog: Catalog) -> None:
    result = grade(
        case_dir("test_wrong_answer_scores_nothing"),
        catalog,
        ["filter_limit"],
        GradeOptions(seed=3),
    ).exercises[0]
    assert result.outcome is Outcome.GRADED
    assert not result.check("correct_result").passed
    assert result.score == 0
    assert {c.message for c in result.checks if c.name != "correct_result"} == {NOT_JUDGED}


@pytest.mark.parametrize("strategy", ["joinedload", "subqueryload", "contains_eager"])
def test_alternative_eager_strategies(catalog: Catalog, strategy: str) -> None:
    submission = case_dir("test_alternative_eager_strategies") / strategy
    result = grade(submission, catalog, ["eager_loading"], GradeOptions(seed=5)).exercises[0]
    assert result.score == result.max_score, [c.message for c in result.checks]


def test_missing_task_file_is_a_crash_not_a_grader_error(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "filter_limit").mkdir()
    result = grade(tmp_path, catalog, ["filter_limit"], GradeOptions(seed=1)).exercises[0]
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None and "task.py is missing" in result.error
    assert result.score == 0


def test_unknown_exercise_is_refused_before_anything_runs(catalog: Catalog, tmp_path: Path) -> None:
    from grader.errors import UnknownExerciseError

    with pytest.raises(UnknownExerciseError, match="unknown exercise 'nope'"):
        grade(tmp_path, catalog, ["nope"])
