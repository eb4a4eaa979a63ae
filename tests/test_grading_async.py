"""async_eager_loading end to end on SQLite, PostgreSQL and MariaDB, and the async call style.

An async entry function is awaited with an `AsyncSession` on the database's
async driver (aiosqlite, psycopg's async mode, aiomysql); its statements are
recorded on the sync engine under the `AsyncEngine`, so the same checks judge
it. The example submissions are ``tests/cases/test_async_eager_loading_*``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.checks.base import NOT_JUDGED
from grader.checks.query import GROWING_QUERIES, QUERIES_OK, TOO_MANY_QUERIES, WRONG_RESULT
from grader.course.catalog import Catalog
from grader.execution.child import RAISED, async_url
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult, Outcome
from tests.conftest import case_dir

SEED = 11
EXERCISE = "async_eager_loading"
DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SERVER_FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url"}


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:////tmp/x.sqlite", "sqlite+aiosqlite"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql+psycopg_async"),
        ("mysql+pymysql://root@127.0.0.1:3306/test", "mysql+aiomysql"),
    ],
)
def test_async_url_names_the_async_driver(url: str, driver: str) -> None:
    assert async_url(url).drivername == driver


def test_async_url_refuses_an_unknown_database() -> None:
    with pytest.raises(ValueError, match="no async driver"):
        async_url("oracle://scott@host/db")


@pytest.fixture(scope="module", params=DIALECTS)
def session(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[GradingSession]:
    """One grading session per dialect: one seed, the starter's runs made once."""
    url = None
    if request.param in SERVER_FIXTURES:
        url = request.getfixturevalue(SERVER_FIXTURES[request.param])
    grading = open_session(catalog, GradeOptions(seed=SEED, db_url=url))
    yield grading
    grading.close()


def graded(
    session: GradingSession, catalog: Catalog, case: str, variant: str = ""
) -> ExerciseResult:
    submission = case_dir(case) / variant if variant else case_dir(case)
    (result,) = grade(submission, catalog, [EXERCISE], session=session).exercises
    return result


def failing(result: ExerciseResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


@pytest.mark.parametrize(
    "variant", ["joinedload", "awaitable_attrs_after_selectinload", "columns_and_outer_join"]
)
def test_async_eager_loading_alternatives(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    result = graded(session, catalog, "test_async_eager_loading_alternatives", variant)
    assert result.outcome is Outcome.GRADED, result.error
    assert result.score == result.max_score, [c.message for c in result.checks]


@pytest.mark.parametrize(
    "case",
    [
        "test_async_eager_loading_gathered_lazy_loads",
        "test_async_eager_loading_run_sync_lazy_loads",
    ],
)
def test_async_eager_loading_lazy_loads_per_user(
    session: GradingSession, catalog: Catalog, case: str
) -> None:
    """Awaited one by one, gathered, or run through run_sync: still one SELECT per user."""
    result = graded(session, catalog, case)
    assert result.outcome is Outcome.GRADED, result.error
    assert failing(result) == ["no_n_plus_one", "max_queries"]
    growth = result.check("no_n_plus_one")
    assert growth.message.endswith(GROWING_QUERIES.rsplit("}", 1)[-1])
    assert any("(lazy load of User.tasks)" in e.label for e in growth.evidence)
    queries = result.check("max_queries").message
    assert queries.endswith(TOO_MANY_QUERIES.split("; ", 1)[1].format(bound=2))
    assert queries != QUERIES_OK.format(observed=2, bound=2)


def test_async_eager_loading_plain_lazy_load_crashes(
    session: GradingSession, catalog: Catalog
) -> None:
    result = graded(session, catalog, "test_async_eager_loading_plain_lazy_load")
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None
    assert result.error.startswith(RAISED.format(entry="run", exception=""))
    assert "MissingGreenlet" in result.error.splitlines()[0]
    assert result.score == 0


def test_async_eager_loading_every_task(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_async_eager_loading_every_task")
    assert result.outcome is Outcome.GRADED, result.error
    assert result.check("correct_result").message.startswith(WRONG_RESULT.split("{")[0])
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")
