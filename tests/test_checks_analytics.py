"""window_report graded end to end, and the window check and window detection both ways.

The end-to-end tests grade the example submissions of ``tests/cases/<test name>/``
through the runner (child processes) in one grading session per dialect, so the
starter's run is made once. The unit tests judge ``windowed_in_sql`` on real
recordings made in-process, and read windows from SQL that SQLAlchemy renders
for each dialect.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.analysis.sqlshape import window_functions
from grader.checks.aggregate import group_count
from grader.checks.base import NOT_JUDGED
from grader.checks.query import NO_READ, TOO_MANY_QUERIES, WRONG_RESULT
from grader.checks.window import NOT_WINDOWED, ROWS_OVER_ANSWER, WINDOWED_OK
from grader.course.catalog import Catalog
from grader.databases.dataset import EMPTY_PROJECTS, SIZES
from grader.domain import Project, Task
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult
from tests.conftest import case_dir
from tests.recording import check, evaluation, record, seeded_engine

SEED = 7
EXERCISE = "window_report"
#: Projects of the grading dataset (``small``) that have tasks, each more than three.
BUSY_PROJECTS = SIZES["small"].projects - int(SIZES["small"].projects * EMPTY_PROJECTS)
ANSWER_ROWS = BUSY_PROJECTS * 3
#: Tasks of the grading dataset.
TASKS = SIZES["small"].tasks
WRONG = WRONG_RESULT.split("{")[0]


@pytest.fixture(scope="module")
def session(catalog: Catalog) -> Iterator[GradingSession]:
    grading = open_session(catalog, GradeOptions(seed=SEED))
    yield grading
    grading.close()


def graded(session: GradingSession, catalog: Catalog, case: str) -> ExerciseResult:
    report = grade(case_dir(case), catalog, [EXERCISE], session=session)
    (result,) = report.exercises
    assert result.error is None, result.error
    return result


def failing(result: ExerciseResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


# -- window_report, graded ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "functions"),
    [
        ("test_window_report_text_sql", "ROW_NUMBER"),
        ("test_window_report_core_rank", "RANK"),
        ("test_window_report_orm_cte", "ROW_NUMBER"),
    ],
)
def test_window_report_alternatives_earn_full_marks(
    session: GradingSession, catalog: Catalog, case: str, functions: str
) -> None:
    result = graded(session, catalog, case)
    assert result.score == result.max_score
    assert result.check("windowed_in_sql").message == WINDOWED_OK.format(
        table="tasks", functions=functions, rows=ANSWER_ROWS, answer=ANSWER_ROWS
    )


def test_window_report_query_per_project(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_window_report_query_per_project")
    assert failing(result) == ["max_queries", "windowed_in_sql"]
    assert result.check("max_queries").message == TOO_MANY_QUERIES.format(observed=61, bound=1)
    assert result.check("windowed_in_sql").message == NOT_WINDOWED.format(table="tasks", reads=60)


def test_window_report_filtered_in_python(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_window_report_filtered_in_python")
    assert failing(result) == ["windowed_in_sql"]
    windowed = result.check("windowed_in_sql")
    assert windowed.message == ROWS_OVER_ANSWER.format(
        rows=TASKS, table="tasks", answer=ANSWER_ROWS, bound=ANSWER_ROWS
    )
    assert windowed.evidence[0].label == f"statement ×1, {TASKS} row(s) fetched"


def test_window_report_correlated_count(session: GradingSession, catalog: Catalog) -> None:
    # One statement that fetches only the answer, but without a window: the
    # exercise teaches the window, and a correlated COUNT per row is quadratic.
    result = graded(session, catalog, "test_window_report_correlated_count")
    assert failing(result) == ["windowed_in_sql"]
    assert result.check("windowed_in_sql").message == NOT_WINDOWED.format(table="tasks", reads=1)


def test_window_report_dense_rank(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_window_report_dense_rank")
    gate = result.check("correct_result")
    assert not gate.passed and gate.message.startswith(WRONG)
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")


@pytest.mark.postgres
def test_window_report_without_tie_break_is_wrong_on_postgresql(
    catalog: Catalog, postgres_url: str
) -> None:
    # SQLite hands tied rows to the window in rowid order, which here is the
    # id order the task asks for; PostgreSQL does not, and the answer differs.
    report = grade(
        case_dir("test_window_report_no_tie_break"),
        catalog,
        [EXERCISE],
        GradeOptions(seed=SEED, db_url=postgres_url),
    )
    (result,) = report.exercises
    assert result.error is None, result.error
    gate = result.check("correct_result")
    assert not gate.passed and gate.message.startswith(WRONG)


# -- windowed_in_sql on recordings --------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_engine(tmp_path_factory.mktemp("db") / "tiny.sqlite")
    yield engine
    engine.dispose()


def _rank() -> object:
    return func.row_number().over(partition_by=Task.project_id, order_by=Task.id).label("n")


def first_task_python(session: Session) -> list[tuple[int, int]]:
    first: dict[int, int] = {}
    for task in session.scalars(select(Task).order_by(Task.id)):
        first.setdefault(task.project_id, task.id)
    return sorted(first.items())


def first_task_window(session: Session) -> list[tuple[int, int]]:
    ranked = select(Task.project_id, Task.id, _rank()).subquery()
    stmt = select(ranked.c.project_id, ranked.c.id).where(ranked.c.n == 1)
    return sorted(tuple(row) for row in session.execute(stmt))  # type: ignore[misc]


def first_task_window_all_rows(session: Session) -> list[tuple[int, int]]:
    stmt = select(Task.project_id, Task.id, _rank())
    return sorted((p, t) for p, t, n in session.execute(stmt) if n == 1)


def test_windowed_in_sql_passes_for_a_filtered_window(engine: Engine) -> None:
    oracle = record(engine, first_task_python, "oracle")
    main = record(engine, first_task_window)
    answer = group_count(oracle.value)
    verdict = check("windowed_in_sql", table="tasks").judge(evaluation(oracle, main))
    assert verdict.passed
    assert verdict.message == WINDOWED_OK.format(
        table="tasks", functions="ROW_NUMBER", rows=answer, answer=answer
    )


def test_windowed_in_sql_fails_without_a_window(engine: Engine) -> None:
    oracle = record(engine, first_task_python, "oracle")
    verdict = check("windowed_in_sql", table="tasks").judge(evaluation(oracle, oracle))
    assert not verdict.passed
    assert verdict.message == NOT_WINDOWED.format(table="tasks", reads=1)
    assert verdict.evidence[0].label == "statement ×1, 300 row(s) fetched"  # every task


def test_windowed_in_sql_bounds_rows_by_the_answer(engine: Engine) -> None:
    oracle = record(engine, first_task_python, "oracle")
    main = record(engine, first_task_window_all_rows)
    answer = group_count(oracle.value)
    verdict = check("windowed_in_sql", table="tasks").judge(evaluation(oracle, main))
    assert not verdict.passed
    assert verdict.message == ROWS_OVER_ANSWER.format(
        rows=300, table="tasks", answer=answer, bound=answer
    )
    loose = check("windowed_in_sql", table="tasks", max_rows=300).judge(evaluation(oracle, main))
    assert loose.passed


def test_windowed_in_sql_needs_a_read_of_the_table(engine: Engine) -> None:
    def projects_only(session: Session) -> list[int]:
        return list(session.scalars(select(Project.id)))

    oracle = record(engine, projects_only, "oracle")
    verdict = check("windowed_in_sql", table="tasks").judge(evaluation(oracle, oracle))
    assert not verdict.passed
    assert verdict.message == NO_READ.format(table="tasks")


# -- window detection ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect(), mysql.dialect()])
def test_window_functions_found_in_rendered_sql_at_any_depth(dialect: object) -> None:
    running = func.sum(Task.estimate_hours).over(partition_by=Task.project_id, order_by=Task.id)
    ranked = select(Task.id, _rank(), running.label("total")).subquery()
    stmt = select(ranked.c.id).where(ranked.c.n <= 3)
    sql = str(stmt.compile(dialect=dialect))  # type: ignore[arg-type]
    assert window_functions(sql) == {"ROW_NUMBER", "SUM"}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT sum(x) OVER w FROM t WINDOW w AS (ORDER BY id)", {"SUM"}),
        ("WITH r AS (SELECT rank() OVER (ORDER BY a) AS r FROM t) SELECT * FROM r", {"RANK"}),
        ("SELECT lag(x, 1) over (order by id) FROM t", {"LAG"}),
        ("SELECT count(*), sum(x) FROM t GROUP BY y", set()),
        ('SELECT "over", t.over FROM t', set()),
        ("SELECT 'row_number() OVER ()' FROM t", set()),
        ("not sql at all ((", set()),
    ],
)
def test_window_functions_reads_only_calls_followed_by_over(sql: str, expected: set[str]) -> None:
    assert window_functions(sql) == expected
