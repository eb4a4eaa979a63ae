"""The write, memory and routing checks both ways, and the exercises that use them end to end.

The unit tests judge the checks of ``grader.checks.write``, ``grader.checks.memory``
and ``grader.checks.routing`` on real recordings made in-process (real SQLite
files, real captures, a real injected fault). The end-to-end tests grade the
example submissions of ``tests/cases/<test name>/`` through the runner (child
processes) in one grading session, so the starter's runs are made once.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from grader.checks import Evaluation
from grader.checks.base import NOT_JUDGED
from grader.checks.memory import (
    MEMORY_OK,
    NO_MEMORY_RUN,
    STARTER_LABEL,
    STARTER_PEAK,
    TOO_MUCH_MEMORY,
)
from grader.checks.query import WRONG_RESULT, WRONG_STATE
from grader.checks.routing import MISROUTED, PRIMARY, ROUTING_OK, TOO_FEW_READS
from grader.checks.write import (
    ATOMIC_OK,
    BUDGET_OK,
    FAULT_NOT_FIRED,
    FAULT_RUN_FAILED,
    MISSING_WHERE,
    OVER_BUDGET,
    PARTIAL_STATE,
    STATE_CHANGE,
)
from grader.course.catalog import Catalog
from grader.domain import Base, Comment, Task, User
from grader.errors import SpecError
from grader.execution.capture import MAIN, capture
from grader.execution.fault import InjectedFault, inject_write_fault
from grader.execution.run import Failure, FailureKind, RunRecord
from grader.grading.runner import GradeOptions, GradingSession, fault_row, grade, open_session
from grader.results import ExerciseResult, Outcome
from tests.conftest import case_dir
from tests.recording import check, record, seeded_engine, spec_with

#: The dataset seed of every graded case (the other grading tests use it too, so
#: the seeded templates are built once per test session).
SEED = 7
WRONG = WRONG_RESULT.split("{")[0]
WRONG_DATABASE = WRONG_STATE.split("{")[0]
NOW = dt.datetime(2024, 6, 1, 12, 0)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny seeded SQLite file; tests work on copies of it."""
    path = tmp_path_factory.mktemp("db") / "tiny.sqlite"
    seeded_engine(path).dispose()
    return path


@pytest.fixture()
def engine(seeded: Path, tmp_path: Path) -> Iterator[Engine]:
    """A private copy of the tiny dataset."""
    copy = tmp_path / "main.sqlite"
    shutil.copyfile(seeded, copy)
    engine = create_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


@pytest.fixture()
def replica(seeded: Path, tmp_path: Path) -> Iterator[Engine]:
    """A second private copy of the same dataset."""
    copy = tmp_path / "replica.sqlite"
    shutil.copyfile(seeded, copy)
    engine = create_engine(f"sqlite:///{copy}")
    yield engine
    engine.dispose()


def evaluation_with(main: RunRecord, **extra: Any) -> Evaluation:
    """An evaluation of ``main`` (its own oracle) with further runs in ``extra``."""
    return Evaluation(
        spec=spec_with(), oracle=main, main=main, metadata=Base.metadata, seed=5, extra=extra
    )


def comment_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"task_id": 1 + i % 50, "author_id": 1 + i % 20, "body": f"note {i}", "created_at": NOW}
        for i in range(count)
    ]


# -- statement_budget -----------------------------------------------------------------


def insert_each(session: Session) -> None:
    for row in comment_rows(30):
        session.add(Comment(**row))
        session.flush()
    session.commit()


def insert_batch(session: Session) -> None:
    session.execute(insert(Comment), comment_rows(30))
    session.commit()


def test_statement_budget_passes_one_executemany(engine: Engine) -> None:
    verdict = check("statement_budget", insert=5).judge(
        evaluation_with(record(engine, insert_batch))
    )
    assert verdict.passed
    assert verdict.message == BUDGET_OK.format(observed="1 INSERT", bounds="INSERT at most 5")
    assert verdict.evidence[0].text == "INSERT: 1 statement(s) carrying 30 parameter set(s)"


