"""The concurrency checks both ways, and lost_update end to end on every dialect.

The unit tests judge ``guarded_update`` on statements real code sent to a real
SQLite file, and ``no_lost_update`` on concurrent runs made by
`grader.grading.concurrency` with real sandboxed workers. The end-to-end tests grade
the example submissions of ``tests/cases/test_lost_update_*`` through the
runner on SQLite, PostgreSQL and MariaDB: each concurrent run is four worker
processes on one database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.checks import Evaluation
from grader.checks.base import NOT_JUDGED
from grader.checks.concurrency import (
    ATOMIC,
    GUARDED,
    LOST_UPDATES,
    NO_CONCURRENT_RUN,
    NO_LOST_UPDATE,
    NO_UPDATE,
    OPTIMISTIC,
    UNGUARDED,
    WORKERS_FAILED,
    update_guards,
)
from grader.checks.query import WRONG_STATE
from grader.course.catalog import Catalog
from grader.domain import Base, Project
from grader.errors import OrmgradeError
from grader.execution.run import Failure, FailureKind, RunRecord
from grader.grading.concurrency import ConcurrentRun
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult, Outcome
from tests.conftest import case_dir
from tests.recording import check, record, seeded_engine, spec_with

SEED = 7


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("concurrency") / "seeded.sqlite"
    seeded_engine(path).dispose()
    return path


@pytest.fixture
def engine(seeded: Path, tmp_path: Path) -> Iterator[Engine]:
    from sqlalchemy import create_engine

    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(seeded.read_bytes())
    made = create_engine(f"sqlite:///{copy}")
    yield made
    made.dispose()


def judged(engine: Engine, fn: Callable[[Session], Any]) -> Any:
    run = record(engine, fn)
    evaluation = Evaluation(
        spec=spec_with(), oracle=run, main=run, metadata=Base.metadata, seed=SEED
    )
    return check("guarded_update", table="projects").judge(evaluation)


def read_then_write(session: Session) -> None:
    project = session.get(Project, 1)
    assert project is not None
    project.budget -= 5
    session.commit()


def atomic(session: Session) -> None:
    session.execute(update(Project).where(Project.id == 1).values(budget=Project.budget - 5))
    session.commit()


def write_lock_first(session: Session) -> None:
    session.execute(text("BEGIN IMMEDIATE"))
    read_then_write(session)


def compare_and_set(session: Session) -> None:
    seen = session.scalar(select(Project.budget).where(Project.id == 1))
    session.execute(
        update(Project).where(Project.id == 1, Project.budget == seen).values(budget=seen - 5)
    )
    session.commit()


# -- guarded_update -------------------------------------------------------------------


def test_guarded_update_fails_a_plain_read_then_write(engine: Engine) -> None:
    verdict = judged(engine, read_then_write)
    assert not verdict.passed
    assert verdict.message == UNGUARDED.format(table="projects")
    assert verdict.evidence[0].text.startswith("UPDATE projects SET budget=?")


def test_guarded_update_passes_an_update_computed_in_sql(engine: Engine) -> None:
    verdict = judged(engine, atomic)
    assert verdict.passed
    assert verdict.message == GUARDED.format(table="projects", how=ATOMIC.format(column="budget"))


def test_guarded_update_passes_begin_immediate_before_the_read(engine: Engine) -> None:
    verdict = judged(engine, write_lock_first)
    assert verdict.passed, verdict.message
    assert "BEGIN IMMEDIATE" in verdict.message


def test_guarded_update_passes_a_compare_and_set(engine: Engine) -> None:
    verdict = judged(engine, compare_and_set)
    assert verdict.passed
    assert verdict.message == GUARDED.format(
        table="projects", how=OPTIMISTIC.format(column="budget")
    )


def test_guarded_update_wants_an_update(engine: Engine) -> None:
    verdict = judged(engine, lambda s: s.get(Project, 1).budget)
    assert not verdict.passed
    assert verdict.message == NO_UPDATE.format(table="projects")


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        # A parameter named after the column is no reference to it (PostgreSQL, MariaDB).
        ("UPDATE projects SET budget=%(budget)s::INTEGER WHERE projects.id = %(id)s", []),
        ("UPDATE projects SET budget=:budget WHERE id = :id", []),
        ("UPDATE `projects` SET `budget`=(`projects`.`budget` - %(b)s) WHERE id = 1", [ATOMIC]),
        (
            "UPDATE projects SET budget=?, version=? WHERE projects.id = ? AND "
            "projects.version = ?",
            [OPTIMISTIC],
        ),
        ("UPDATE projects SET name='budget' WHERE id = 1", []),
    ],
)
def test_update_guards_read_the_set_and_where_clauses(sql: str, found: list[str]) -> None:
    assert [g.split("(")[0] for g in update_guards(sql)] == [g.split("(")[0] for g in found]


# -- no_lost_update -------------------------------------------------------------------


def worker(value: Any = None, failure: Failure | None = None, number: int = 1) -> RunRecord:
    return RunRecord(role="submission", purpose=f"worker{number}", value=value, failure=failure)


SERIAL = RunRecord(role="oracle", purpose="serial", snapshot={"budget of project 3": 600})


def judge_run(run: ConcurrentRun | None) -> Any:
    main = RunRecord(role="submission", purpose="main")
    evaluation = Evaluation(
        spec=spec_with(),
        oracle=main,
        main=main,
        metadata=Base.metadata,
        extra={} if run is None else {"concurrent": run},
    )
    return check("no_lost_update").judge(evaluation)


def test_no_lost_update_passes_the_serial_state() -> None:
    run = ConcurrentRun(
        workers=(worker(number=1), worker(number=2)),
        calls_per_worker=10,
        state={"budget of project 3": 600},
        serial=SERIAL,
    )
    verdict = judge_run(run)
    assert verdict.passed
    assert verdict.message == NO_LOST_UPDATE.format(workers=2, calls=20)


def test_no_lost_update_fails_another_state() -> None:
    run = ConcurrentRun(
        workers=(worker(number=1), worker(number=2)),
        calls_per_worker=10,
        state={"budget of project 3": 650},
        serial=SERIAL,
    )
    verdict = judge_run(run)
    assert not verdict.passed
    difference = "key 'budget of project 3' differs: expected 600, got 650"
    assert verdict.message == LOST_UPDATES.format(workers=2, calls=20, difference=difference)


def test_no_lost_update_fails_a_worker_that_raised() -> None:
    raised = Failure(FailureKind.EXCEPTION, "charge() raised StaleDataError: 0 were matched")
    run = ConcurrentRun(
        workers=(worker(number=1), worker(failure=raised, number=2)),
        calls_per_worker=10,
        state={"budget of project 3": 600},
        serial=SERIAL,
    )
    verdict = judge_run(run)
    assert not verdict.passed
    assert verdict.message == WORKERS_FAILED.format(
        failed=1, workers=2, calls=10, message=raised.message
    )
    assert verdict.evidence[0].label == "worker2"


def test_no_lost_update_reports_a_grader_failure_as_such() -> None:
    broken = Failure(FailureKind.GRADER, "cannot prepare the run")
    run = ConcurrentRun(
        workers=(worker(failure=broken),),
        calls_per_worker=1,
        state=None,
        serial=SERIAL,
    )
    with pytest.raises(OrmgradeError, match="grader's side"):
        judge_run(run)


def test_no_lost_update_without_a_run() -> None:
    verdict = judge_run(None)
    assert not verdict.passed
    assert verdict.message == NO_CONCURRENT_RUN


# -- lost_update end to end ---------------------------------------------------------

DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SERVER_FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url"}


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
    (result,) = grade(submission, catalog, ["lost_update"], session=session).exercises
    assert result.outcome is Outcome.GRADED, result.error
    return result


def failing(result: ExerciseResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant", ["with_for_update", "version_id_col", "compare_and_set", "core_text"]
)
def test_lost_update_guarded_alternatives(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    result = graded(session, catalog, "test_lost_update_guarded_alternatives", variant)
    assert result.score == result.max_score, [c.message for c in result.checks]
    assert result.check("no_lost_update").message == NO_LOST_UPDATE.format(workers=4, calls=400)


@pytest.mark.slow
def test_lost_update_python_value_in_update(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_lost_update_python_value_in_update")
    assert failing(result) == ["no_lost_update", "guarded_update"]
    assert result.check("no_lost_update").message.startswith(
        LOST_UPDATES.split("{difference}")[0].format(workers=4, calls=400)
    )
    assert result.check("guarded_update").message == UNGUARDED.format(table="projects")


@pytest.mark.slow
def test_lost_update_version_without_retry(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_lost_update_version_without_retry")
    assert failing(result) == ["no_lost_update"]
    message = result.check("no_lost_update").message
    assert message.endswith(
        "charge() raised StaleDataError: UPDATE statement on table 'projects' "
        "expected to update 1 row(s); 0 were matched."
    )
    assert " of 4 workers did not finish their 100 calls" in message


@pytest.mark.slow
def test_lost_update_for_update_without_write_lock(
    session: GradingSession, catalog: Catalog
) -> None:
    """FOR UPDATE locks the row on the servers; on SQLite it renders nothing."""
    result = graded(session, catalog, "test_lost_update_for_update_without_write_lock")
    if session.backend.dialect == "sqlite":
        assert failing(result) == ["no_lost_update", "guarded_update"]
    else:
        assert result.score == result.max_score, [c.message for c in result.checks]


@pytest.mark.slow
def test_lost_update_wrong_project(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_lost_update_wrong_project")
    gate = result.check("correct_result")
    assert gate.message.startswith(WRONG_STATE.split("{")[0])
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")
