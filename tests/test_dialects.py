"""What the grading engine reads from each dialect: SQL shapes, plans, numbers.

The same code runs on SQLite, PostgreSQL and MariaDB, on copies of the same
seeded templates the grader uses, and the engine must come to the same
judgement: LIMIT and OFFSET as each dialect renders them, EXPLAIN with the
real bound parameters (``%`` doubled for psycopg and PyMySQL, a refused
EXPLAIN not spoiling the next one), planners that search an index only when
there is one, and numbers that compare alike whether a float or a decimal
came back. Server dialects skip with the reason when their server does not
answer (fail under ``ORMGRADE_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import decimal
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from grader.analysis.plan import Access, Plan
from grader.analysis.sqlshape import parse_statement
from grader.checks.query import effective_limit, effective_offset
from grader.databases import dataset
from grader.databases.backend import backend_for
from grader.databases.dataset import DatasetSize
from grader.databases.template import Backend, Template
from grader.domain import Task, User
from grader.execution.capture import capture
from grader.execution.child import normalize
from grader.execution.run import RunRecord
from grader.grading.runner import _explain_all
from tests.recording import check, evaluation
from tests.test_checks_query import (
    LOADER_CASES,
    bug_people_count_distinct,
    bug_people_count_subquery,
    bug_people_distinct,
    bug_people_group_by,
    bug_people_python,
)

#: The seed of the catalog self-check: the templates are shared with it.
SEED = 20241125
#: index_lookup's size: many users, so that a planner has a reason to use an index.
LOOKUP_SIZE = DatasetSize("custom", users=2000, projects=20, tasks=200, tags=5, comments=0)


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """A grading backend of one dialect."""
    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue(
            "postgres_url" if request.param == "postgresql" else "mysql_url"
        )
    made = backend_for(url)
    assert made.dialect == request.param
    yield made
    made.close()


@pytest.fixture(scope="module")
def small(backend: Backend) -> Template:
    return backend.template(dataset.SIZES["small"], SEED)


@pytest.fixture
def copy_of(backend: Backend) -> Iterator[Callable[[Template], str]]:
    """Makes copies of templates; drops them after the test."""
    made: list[str] = []

    def make(template: Template) -> str:
        made.append(backend.copy(template))
        return made[-1]

    yield make
    for url in made:
        backend.drop(url)


def record(url: str, work: Callable[[Session], Any]) -> RunRecord:
    """Run ``work`` on ``url`` under capture, as a child run is recorded."""
    engine = create_engine(url)
    try:
        with capture(engine) as live, Session(engine) as session:
            value = work(session)
    finally:
        engine.dispose()
    assert live.result is not None
    return RunRecord(role="submission", purpose="main", value=value, log=live.result)


# -- SQL shape -------------------------------------------------------------------------


def test_limit_and_offset_as_each_dialect_renders_them(
    small: Template, copy_of: Callable[[Template], str]
) -> None:
    def pages(session: Session) -> None:
        ordered = select(Task.id).order_by(Task.id)
        session.execute(ordered.limit(5)).all()
        session.execute(ordered.offset(10)).all()
        session.execute(ordered.limit(5).offset(10)).all()

    run = record(copy_of(small), pages)
    seen = [
        (effective_limit(s, parse_statement(s.sql)), effective_offset(s, parse_statement(s.sql)))
        for s in run.log.of_verb("SELECT")
    ]
    assert seen == [(True, False), (False, True), (True, True)], [s.sql for s in run.log]


def test_bound_values_decide_on_every_dialect(
    small: Template, copy_of: Callable[[Template], str]
) -> None:
    """An explicit ``.offset(0)`` or ``OFFSET :skip`` bound to 0 skips nothing, on every driver."""

    def seeks(session: Session) -> None:
        ordered = select(Task.id).where(Task.id > 100).order_by(Task.id)
        session.execute(ordered.limit(5).offset(0)).all()
        session.execute(
            text("SELECT id FROM tasks WHERE id > :after ORDER BY id LIMIT :n OFFSET :skip"),
            {"after": 100, "n": 5, "skip": 0},
        ).all()
        session.execute(
            text("SELECT id FROM tasks ORDER BY id LIMIT :n OFFSET :skip"), {"n": 5, "skip": 7}
        ).all()

    run = record(copy_of(small), seeks)
    seen = [
        (effective_limit(s, parse_statement(s.sql)), effective_offset(s, parse_statement(s.sql)))
        for s in run.log.of_verb("SELECT")
    ]
    assert seen == [(True, False), (True, False), (True, True)], [s.sql for s in run.log]


# -- EXPLAIN -----------------------------------------------------------------------------


def test_literal_percent_signs_survive_explain(
    small: Template, copy_of: Callable[[Template], str]
) -> None:
    def like(session: Session) -> None:
        pattern = "SELECT id FROM users WHERE email LIKE '%example%'"
        session.execute(text(pattern + " AND id > :low"), {"low": 3}).all()
        session.execute(text(pattern)).all()

    url = copy_of(small)
    run = record(url, like)
    plans = _explain_all(url, run)
    assert [type(plans[s.index]) for s in run.log] == [Plan, Plan], plans


def test_a_refused_explain_does_not_spoil_the_next(
    small: Template, copy_of: Callable[[Template], str]
) -> None:
    def temporary(session: Session) -> None:
        session.execute(text("CREATE TEMPORARY TABLE scratch (id INTEGER)"))
        session.execute(text("SELECT id FROM scratch WHERE id = :id"), {"id": 1}).all()
        session.execute(select(User.name).where(User.id == 7)).all()

    url = copy_of(small)
    run = record(url, temporary)
    plans = _explain_all(url, run)
    scratch, users = run.log.of_verb("SELECT")
    # The temporary table belongs to the recorded connection, not to EXPLAIN's.
    assert isinstance(plans[scratch.index], str)
    assert plans[scratch.index].startswith("no plan")
    plan = plans[users.index]
    assert isinstance(plan, Plan), plan
    assert plan.uses_index_on("users")


def lookup_plan(url: str) -> Plan:
    run = record(
        url, lambda s: s.execute(select(User.id).where(User.email == "x@example.org")).all()
    )
    plan = _explain_all(url, run)[0]
    assert isinstance(plan, Plan), plan
    return plan


def test_a_lookup_searches_an_index_only_when_there_is_one(
    backend: Backend, copy_of: Callable[[Template], str]
) -> None:
    url = copy_of(backend.template(LOOKUP_SIZE, SEED))
    before = lookup_plan(url)
    assert [n.access for n in before.for_table("users")] == [Access.FULL_SCAN], before.render()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # In SQL: an Index() of the model would join the shared metadata.
            conn.execute(text("CREATE INDEX ix_users_email ON users (email)"))
    finally:
        engine.dispose()
    after = lookup_plan(url)
    assert after.uses_index_on("users"), after.render()
    assert [n.index for n in after.for_table("users")] == ["ix_users_email"]


def test_a_deep_page_seeks_on_the_primary_key_and_offset_does_not(
    backend: Backend, copy_of: Callable[[Template], str]
) -> None:
    url = copy_of(backend.template(dataset.SIZES["export"], SEED))
    open_tasks = select(Task.id, Task.title).where(Task.status != "done").order_by(Task.id)

    def both(session: Session) -> None:
        session.execute(open_tasks.offset(75_000).limit(25)).all()
        session.execute(open_tasks.where(Task.id > 100_000).limit(25)).all()

    run = record(url, both)
    plans = _explain_all(url, run)
    skipping, seeking = (plans[s.index] for s in run.log.of_verb("SELECT"))
    assert isinstance(skipping, Plan) and isinstance(seeking, Plan)
    assert not skipping.uses_index_on("tasks"), skipping.render()
    assert [n.access for n in seeking.for_table("tasks")] == [Access.PRIMARY_KEY], seeking.render()


# -- numbers -----------------------------------------------------------------------------


def test_sums_and_averages_compare_alike(
    backend: Backend, small: Template, copy_of: Callable[[Template], str]
) -> None:
    tasks = dataset.generate(dataset.SIZES["small"], SEED)["tasks"]
    hours = [t["estimate_hours"] for t in tasks]
    priorities = [t["priority"] for t in tasks]

    def figures(session: Session) -> Any:
        return session.execute(
            select(func.sum(Task.estimate_hours), func.avg(Task.priority), func.count())
        ).one()

    total, mean, count = record(copy_of(small), figures).value
    assert normalize([total, count]) == [sum(hours), len(tasks)]
    assert repr(normalize(total)) == repr(normalize(float(sum(hours))))
    # MySQL and MariaDB answer AVG with 4 decimals (div_precision_increment).
    places = 4 if backend.dialect == "mysql" else 6
    assert round(float(mean), places) == round(statistics.fmean(priorities), places)


@pytest.mark.parametrize(
    ("exact", "approximate"),
    [
        (decimal.Decimal("2.0000"), 2.0),
        (decimal.Decimal("3.50"), 3.5),
        (decimal.Decimal("12345678901234567890"), 12345678901234567890),
    ],
)
def test_decimals_and_floats_normalize_to_the_same_value_and_repr(
    exact: decimal.Decimal, approximate: float
) -> None:
    assert normalize(exact) == normalize(approximate)
    assert repr(normalize([exact])) == repr(normalize([approximate]))


# -- clause checks: which statement, and DISTINCT ----------------------------------


@pytest.mark.parametrize("case", list(LOADER_CASES))
def test_a_loaders_follow_up_never_meets_a_clause_check_on_any_dialect(
    small: Template, copy_of: Callable[[Template], str], case: str
) -> None:
    starter, options, fixes = LOADER_CASES[case]
    url = copy_of(small)
    oracle = record(url, starter)
    assert any(s.loader for s in oracle.log)
    assert check("clause", statement="any", **options).judge(evaluation(oracle, oracle)).passed
    assert not check("clause", **options).judge(evaluation(oracle, oracle)).passed
    for fix in fixes:
        main = record(url, fix)
        assert main.value == oracle.value
        assert check("clause", **options).judge(evaluation(oracle, main)).passed


@pytest.mark.parametrize(
    ("people", "passes"),
    [
        (bug_people_python, False),
        (bug_people_distinct, True),
        (bug_people_group_by, True),
        (bug_people_count_distinct, True),
        (bug_people_count_subquery, True),
    ],
)
def test_distinct_is_read_as_each_dialect_renders_it(
    small: Template, copy_of: Callable[[Template], str], people: Any, passes: bool
) -> None:
    run = record(copy_of(small), people)
    verdict = check("clause", clause="distinct", table="tasks").judge(evaluation(run, run))
    assert verdict.passed is passes, [s.sql for s in run.log]
