"""The whole catalog's self-check, on SQLite, PostgreSQL and MariaDB.

Every exercise that exists is verified once per dialect (`grader.authoring.verify`,
one seed): its reference solution must earn full marks and its starter must
be correct but slow. Each exercise's verdict is a test of its own, so a
failure names the dialect and the exercise
(``test_solution_full_marks[postgresql-filter_limit]``). The server dialects
skip with the reason when their server does not answer, and fail instead
under ``ORMGRADE_REQUIRE_SERVERS=1``.

The dialects' self-checks run side by side, each in a thread of its own, all
started by the first test that needs one: the runs are child processes and
the servers work in processes of their own, so the dialects share the cores
instead of taking turns. These tests are marked ``slow``: the default
``pytest`` leaves them out, ``pytest -m slow`` (and CI) runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from grader.authoring.verify import GATE, VerifyReport, solution_problems, starter_problems, verify
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions
from grader.results import ExerciseResult, GradeReport
from tests.conftest import MYSQL_URL, POSTGRES_URL, ROOT, _reachable

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
SERVER_URLS = {"postgresql": POSTGRES_URL, "mysql": MYSQL_URL}


@pytest.fixture(scope="module")
def self_checks(
    request: pytest.FixtureRequest, catalog: Catalog
) -> Iterator[dict[str, Future[VerifyReport]]]:
    """The self-check of every dialect this run's tests ask for, all started at once.

    A dialect whose server does not answer is not started: its tests skip (or
    fail) through its server fixture, as they would alone.
    """
    wanted = {
        item.callspec.params["verified"]
        for item in request.session.items
        if item.module is request.module
        and hasattr(item, "callspec")
        and "verified" in item.callspec.params
    }
    urls = {d: SERVER_URLS.get(d) for d in sorted(wanted)}
    started = {d: url for d, url in urls.items() if url is None or _reachable(url) is None}
    with ThreadPoolExecutor(max_workers=max(len(started), 1)) as pool:
        yield {
            dialect: pool.submit(verify, catalog, options=GradeOptions(seed=SEED, db_url=url))
            for dialect, url in started.items()
        }


@pytest.fixture(scope="module")
def verified(
    request: pytest.FixtureRequest, self_checks: dict[str, Future[VerifyReport]]
) -> VerifyReport:
    """The self-check of the whole catalog on one dialect (made once per dialect)."""
    dialect: str = request.param
    if dialect in SERVER_FIXTURES:
        request.getfixturevalue(SERVER_FIXTURES[dialect])  # skips (or fails) when unreachable
    report = self_checks[dialect].result()
    assert report.solutions.dialect == dialect
    return report


def result_of(report: GradeReport, exercise_id: str) -> ExerciseResult:
    spec = Catalog(ROOT).spec(exercise_id)
    if not spec.runs_on(report.dialect):
        pytest.skip(spec.not_on(report.dialect))
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


#: What each starter that SQLite cannot run is slow at, on the servers.
SERVER_STARTER_FAILS = {"partition_pruning": ["partitions_pruned"]}


@pytest.mark.parametrize("exercise_id", list(SERVER_STARTER_FAILS))
@pytest.mark.parametrize("verified", DIALECTS[1:], indirect=True)
def test_server_starter_fails_exactly_what_it_teaches(
    verified: VerifyReport, exercise_id: str
) -> None:
    result = result_of(verified.starters, exercise_id)
    assert result.check(GATE).passed
    assert [c.name for c in result.checks if not c.passed] == SERVER_STARTER_FAILS[exercise_id]


@pytest.mark.parametrize("verified", DIALECTS, indirect=True)
def test_every_exercise_is_verified(verified: VerifyReport) -> None:
    dialect = verified.solutions.dialect
    catalog = Catalog(ROOT)
    runs_here = [i for i in EXERCISES if catalog.spec(i).runs_on(dialect)]
    assert [r.id for r in verified.solutions.exercises] == runs_here
    assert [r.id for r in verified.starters.exercises] == runs_here
    left_out = [catalog.spec(i).not_on(dialect) for i in EXERCISES if i not in runs_here]
    assert list(verified.left_out) == left_out
