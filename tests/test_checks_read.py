"""The read-side query exercises, graded end to end, and the aggregate checks both ways.

The end-to-end tests grade the example submissions of ``tests/cases/<test name>/``
through the runner (child processes, real plans) in one grading session, so the
starter's run of each exercise is made once. The unit tests judge the checks of
``grader.checks.aggregate`` on real recordings made in-process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.analysis.sqlshape import parse_statement
from grader.checks.aggregate import (
    AGGREGATED_NOT_GROUPED,
    AGGREGATED_OK,
    IN_SUBQUERY,
    NOT_AGGREGATED,
    ROWS_OK,
    ROWS_OVER_GROUPS,
    ROWS_UNKNOWN,
    TOO_MANY_ROWS,
    aggregates_in_sql,
    groups_in_sql,
)
from grader.checks.base import NOT_JUDGED
from grader.checks.query import (
    CLAUSE_MISSING,
    CLAUSE_OK,
    FULL_SCAN,
    INDEX_OK,
    NO_READ,
    TOO_MANY_QUERIES,
    WRONG_RESULT,
)
from grader.course.catalog import Catalog
from grader.databases.dataset import EMPTY_PROJECTS, SIZES
from grader.domain import Project, Task, User
from grader.errors import SpecError
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult
from tests.conftest import case_dir
from tests.recording import check, evaluation, record, seeded_engine

#: The dataset seed of every graded case (test_checks_write uses it too, so the
#: seeded templates are built once per test session).
SEED = 7
WRONG = WRONG_RESULT.split("{")[0]


@pytest.fixture(scope="module")
def session(catalog: Catalog) -> Iterator[GradingSession]:
    """One grading session for the module: one seed, the starters' runs cached."""
    grading = open_session(catalog, GradeOptions(seed=SEED))
    yield grading
    grading.close()


def graded(session: GradingSession, catalog: Catalog, case: str, exercise: str) -> ExerciseResult:
    """Grade the example submission of ``case`` on ``exercise``."""
    report = grade(case_dir(case), catalog, [exercise], session=session)
    (result,) = report.exercises
    assert result.error is None, result.error
    return result


def failing(result: ExerciseResult) -> list[str]:
    """The names of the checks not met."""
    return [c.name for c in result.checks if not c.passed]


def assert_gate_failed(result: ExerciseResult) -> None:
    """Only correct_result was judged, it failed, and nothing else scored."""
    gate = result.check("correct_result")
    assert not gate.passed
    assert gate.message.startswith(WRONG)
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")


# -- pagination -------------------------------------------------------------------


