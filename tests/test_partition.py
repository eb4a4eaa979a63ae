"""Partitioned tables: plans that name the partitions read, and the check on them.

Everything runs on the real servers (SQLite has no partitioning), on the
monthly-partitioned ``tasks`` table of exercises/partition_pruning (its
``grading.py`` declares it) holding the tiny dataset: the readers must name
the partitions a step reads, and ``partitions_touched`` must pass a query
the planner prunes and fail one it cannot, with the messages of
`grader.checks.partition`. The exercise itself is graded end to end in
tests/test_catalog.py and tests/test_alternatives.py; the slow-but-correct
answers that defeat pruning are graded here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from grader.analysis.plan import Plan
from grader.checks.partition import NONE_TOUCHED, NOT_PARTITIONED, NOT_PRUNED, PRUNED
from grader.checks.query import CLAUSE_MISSING, NO_PLAN, NO_READ
from grader.course.catalog import Catalog
from grader.databases import dataset
from grader.domain import Base, Task
from grader.execution.child import load_module
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import Outcome
from tests.conftest import ROOT, case_dir
from tests.recording import check, evaluation, plans_of, record

EXERCISE = "partition_pruning"
#: The seed of the catalog self-check.
SEED = 20241125
MONTH = (dt.datetime(2024, 3, 1), dt.datetime(2024, 4, 1))
SERVERS = [
    pytest.param("postgres_url", marks=pytest.mark.postgres, id="postgresql"),
    pytest.param("mysql_url", marks=pytest.mark.mysql, id="mysql"),
]


def partitioned_metadata() -> sa.MetaData:
    hooks = load_module(str(ROOT / "exercises" / EXERCISE / "grading.py"), "partition_hooks")
    return hooks.METADATA


@contextlib.contextmanager
def scratch_engine(url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh schema (PostgreSQL) or database (MariaDB), dropped afterwards."""
    name = f"ormgrade_part_{secrets.token_hex(4)}"
    server = sa.create_engine(url)
    if server.dialect.name == "postgresql":
        with server.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={name}"})
    else:
        with server.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine = sa.create_engine(sa.make_url(url).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with server.begin() as conn:
            if server.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()


def fill(engine: sa.Engine, metadata: sa.MetaData) -> None:
    rows = dataset.generate(dataset.SIZES["tiny"], 5)
    with engine.begin() as conn:
        metadata.create_all(conn)
        dataset.load(conn, rows, metadata)


@pytest.fixture(scope="module", params=SERVERS)
def partitioned(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """The exercise's partitioned tasks, holding the tiny dataset, on each server."""
    with scratch_engine(request.getfixturevalue(request.param)) as engine:
        fill(engine, partitioned_metadata())
        yield engine


@pytest.fixture(scope="module", params=SERVERS)
def plain(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """The domain's tasks, not partitioned, on each server."""
    with scratch_engine(request.getfixturevalue(request.param)) as engine:
        fill(engine, Base.metadata)
        yield engine


def in_range(session: Session) -> list[tuple[str, int]]:
    stmt = (
        select(Task.status, func.count())
        .where(Task.created_at >= MONTH[0], Task.created_at < MONTH[1])
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [tuple(row) for row in session.execute(stmt)]


def by_extract(session: Session) -> list[tuple[str, int]]:
    stmt = (
        select(Task.status, func.count())
        .where(extract("year", Task.created_at) == 2024, extract("month", Task.created_at) == 3)
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [tuple(row) for row in session.execute(stmt)]


def two_months(session: Session) -> int:
    stmt = select(func.count()).where(
        Task.created_at >= dt.datetime(2024, 3, 15), Task.created_at < dt.datetime(2024, 4, 15)
    )
    return session.execute(stmt).scalar_one()


def before_the_data(session: Session) -> int:
    stmt = select(func.count()).where(Task.created_at < dt.datetime(2023, 1, 1))
    return session.execute(stmt).scalar_one()


def judged(engine: sa.Engine, fn: Callable[[Session], Any], bound: int = 1) -> Any:
    oracle = record(engine, fn, "oracle")
    main = record(engine, fn)
    partitions = check("partitions_touched", table="tasks", max=bound)
    return partitions.judge(evaluation(oracle, main, plans=plans_of(engine, main)))


def only_plan(engine: sa.Engine, fn: Callable[[Session], Any]) -> Plan:
    run = record(engine, fn)
    (plan,) = plans_of(engine, run).values()
    assert isinstance(plan, Plan)
    return plan


# -- the plan model ---------------------------------------------------------------------


def test_a_pruned_plan_names_the_one_partition_read(partitioned: sa.Engine) -> None:
    plan = only_plan(partitioned, in_range)

    expected = "tasks_2024_03" if plan.dialect == "postgresql" else "p2024_03"
    assert plan.partitions_of("tasks") == (expected,)
    assert all(node.partitions == (expected,) for node in plan.for_table("tasks"))
    assert expected in plan.render()


def test_a_function_on_the_key_reads_every_partition(partitioned: sa.Engine) -> None:
    plan = only_plan(partitioned, by_extract)

    assert len(plan.partitions_of("tasks")) == 12
    # PostgreSQL scans each partition under an Append; every scan is a step on tasks.
    assert {node.table for node in plan.nodes if node.partitions} == {"tasks"}


def test_a_range_across_a_month_boundary_reads_two(partitioned: sa.Engine) -> None:
    names = only_plan(partitioned, two_months).partitions_of("tasks")

    assert [name[-2:] for name in names] == ["03", "04"]


@pytest.mark.postgres
def test_postgres_run_time_pruning_shows_subplans_removed(postgres_url: str) -> None:
    # now() is known only when the executor starts: the Append prunes then.
    with scratch_engine(postgres_url) as engine:
        fill(engine, partitioned_metadata())
        with engine.connect() as conn:
            from grader.analysis.plan import explain

            plan = explain(
                conn,
                "SELECT count(*) FROM tasks WHERE created_at >= now() - interval '1 day' * %(d)s",
                {"d": (dt.datetime.now() - dt.datetime(2024, 12, 1)).days},
            )

    assert "Subplans Removed:" in plan.render()
    assert plan.partitions_of("tasks") == ("tasks_2024_12",)


def test_a_plain_table_has_no_partitions(plain: sa.Engine) -> None:
    plan = only_plan(plain, in_range)

    assert plan.for_table("tasks")
    assert plan.partitions_of("tasks") == ()
    # MariaDB's EXPLAIN PARTITIONS column is left out when no step has partitions.
    assert "partitions" not in plan.render()


def test_mysql_rows_of_explain_partitions_may_be_sequences() -> None:
    from grader.analysis.plan import reader_for

    row = (1, "SIMPLE", "tasks", "p2024_01,p2024_02", "ALL", None, None, None, None, 10, "")
    plan = reader_for("mysql").parse([row])

    assert plan.partitions_of("tasks") == ("p2024_01", "p2024_02")


def test_postgres_partitions_are_mapped_when_parsing_offline() -> None:
    from grader.analysis.plan import reader_for

    raw = [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "tasks_2024_03", "Alias": "tasks"}}]
    reader = reader_for("postgresql")

    assert reader.parse(raw).nodes[0].table == "tasks_2024_03"
    mapped = reader.parse(raw, partition_of={"tasks_2024_03": "tasks"})
    assert mapped.partitions_of("tasks") == ("tasks_2024_03",)


# -- the check, both ways ---------------------------------------------------------------


def test_pruned_read_passes(partitioned: sa.Engine) -> None:
    verdict = judged(partitioned, in_range)

    name = "tasks_2024_03" if partitioned.dialect.name == "postgresql" else "p2024_03"
    assert verdict.passed
    assert verdict.message == PRUNED.format(table="tasks", bound=1, touched=name)


def test_unpruned_read_fails_with_the_partitions_and_the_plan(partitioned: sa.Engine) -> None:
    verdict = judged(partitioned, by_extract)

    assert not verdict.passed
    assert verdict.message.startswith(NOT_PRUNED.split("{observed}")[0].format(count=1))
    assert "read 12 partitions of tasks" in verdict.message
    assert [e.label for e in verdict.evidence] == ["statement", "plan"]
    assert "EXTRACT" in verdict.evidence[0].text.upper()


def test_the_bound_is_the_spec_max(partitioned: sa.Engine) -> None:
    assert not judged(partitioned, two_months, bound=1).passed
    assert judged(partitioned, two_months, bound=2).passed


def test_a_read_before_every_partition_passes(partitioned: sa.Engine) -> None:
    verdict = judged(partitioned, before_the_data)

    # A MariaDB range's first partition holds every value below its bound: it is read.
    touched = NONE_TOUCHED if partitioned.dialect.name == "postgresql" else "p2024_01"
    assert verdict.passed
    assert verdict.message == PRUNED.format(table="tasks", bound=1, touched=touched)


def test_a_table_that_is_not_partitioned_fails(plain: sa.Engine) -> None:
    verdict = judged(plain, in_range)

    assert not verdict.passed
    assert verdict.message == NOT_PARTITIONED.format(count=1, table="tasks")


def test_no_read_and_no_plan_fail(partitioned: sa.Engine) -> None:
    other = record(partitioned, lambda s: s.execute(sa.text("SELECT 1")).scalar())
    partitions = check("partitions_touched", table="tasks", max=1)
    verdict = partitions.judge(evaluation(other, other, plans=plans_of(partitioned, other)))
    assert (verdict.passed, verdict.message) == (False, NO_READ.format(table="tasks"))

    main = record(partitioned, in_range)
    unplanned = {s.index: "EXPLAIN refused" for s in main.log.statements}
    verdict = partitions.judge(evaluation(main, main, plans=unplanned))
    assert (verdict.passed, verdict.message) == (False, NO_PLAN.format(table="tasks"))


@pytest.mark.parametrize("bad", [{"max": -1}, {"max": "1"}, {}])
def test_bad_options_are_refused(bad: dict[str, Any]) -> None:
    from grader.errors import SpecError

    with pytest.raises(SpecError):
        check("partitions_touched", table="tasks", **bad)


# -- the exercise, graded end to end ----------------------------------------------------


@pytest.fixture(scope="module", params=SERVERS)
def session(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[GradingSession]:
    url = request.getfixturevalue(request.param)
    opened = open_session(catalog, GradeOptions(seed=SEED, db_url=url))
    yield opened
    opened.close()


def graded(session: GradingSession, catalog: Catalog, variant: str) -> Any:
    folder = case_dir("test_partition_pruning_slow_answers") / variant
    (result,) = grade(folder, catalog, [EXERCISE], session=session).exercises
    assert result.outcome is Outcome.GRADED, result.error
    assert result.check("correct_result").passed
    return result


@pytest.mark.parametrize("variant", ["date_of_key", "key_as_text"])
def test_a_function_on_the_key_loses_the_pruning_points(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    result = graded(session, catalog, variant)

    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["partitions_pruned"]
    assert "read 12 partitions of tasks" in failed[0].message


def test_counting_in_python_loses_the_group_by_point(
    session: GradingSession, catalog: Catalog
) -> None:
    result = graded(session, catalog, "counted_in_python")

    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == ["counted_in_sql"]
    assert failed[0].message.startswith(CLAUSE_MISSING.split("{")[0])


def test_sqlite_leaves_the_exercise_out_with_the_reason(catalog: Catalog) -> None:
    spec = catalog.spec(EXERCISE)
    report = grade(ROOT / "solutions", catalog, [EXERCISE], GradeOptions(seed=SEED))

    assert report.exercises == ()
    assert report.warnings[0] == spec.not_on("sqlite")
    assert spec.dialects_reason in report.warnings[0]


def test_the_notebook_builds_locally_and_grades_on_a_server(
    catalog: Catalog, tmp_path: Any, postgres_url: str
) -> None:
    from grader.notebook import check_cell, local_dataset

    local = local_dataset(EXERCISE, tmp_path / "local.sqlite", catalog=catalog)
    assert set(local.params) == {"year", "month"}
    local.engine.dispose()
    source = (ROOT / "solutions" / EXERCISE / "task.py").read_text(encoding="utf-8")

    on_sqlite = check_cell(EXERCISE, source, seed=SEED, catalog=catalog)
    assert not on_sqlite.passed
    assert catalog.spec(EXERCISE).not_on("sqlite") in on_sqlite.text
    assert check_cell(EXERCISE, source, seed=SEED, db_url=postgres_url, catalog=catalog).passed