def test_statement_budget_fails_a_statement_per_row(engine: Engine) -> None:
    verdict = check("statement_budget", insert=5).judge(
        evaluation_with(record(engine, insert_each))
    )
    assert not verdict.passed
    assert verdict.message == OVER_BUDGET.format(observed=30, kind="INSERT", bound=5)
    assert verdict.evidence[1].label == "statement ×30"
    assert verdict.evidence[1].text.startswith("INSERT INTO comments")


def test_statement_budget_counts_each_kind_on_its_own(engine: Engine) -> None:
    def load_then_flush_each(session: Session) -> None:
        for task in session.scalars(select(Task).where(Task.status == "todo")).all():
            task.priority = 1
            session.flush()

    run = record(engine, load_then_flush_each)
    updates = len(run.log.of_verb("UPDATE"))
    budget = check("statement_budget", select=1, update=1)
    verdict = budget.judge(evaluation_with(run))
    assert not verdict.passed
    assert verdict.message == OVER_BUDGET.format(observed=updates, kind="UPDATE", bound=1)
    assert "SELECT" not in verdict.message


def test_statement_budget_wants_a_where_on_updates(engine: Engine) -> None:
    def everything(session: Session) -> None:
        session.execute(update(Task).values(priority=Task.priority))

    def filtered(session: Session) -> None:
        session.execute(update(Task).where(Task.status == "todo").values(priority=1))

    budget = check("statement_budget", update=1, where=True)
    failed = budget.judge(evaluation_with(record(engine, everything)))
    assert not failed.passed
    assert failed.message == MISSING_WHERE.format(count=1, kind="UPDATE", table="tasks")
    passed = budget.judge(evaluation_with(record(engine, filtered)))
    assert passed.passed


def test_statement_budget_needs_a_bound() -> None:
    with pytest.raises(SpecError, match=r"^select/insert/update/delete: missing \(expected"):
        check("statement_budget", where=True)
    with pytest.raises(SpecError, match=r"^insert: expected an integer >= 0, found -1 \(integer\)"):
        check("statement_budget", insert=-1)


# -- the injected fault and atomic_under_fault ------------------------------------------


def task_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"project_id": 1, "title": f"imported {i}", "status": "todo", "priority": 1,
         "estimate_hours": 1, "created_at": NOW}
        for i in range(count)
    ]  # fmt: skip


def commit_each(session: Session) -> None:
    for row in task_rows(20):
        session.add(Task(**row))
        session.commit()


def one_transaction(session: Session) -> None:
    with session.begin():
        session.add_all(Task(**row) for row in task_rows(20))