def test_pagination_core_style(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_pagination_core_style", "pagination")
    assert result.score == result.max_score
    assert result.check("offset_in_sql").message == CLAUSE_OK.format(clause="OFFSET", table="tasks")


def test_pagination_orm_entities(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_pagination_orm_entities", "pagination")
    assert result.score == result.max_score
    assert result.check("order_by_in_sql").message == CLAUSE_OK.format(
        clause="ORDER BY", table="tasks"
    )


def test_pagination_limit_then_slice(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_pagination_limit_then_slice", "pagination")
    assert failing(result) == ["offset_in_sql"]
    offset = result.check("offset_in_sql")
    assert offset.message == CLAUSE_MISSING.format(clause="OFFSET", table="tasks", reads=1)
    assert "LIMIT" in offset.evidence[0].text
    assert offset.hint


def test_pagination_off_by_one_page(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_pagination_off_by_one_page", "pagination")
    assert_gate_failed(result)
    assert "item 0 differs" in result.check("correct_result").message


# -- keyset_pagination ------------------------------------------------------------------


def test_keyset_pagination_text_sql(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_keyset_pagination_text_sql", "keyset_pagination")
    assert result.score == result.max_score
    assert result.check("seek_in_plan").message == INDEX_OK.format(table="tasks", how="primary_key")


def test_keyset_pagination_tuple_comparison(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_keyset_pagination_tuple_comparison", "keyset_pagination"
    )
    assert result.score == result.max_score


def test_keyset_pagination_expression_on_key(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_keyset_pagination_expression_on_key", "keyset_pagination"
    )
    assert failing(result) == ["seek_in_plan"]
    assert result.check("no_offset").passed
    seek = result.check("seek_in_plan")
    assert seek.message == FULL_SCAN.format(count=1, table="tasks")
    assert "SCAN tasks" in seek.evidence[1].text


def test_keyset_pagination_includes_cursor(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_keyset_pagination_includes_cursor", "keyset_pagination")
    assert_gate_failed(result)


# -- index_lookup --------------------------------------------------------------------


def test_index_lookup_unique_index(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_index_lookup_unique_index", "index_lookup")
    assert result.score == result.max_score
    assert result.check("index_search").message == INDEX_OK.format(
        table="users", how="index_search uq_users_email"
    )


def test_index_lookup_lower_email(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_index_lookup_lower_email", "index_lookup")
    assert failing(result) == ["index_search"]
    search = result.check("index_search")
    assert search.message == FULL_SCAN.format(count=1, table="users")
    assert "lower(users.email)" in search.evidence[0].text


def test_index_lookup_index_created_in_run(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_index_lookup_index_created_in_run", "index_lookup")
    assert failing(result) == ["max_queries"]
    queries = result.check("max_queries")
    assert queries.message == TOO_MANY_QUERIES.format(observed=2, bound=1)
    assert any("CREATE INDEX" in e.text for e in queries.evidence)


# -- count_exists ----------------------------------------------------------------------


def test_count_exists_explicit_exists(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_count_exists_explicit_exists", "count_exists")
    assert result.score == result.max_score
    assert result.check("one_row_fetched").message == ROWS_OK.format(observed=1, bound=1)


def test_count_exists_distinct_count(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_count_exists_distinct_count", "count_exists")
    assert result.score == result.max_score


def test_count_exists_fetches_ids(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_count_exists_fetches_ids", "count_exists")
    assert failing(result) == ["one_row_fetched"]
    rows = result.check("one_row_fetched")
    busy = starter_value(session, "count_exists")
    assert rows.message == TOO_MANY_ROWS.format(observed=busy, bound=1)
    assert rows.evidence[0].label == f"statement ×1, {busy} row(s) fetched"


def test_count_exists_counts_tasks(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_count_exists_counts_tasks", "count_exists")
    assert_gate_failed(result)


def starter_value(session: GradingSession, exercise: str) -> Any:
    """The starter's answer on the session's grading dataset (from the oracle cache)."""
    (run,) = [r for k, r in session.oracle_cache.items() if k[:2] == (exercise, "main")]
    return run.value


# -- aggregate_report -------------------------------------------------------------------


#: Projects of the grading size, and those of them with tasks (the rest have none).
PROJECTS = SIZES["small"].projects
BUSY_PROJECTS = PROJECTS - int(PROJECTS * EMPTY_PROJECTS)


def test_aggregate_report_text_sql(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_aggregate_report_text_sql", "aggregate_report")
    assert result.score == result.max_score
    assert result.check("aggregated_in_sql").message == AGGREGATED_OK.format(
        table="tasks", how="GROUP BY with COUNT, SUM", rows=BUSY_PROJECTS, groups=BUSY_PROJECTS
    )


def test_aggregate_report_grouped_by_status(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_aggregate_report_grouped_by_status", "aggregate_report")
    assert failing(result) == ["aggregated_in_sql"]
    aggregated = result.check("aggregated_in_sql")
    # Every project with tasks has tasks in all four statuses.
    rows = 4 * BUSY_PROJECTS
    assert aggregated.message == ROWS_OVER_GROUPS.format(
        rows=rows, table="tasks", groups=BUSY_PROJECTS, bound=BUSY_PROJECTS
    )
    assert aggregated.evidence[0].label == f"statement ×1, {rows} row(s) fetched"


def test_aggregate_report_query_per_project(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_aggregate_report_query_per_project", "aggregate_report")
    assert failing(result) == ["max_queries", "aggregated_in_sql"]
    queries = result.check("max_queries").message
    assert queries == TOO_MANY_QUERIES.format(observed=PROJECTS + 1, bound=1)
    # One aggregating query per project: aggregated in SQL, but not grouped.
    assert result.check("aggregated_in_sql").message == AGGREGATED_NOT_GROUPED.format(
        table="tasks", functions="COUNT, SUM", where=""
    )


def test_aggregate_report_correlated_count(session: GradingSession, catalog: Catalog) -> None:
    """COUNT in a correlated subquery aggregates in SQL: the message says so, asks for GROUP BY."""
    result = graded(session, catalog, "test_aggregate_report_correlated_count", "aggregate_report")
    assert failing(result) == ["aggregated_in_sql"]
    message = result.check("aggregated_in_sql").message
    assert message == AGGREGATED_NOT_GROUPED.format(
        table="tasks", functions="COUNT, SUM", where=IN_SUBQUERY
    )
    assert "no statement reading tasks groups" not in message


def test_aggregate_report_count_of_condition(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_aggregate_report_count_of_condition", "aggregate_report"
    )
    assert_gate_failed(result)


# -- join_types ------------------------------------------------------------------------


def test_join_types_grouped_subquery(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_join_types_grouped_subquery", "join_types")
    assert result.score == result.max_score
    assert result.check("left_outer_join").message == CLAUSE_OK.format(
        clause="LEFT OUTER JOIN", table="tasks"
    )
    users = len(starter_value(session, "join_types"))
    assert result.check("aggregated_in_sql").message == AGGREGATED_OK.format(
        table="tasks", how="GROUP BY with COUNT", rows=users, groups=users
    )


def test_join_types_inner_join(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_join_types_inner_join", "join_types")
    assert_gate_failed(result)
    message = result.check("correct_result").message
    assert "items, got" in message  # users lost, not counts changed


def test_join_types_filter_in_where(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_join_types_filter_in_where", "join_types")
    assert_gate_failed(result)
    assert "items, got" in result.check("correct_result").message


def test_join_types_count_star(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_join_types_count_star", "join_types")
    assert_gate_failed(result)
    message = result.check("correct_result").message
    assert ", 0], got [" in message  # a user without open tasks …
    assert message.endswith(", 1]")  # … counted once for the NULL row of the join


# -- the checks on recordings --------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_engine(tmp_path_factory.mktemp("db") / "tiny.sqlite")
    yield engine
    engine.dispose()


def per_project_python(session: Session) -> dict[int, int]:
    counts: dict[int, int] = {}
    for task in session.scalars(select(Task)):
        counts[task.project_id] = counts.get(task.project_id, 0) + 1
    return counts


def per_project_sql(session: Session) -> dict[int, int]:
    stmt = select(Task.project_id, func.count()).group_by(Task.project_id)
    return {project_id: count for project_id, count in session.execute(stmt)}


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def raw_counts(session: Session) -> dict[int, int]:
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute("SELECT project_id, count(*) FROM tasks GROUP BY project_id")
    return dict(cursor.fetchall())


def test_max_rows_fetched_passes_for_a_count(engine: Engine) -> None:
    main = record(engine, count_users)
    verdict = check("max_rows_fetched", max=1).judge(evaluation(main, main))
    assert verdict.passed
    assert verdict.message == ROWS_OK.format(observed=1, bound=1)


def test_max_rows_fetched_fails_for_rows_counted_in_python(engine: Engine) -> None:
    main = record(engine, lambda s: len(s.scalars(select(User)).all()))
    verdict = check("max_rows_fetched", max=1).judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == TOO_MANY_ROWS.format(observed=40, bound=1)  # the tiny dataset
    assert verdict.evidence[0].label == "statement ×1, 40 row(s) fetched"
    assert "FROM users" in verdict.evidence[0].text


def test_max_rows_fetched_counts_only_the_table_asked_for(engine: Engine) -> None:
    def both(session: Session) -> tuple[int, int]:
        projects = len(session.scalars(select(Project.id)).all())
        return projects, count_users(session)

    main = record(engine, both)
    assert check("max_rows_fetched", max=1, table="users").judge(evaluation(main, main)).passed
    assert not check("max_rows_fetched", max=1).judge(evaluation(main, main)).passed
    absent = check("max_rows_fetched", max=1, table="comments").judge(evaluation(main, main))
    assert not absent.passed
    assert absent.message == NO_READ.format(table="comments")


def test_max_rows_fetched_does_not_guess_rows_of_a_raw_cursor(engine: Engine) -> None:
    main = record(engine, raw_counts)
    verdict = check("max_rows_fetched", max=100).judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == ROWS_UNKNOWN.format(count=1)
    assert "raw driver cursor" in verdict.evidence[0].label


def test_aggregated_in_sql_passes_for_group_by(engine: Engine) -> None:
    oracle = record(engine, per_project_python, "oracle")
    main = record(engine, per_project_sql)
    groups = len(oracle.value)
    verdict = check("aggregated_in_sql", table="tasks").judge(evaluation(oracle, main))
    assert verdict.passed
    assert verdict.message == AGGREGATED_OK.format(
        table="tasks", how="GROUP BY with COUNT", rows=groups, groups=groups
    )


def test_aggregated_in_sql_fails_for_python_aggregation(engine: Engine) -> None:
    oracle = record(engine, per_project_python, "oracle")
    verdict = check("aggregated_in_sql", table="tasks").judge(evaluation(oracle, oracle))
    assert not verdict.passed
    assert verdict.message == NOT_AGGREGATED.format(
        table="tasks", wanted="groups (GROUP BY) and aggregates", reads=1
    )
    assert verdict.evidence[0].label == "statement ×1, 300 row(s) fetched"  # every task


def test_aggregated_in_sql_bounds_rows_by_the_groups_of_the_answer(engine: Engine) -> None:
    def by_project_and_status(session: Session) -> dict[int, int]:
        stmt = select(Task.project_id, Task.status, func.count()).group_by(
            Task.project_id, Task.status
        )
        counts: dict[int, int] = {}
        for project_id, _status, count in session.execute(stmt):
            counts[project_id] = counts.get(project_id, 0) + count
        return counts

    oracle = record(engine, per_project_python, "oracle")
    main = record(engine, by_project_and_status)
    rows = main.log.statements[0].rows_fetched
    groups = len(oracle.value)
    assert rows is not None and rows > groups
    verdict = check("aggregated_in_sql", table="tasks").judge(evaluation(oracle, main))
    assert not verdict.passed
    assert verdict.message == ROWS_OVER_GROUPS.format(
        rows=rows, table="tasks", groups=groups, bound=groups
    )
    looser = check("aggregated_in_sql", table="tasks", max_rows=rows)
    assert looser.judge(evaluation(oracle, main)).passed


def test_aggregated_in_sql_without_group_by_for_a_total(engine: Engine) -> None:
    main = record(engine, lambda s: s.scalar(select(func.sum(Task.estimate_hours))))
    strict = check("aggregated_in_sql", table="tasks").judge(evaluation(main, main))
    assert not strict.passed
    verdict = check("aggregated_in_sql", table="tasks", group_by=False).judge(
        evaluation(main, main)
    )
    assert verdict.passed
    assert verdict.message == AGGREGATED_OK.format(table="tasks", how="SUM", rows=1, groups=1)


def test_aggregated_in_sql_does_not_guess_rows_of_a_raw_cursor(engine: Engine) -> None:
    oracle = record(engine, per_project_python, "oracle")
    main = record(engine, raw_counts)
    verdict = check("aggregated_in_sql", table="tasks").judge(evaluation(oracle, main))
    assert not verdict.passed
    assert verdict.message == ROWS_UNKNOWN.format(count=1)


def test_aggregated_in_sql_fails_when_the_table_is_never_read(engine: Engine) -> None:
    main = record(engine, count_users)
    verdict = check("aggregated_in_sql", table="tasks").judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == NO_READ.format(table="tasks")


def test_grouping_inside_a_derived_table_counts() -> None:
    shape = parse_statement(
        "SELECT users.id, coalesce(c.n, 0) FROM users LEFT OUTER JOIN "
        "(SELECT tasks.assignee_id AS a, count(*) AS n FROM tasks GROUP BY tasks.assignee_id) AS c "
        "ON c.a = users.id"
    )
    assert not shape.has_group_by  # the shape describes the top level only
    assert groups_in_sql(shape)
    assert aggregates_in_sql(shape) == {"COUNT"}
    plain = parse_statement("SELECT tasks.id, tasks.title FROM tasks ORDER BY tasks.id")
    assert not groups_in_sql(plain)
    assert aggregates_in_sql(plain) == frozenset()


def test_aggregate_check_options_are_validated() -> None:
    with pytest.raises(SpecError, match=r"^max: missing"):
        check("max_rows_fetched")
    with pytest.raises(SpecError, match=r"^table: missing"):
        check("aggregated_in_sql")
    with pytest.raises(
        SpecError, match=r"^group_by: expected true or false, found .yes. \(string\)"
    ):
        check("aggregated_in_sql", table="tasks", group_by="yes")