def imported(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        titles = select(Task.title).where(Task.title.like("imported %")).order_by(Task.title)
        return list(conn.execute(titles).scalars())


def fault_run(engine: Engine, fn: Callable[[Session], None], after_rows: int) -> RunRecord:
    """What the child records for a fault run of ``fn``, made in-process."""
    baseline = imported(engine)
    failure = None
    with capture(engine) as live, inject_write_fault(engine, after_rows) as fault:
        try:
            with Session(engine) as session:
                fn(session)
        except Exception as exc:
            assert fault.fired
            failure = Failure(FailureKind.FAULT, f"run() raised {type(exc).__name__}: {exc}")
    assert live.result is not None
    return RunRecord(
        role="submission",
        purpose="fault",
        log=live.result,
        failure=failure,
        snapshot=imported(engine),
        baseline=baseline,
        extra={"fault": fault.describe()},
    )


def test_fault_fails_the_write_carrying_its_row(engine: Engine) -> None:
    run = fault_run(engine, commit_each, after_rows=8)
    assert run.extra["fault"]["fired"]
    assert run.extra["fault"]["rows_written"] == 7
    assert len(imported(engine)) == 7
    # The failed INSERT was recorded before it failed: 7 went through, the 8th was stopped.
    assert len(run.log.of_verb("INSERT")) == 8


def test_fault_fails_a_batch_as_a_whole(engine: Engine) -> None:
    with (
        inject_write_fault(engine, 8) as fault,
        pytest.raises(InjectedFault),
        engine.begin() as conn,
    ):
        conn.execute(insert(Task), task_rows(20))
    assert fault.fired and fault.rows_written == 0
    assert imported(engine) == []
    assert issubclass(InjectedFault, OperationalError)
    assert not event.contains(engine, "before_cursor_execute", fault.before)


def test_atomic_under_fault_passes_one_transaction(engine: Engine) -> None:
    run = fault_run(engine, one_transaction, after_rows=8)
    verdict = check("atomic_under_fault").judge(evaluation_with(run, fault=run))
    assert verdict.passed
    assert verdict.message == ATOMIC_OK.format(at=8)
    assert [e.label for e in verdict.evidence] == [
        "the write made to fail",
        "what your code raised",
    ]


def test_atomic_under_fault_fails_a_commit_per_row(engine: Engine) -> None:
    run = fault_run(engine, commit_each, after_rows=8)
    verdict = check("atomic_under_fault").judge(evaluation_with(run, fault=run))
    assert not verdict.passed
    change = STATE_CHANGE.format(added=7, removed=0)
    assert verdict.message == PARTIAL_STATE.format(at=8, change=change)
    assert verdict.evidence[0].label == "left behind (first 3)"
    assert "imported 0" in verdict.evidence[0].text


def test_atomic_under_fault_says_when_the_fault_never_fired(engine: Engine) -> None:
    run = fault_run(engine, one_transaction, after_rows=500)
    verdict = check("atomic_under_fault").judge(evaluation_with(run, fault=run))
    assert not verdict.passed
    assert verdict.message == FAULT_NOT_FIRED.format(at=500, rows=20)


def test_atomic_under_fault_reports_another_failure(engine: Engine) -> None:
    crashed = RunRecord(
        role="submission",
        purpose="fault",
        failure=Failure(FailureKind.TIMEOUT, "did not finish within 30 s"),
        extra={"fault": {"after_rows": 8, "fired": False}},
    )
    verdict = check("atomic_under_fault").judge(evaluation_with(crashed, fault=crashed))
    assert not verdict.passed
    assert verdict.message == FAULT_RUN_FAILED.format(message="did not finish within 30 s")


# -- peak_memory -------------------------------------------------------------------------


def memory_run(peak_mib: float) -> RunRecord:
    return RunRecord(role="submission", purpose="memory", peak_memory=int(peak_mib * 2**20))


def test_peak_memory_passes_under_the_bound(engine: Engine) -> None:
    main = record(engine, lambda s: s.execute(select(Task.id)).all())
    evaluation = evaluation_with(main, memory=memory_run(2.5), oracle_memory=memory_run(60))
    verdict = check("peak_memory", max_mib=12).judge(evaluation)
    assert verdict.passed
    assert verdict.message == MEMORY_OK.format(observed=2.5, bound=12) + STARTER_PEAK.format(
        starter=60
    )
    assert verdict.evidence[1].text == "60.0 MiB peak"


def test_peak_memory_fails_over_the_bound_with_the_biggest_fetch(engine: Engine) -> None:
    main = record(engine, lambda s: s.execute(select(Task.id)).all())
    memory = RunRecord(
        role="submission", purpose="memory", peak_memory=int(40.25 * 2**20), log=main.log
    )
    verdict = check("peak_memory", max_mib=12).judge(evaluation_with(main, memory=memory))
    assert not verdict.passed
    assert verdict.message == TOO_MUCH_MEMORY.format(observed=40.25, bound=12)
    assert verdict.evidence[-1].label == "statement fetching the most rows (300)"


def test_peak_memory_without_a_measurement(engine: Engine) -> None:
    main = record(engine, lambda s: s.execute(select(Task.id)).all())
    broken = RunRecord(
        role="submission", purpose="memory", failure=Failure(FailureKind.MEMORY, "ran out")
    )
    verdict = check("peak_memory", max_mib=12).judge(evaluation_with(main, memory=broken))
    assert not verdict.passed
    assert verdict.message == NO_MEMORY_RUN.format(reason="ran out")


# -- capture on two engines and engine_routing --------------------------------------------


def routed(engine: Engine, replica: Engine, fn: Callable[[Engine, Engine], Any]) -> RunRecord:
    with capture({MAIN: engine, "replica": replica}) as live:
        fn(engine, replica)
    assert live.result is not None
    return RunRecord(role="submission", purpose="main", log=live.result)


def reads_then_writes(primary: Engine, replica: Engine) -> None:
    with Session(replica) as reader:
        ids = reader.scalars(select(Task.id).where(Task.assignee_id == 3)).all()
        reader.scalar(select(func.count(User.id)))
    with Session(primary) as writer, writer.begin():
        writer.execute(update(Task).where(Task.id.in_(ids)).values(assignee_id=4))


def everything_on_primary(primary: Engine, replica: Engine) -> None:
    reads_then_writes(primary, primary)


def test_capture_tags_each_statement_with_its_engine(engine: Engine, replica: Engine) -> None:
    run = routed(engine, replica, reads_then_writes)
    assert [(s.verb, s.engine) for s in run.log.statements] == [
        ("SELECT", "replica"),
        ("SELECT", "replica"),
        ("UPDATE", MAIN),
    ]
    assert len(run.log.on_engine("replica")) == 2
    for target in (engine, replica):
        assert not target.dispatch.before_cursor_execute


def test_engine_routing_names_the_primary_as_the_recorder_labels_it() -> None:
    # The check names the label itself (loading a spec must not import the recorder).
    assert PRIMARY == MAIN
    assert check("engine_routing").writes == MAIN


def test_engine_routing_passes_reads_on_the_replica(engine: Engine, replica: Engine) -> None:
    verdict = check("engine_routing").judge(
        evaluation_with(routed(engine, replica, reads_then_writes))
    )
    assert verdict.passed
    assert verdict.message == ROUTING_OK.format(
        reads=2, writes=1, read_engine="replica", write_engine="primary"
    )


def test_engine_routing_fails_reads_on_the_primary(engine: Engine, replica: Engine) -> None:
    run = routed(engine, replica, everything_on_primary)
    verdict = check("engine_routing").judge(evaluation_with(run))
    assert not verdict.passed
    assert verdict.message == MISROUTED.format(
        wrong=2, reads_wrong=2, reads=2, writes_wrong=0, writes=1,
        read_engine="replica", write_engine="primary",
    )  # fmt: skip
    assert {e.label for e in verdict.evidence} == {"read ×1 on the primary"}


def test_engine_routing_fails_writes_on_the_replica(engine: Engine, replica: Engine) -> None:
    run = routed(engine, replica, lambda primary, rep: reads_then_writes(rep, rep))
    verdict = check("engine_routing").judge(evaluation_with(run))
    assert not verdict.passed
    assert "1 of 1 write(s) not on the primary" in verdict.message
    assert verdict.evidence[0].label == "write ×1 on the replica"


def test_engine_routing_wants_the_reads_the_task_makes(engine: Engine, replica: Engine) -> None:
    def writes_only(primary: Engine, rep: Engine) -> None:
        with primary.begin() as conn:
            conn.execute(text("UPDATE tasks SET priority = 1 WHERE id = 1"))

    verdict = check("engine_routing").judge(evaluation_with(routed(engine, replica, writes_only)))
    assert not verdict.passed
    assert verdict.message == TOO_FEW_READS.format(reads=0, bound=1, read_engine="replica")


# -- end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(catalog: Catalog) -> Iterator[GradingSession]:
    """One grading session for the module: one seed, the starters' runs cached."""
    grading = open_session(catalog, GradeOptions(seed=SEED))
    yield grading
    grading.close()


def graded(
    session: GradingSession, catalog: Catalog, case: str, exercise: str, variant: str = ""
) -> ExerciseResult:
    """Grade the example submission of ``case`` (its ``variant`` subfolder) on ``exercise``."""
    submission = case_dir(case) / variant if variant else case_dir(case)
    report = grade(submission, catalog, [exercise], session=session)
    (result,) = report.exercises
    assert result.outcome is Outcome.GRADED, result.error
    return result


def full_marks(result: ExerciseResult) -> bool:
    return result.score == result.max_score


def failing(result: ExerciseResult) -> list[str]:
    """The names of the checks not met."""
    return [c.name for c in result.checks if not c.passed]


def starter_value(session: GradingSession, exercise: str) -> Any:
    """What the starter returned in this session (its cached run)."""
    (oracle,) = [
        r
        for (i, purpose, _), r in session.oracle_cache.items()
        if i == exercise and purpose == "main"
    ]
    return oracle.value


def assert_gate_failed(result: ExerciseResult, prefix: str) -> None:
    """Only correct_result was judged, it failed, and nothing else scored."""
    gate = result.check("correct_result")
    assert not gate.passed
    assert gate.message.startswith(prefix)
    assert result.score == 0
    assert all(c.message == NOT_JUDGED for c in result.checks if c.name != "correct_result")


# bulk_export


def test_bulk_export_stream_results_partitions(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_export_stream_results_partitions", "bulk_export")
    assert full_marks(result), [c.message for c in result.checks]
    memory = result.check("peak_memory")
    assert memory.message.startswith("peak memory ")
    # The starter's peak on the same data, as the README says: every row at once.
    shown = memory.message.split(STARTER_PEAK.split("{")[0], 1)
    assert len(shown) == 2 and float(shown[1].split()[0]) > 12
    assert [e.label for e in memory.evidence][-1] == STARTER_LABEL


# A second streaming answer: its traced export (120,000 rows, about 8 s of CPU) runs with
# the slow tests; the default run grades one streaming answer and one that is not.
@pytest.mark.slow
def test_bulk_export_orm_yield_per(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_export_orm_yield_per", "bulk_export")
    assert full_marks(result), [c.message for c in result.checks]


def test_bulk_export_session_stream_results(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_export_session_stream_results", "bulk_export")
    assert failing(result) == ["peak_memory"]
    memory = result.check("peak_memory")
    assert TOO_MUCH_MEMORY.split(";")[1].format(bound=12) + " · the starter" in memory.message
    assert STARTER_LABEL in [e.label for e in memory.evidence]
    assert memory.evidence[-1].label == "statement fetching the most rows (120000)"


def test_bulk_export_space_separated_dates(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_export_space_separated_dates", "bulk_export")
    assert_gate_failed(result, WRONG_DATABASE)
    assert "key 'first row' differs" in result.check("correct_result").message


# bulk_insert


@pytest.mark.parametrize("variant", ["add_all", "core_executemany", "insertmanyvalues"])
def test_bulk_insert_batched_alternatives(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    case = "test_bulk_insert_batched_alternatives"
    result = graded(session, catalog, case, "bulk_insert", variant)
    assert full_marks(result), [c.message for c in result.checks]
    assert result.check("insert_budget").message == BUDGET_OK.format(
        observed="1 INSERT", bounds="INSERT at most 5"
    )


def test_bulk_insert_flush_per_row(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_insert_flush_per_row", "bulk_insert")
    assert failing(result) == ["insert_budget"]
    budget = result.check("insert_budget")
    assert budget.message == OVER_BUDGET.format(observed=1000, kind="INSERT", bound=5)
    assert budget.evidence[1].label == "statement ×1000"


def test_bulk_insert_skips_last_row(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_insert_skips_last_row", "bulk_insert")
    assert_gate_failed(result, WRONG_DATABASE)
    assert (
        "key 'comments' differs: expected 4000, got 3999" in result.check("correct_result").message
    )


# bulk_update


@pytest.mark.parametrize("variant", ["bulk_by_primary_key", "load_then_flush_once"])
def test_bulk_update_one_select_one_executemany(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    # An executemany counts as one statement: an ORM bulk UPDATE by primary key
    # (or one flush of many changed objects) after one SELECT is within the budget.
    case = "test_bulk_update_one_select_one_executemany"
    result = graded(session, catalog, case, "bulk_update", variant)
    assert full_marks(result), [c.message for c in result.checks]
    assert result.check("update_budget").message.startswith("1 SELECT, 1 UPDATE: within the budget")


def test_bulk_update_flush_per_row(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_update_flush_per_row", "bulk_update")
    assert failing(result) == ["update_budget"]
    budget = result.check("update_budget")
    closed = starter_value(session, "bulk_update")
    assert budget.message == OVER_BUDGET.format(observed=closed, kind="UPDATE", bound=1)


def test_bulk_update_case_without_where(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_update_case_without_where", "bulk_update")
    assert failing(result) == ["update_budget"]
    assert result.check("update_budget").message == MISSING_WHERE.format(
        count=1, kind="UPDATE", table="tasks"
    )


def test_bulk_update_closes_every_review(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_bulk_update_closes_every_review", "bulk_update")
    assert_gate_failed(result, WRONG)


# transaction_atomic


def batch_fault(session: GradingSession, catalog: Catalog) -> tuple[int, int]:
    """The row the fault run fails on this seed, and the batch's length."""
    row = fault_row(session, catalog.spec("transaction_atomic"))
    return row, 3000 // 15


def test_fault_row_is_late_and_follows_the_seed(catalog: Catalog) -> None:
    spec = catalog.spec("transaction_atomic")
    rows = set()
    for seed in (1, 2, 3, 4, 5, 6):
        session = open_session(catalog, GradeOptions(seed=seed))
        try:
            rows.add(fault_row(session, spec))
        finally:
            session.close()
    assert len(rows) > 1, rows
    assert all(180 <= row <= 200 for row in rows), rows


@pytest.mark.parametrize("variant", ["flush_per_row", "core_insert"])
def test_transaction_atomic_one_transaction(
    session: GradingSession, catalog: Catalog, variant: str
) -> None:
    case = "test_transaction_atomic_one_transaction"
    result = graded(session, catalog, case, "transaction_atomic", variant)
    assert full_marks(result), [c.message for c in result.checks]
    atomic = result.check("atomic")
    assert atomic.message == ATOMIC_OK.format(at=batch_fault(session, catalog)[0])


@pytest.mark.parametrize("every", [50, 150])
def test_transaction_atomic_commit_in_chunks(
    session: GradingSession, catalog: Catalog, every: int
) -> None:
    result = graded(
        session,
        catalog,
        "test_transaction_atomic_commit_in_chunks",
        "transaction_atomic",
        str(every),
    )
    assert failing(result) == ["atomic"]
    at, _ = batch_fault(session, catalog)
    change = STATE_CHANGE.format(added=(at - 1) // every * every, removed=0)
    assert result.check("atomic").message == PARTIAL_STATE.format(at=at, change=change)


def test_transaction_atomic_skips_failed_rows(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_transaction_atomic_skips_failed_rows", "transaction_atomic"
    )
    assert failing(result) == ["atomic"]
    at, rows = batch_fault(session, catalog)
    change = STATE_CHANGE.format(added=rows - 1, removed=0)
    assert result.check("atomic").message == PARTIAL_STATE.format(at=at, change=change)


def test_transaction_atomic_wrong_project(session: GradingSession, catalog: Catalog) -> None:
    result = graded(session, catalog, "test_transaction_atomic_wrong_project", "transaction_atomic")
    assert_gate_failed(result, WRONG_DATABASE)


# read_replica_routing


def test_read_replica_routing_routing_session(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_read_replica_routing_routing_session", "read_replica_routing"
    )
    assert full_marks(result), [c.message for c in result.checks]
    assert result.check("routing").message == ROUTING_OK.format(
        reads=3, writes=2, read_engine="replica", write_engine="primary"
    )


def test_read_replica_routing_lookup_on_primary(session: GradingSession, catalog: Catalog) -> None:
    result = graded(
        session, catalog, "test_read_replica_routing_lookup_on_primary", "read_replica_routing"
    )
    assert failing(result) == ["routing"]
    routing = result.check("routing")
    assert routing.message == MISROUTED.format(
        wrong=1, reads_wrong=1, reads=3, writes_wrong=0, writes=2,
        read_engine="replica", write_engine="primary",
    )  # fmt: skip
    assert routing.evidence[0].label == "read ×1 on the primary"
    assert routing.evidence[0].text.startswith("SELECT users.id")


def test_read_replica_routing_everything_on_replica(
    session: GradingSession, catalog: Catalog
) -> None:
    result = graded(
        session, catalog, "test_read_replica_routing_everything_on_replica", "read_replica_routing"
    )
    assert_gate_failed(result, WRONG_DATABASE)
    assert "key 'leaving user still active' differs: expected False, got True" in (
        result.check("correct_result").message
    )
