"""A bad or hostile submission never breaks grading.

Each corpus case is a folder ``tests/cases/<test name>/`` holding one bad
exercise. The test grades it together with the reference solution of a
second exercise, in one grading run: the bad exercise gets its clear failure
(crashed, check not met, or tampering), the good one full marks. Expected
messages come from the grader's own templates.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import signal
import sqlite3
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, event

from grader.checks.base import WRONG_ON_RUN
from grader.checks.query import GROWING_QUERIES, TOO_MANY_QUERIES, WRONG_RESULT
from grader.cli import EXIT_NOT_MET, main
from grader.course.catalog import Catalog
from grader.course.submission import LINK_OUTSIDE
from grader.execution.audit import ALWAYS_REFUSED, OUTSIDE_STATEMENTS, REFUSED
from grader.execution.capture import CapturedStatement, QueryLog
from grader.execution.child import (
    BAD_SIGNATURE,
    EXIT_AT_IMPORT,
    EXIT_IN_CALL,
    HOOK_AFTER_CALL,
    HOOK_FAILED,
    IMPORT_FAILED,
    NO_ENTRY,
    NOT_COMPILED,
    NOT_PREPARED,
    ORM_OBJECT,
    OUT_OF_MEMORY,
    RAISED,
    TOO_MANY_ITEMS,
)
from grader.execution.guard import (
    CHANGED,
    CLOSED_AROUND,
    LISTENERS_REMOVED,
    SETUP_UNFINISHED,
    TAMPERING,
    TRACE_REMOVED,
    UNACCOUNTED,
    Guard,
    Seal,
    explained_traces,
)
from grader.execution.platform import descendants
from grader.execution.run import Failure, FailureKind, Job, RunRecord
from grader.execution.sandbox import (
    EXITED,
    GRACE,
    OUTPUT_CUT,
    REJECTED,
    TIMED_OUT,
    load_record,
    run_job,
)
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.report import terminal
from grader.report.sanitize import (
    REPLACEMENT,
    looks_like_workflow_command,
    strip_terminal_controls,
)
from grader.results import (
    CheckResult,
    Evidence,
    ExerciseResult,
    GradeReport,
    Outcome,
    from_json,
    to_json,
    write_atomic,
)
from tests.conftest import case_dir

SEED = 5
#: The exercise every case grades alongside its bad one, from the reference solutions.
GOOD = "column_projection"
#: Limits of the session that grades hangs and memory bombs.
TIGHT_TIMEOUT = 1.0
TIGHT_MEMORY_MB = 400


def matches(template: str, text: str | None) -> bool:
    """Whether ``text`` holds ``template`` with any values in its fields."""
    pattern = "".join(
        re.escape(literal) + (".*?" if field is not None else "")
        for literal, field, _, _ in string.Formatter().parse(template)
    )
    return text is not None and re.search(pattern, text, re.S) is not None


def _session(catalog: Catalog, folder: Path, **limits: float) -> Iterator[GradingSession]:
    session = open_session(catalog, GradeOptions(seed=SEED, work_dir=folder, **limits))  # type: ignore[arg-type]
    yield session
    session.close()


@pytest.fixture(scope="module")
def session(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GradingSession]:
    """A grading run with the specs' limits, shared by the cases (the starters run once)."""
    yield from _session(catalog, tmp_path_factory.mktemp("hostile-db"))


@pytest.fixture(scope="module")
def tight(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GradingSession]:
    """A grading run with a short time limit and a small memory limit."""
    yield from _session(
        catalog,
        tmp_path_factory.mktemp("hostile-tight-db"),
        timeout=TIGHT_TIMEOUT,
        memory_mb=TIGHT_MEMORY_MB,
    )


Grader = Callable[..., ExerciseResult]


@pytest.fixture()
def grade_case(request: pytest.FixtureRequest, tmp_path: Path) -> Grader:
    """Grade the test's case folder with the reference solution of a good exercise.

    Returns the bad exercise's result, after asserting the good one got full marks.
    """

    def run(session: GradingSession, bad: str = "filter_limit", good: str = GOOD) -> ExerciseResult:
        submission = tmp_path / "submission"
        shutil.copytree(case_dir(request.node.originalname), submission, symlinks=True)
        shutil.copytree(session.catalog.solutions_dir / good, submission / "exercises" / good)
        report = grade(submission, session.catalog, [bad, good], session=session)
        assert report.exercise(good).passed, terminal.render(report)
        request.node.stash[report_key] = report
        return report.exercise(bad)

    return run


report_key = pytest.StashKey[GradeReport]()


def crashed(result: ExerciseResult) -> str:
    assert result.outcome is Outcome.CRASHED, result
    assert result.score == 0
    assert result.error is not None
    return result.error


# -- the code does not load or cannot be called -------------------------------------


def test_syntax_error_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(NOT_COMPILED, error)
    assert "task.py does not compile (line 1)" in error


def test_missing_module_at_import_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(IMPORT_FAILED, error)
    assert "ModuleNotFoundError: No module named 'sqlalchemy_turbo_cache'" in error


def test_exception_at_import_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(IMPORT_FAILED, error)
    assert 'File "task.py", line 2, in <module>' in error
    assert "KeyError: 'maximum'" in error


def test_exception_in_call_carries_type_and_short_traceback(
    grade_case: Grader, session: GradingSession
) -> None:
    error = crashed(grade_case(session))
    assert matches(RAISED, error)
    assert error.startswith("run() raised OperationalError:")
    assert 'File "task.py", line 5, in run' in error
    assert 'File "task.py", line 9, in helper' in error
    assert "no such column: nickname" in error
    # Paths are cut down to the submission and the library; the grader's frames are left out.
    assert str(Path.cwd()) not in error
    assert "/tmp/" not in error
    assert "site-packages" not in error
    assert "grader/execution/child.py" not in error


def test_missing_function_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert error == NO_ENTRY.format(file="task.py", entry="run")


def test_empty_file_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert error == NO_ENTRY.format(file="task.py", entry="run")


def test_wrong_signature_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(BAD_SIGNATURE, error)
    assert "unexpected keyword argument 'limit'" in error


def test_symlink_outside_the_submission_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    error = crashed(grade_case(session))
    assert error == LINK_OUTSIDE.format(name="task.py")


# -- what it returns -------------------------------------------------------------------


def test_wrong_return_type_is_a_check_not_met(grade_case: Grader, session: GradingSession) -> None:
    result = grade_case(session)
    assert result.outcome is Outcome.GRADED
    check = result.check("correct_result")
    assert not check.passed
    assert matches(WRONG_RESULT, check.message)
    assert "expected a list, got a dict" in check.message
    assert result.score == 0


def test_none_returned_is_a_check_not_met(grade_case: Grader, session: GradingSession) -> None:
    result = grade_case(session)
    assert result.outcome is Outcome.GRADED
    assert "expected a list, got a NoneType" in result.check("correct_result").message
    assert result.score == 0


def test_orm_objects_returned_are_refused(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert error == ORM_OBJECT.format(type="User")


def test_endless_generator_is_stopped(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(TOO_MANY_ITEMS, error)


# -- hangs, memory, exits, output --------------------------------------------------------


def _stopped_in_time(grade_case: Grader, tight: GradingSession) -> str:
    started = time.monotonic()
    result = grade_case(tight)
    elapsed = time.monotonic() - started
    error = crashed(result)
    assert matches(TIMED_OUT, error)
    # A generous bound on the whole run of both exercises, not a performance figure.
    assert elapsed < TIGHT_TIMEOUT + GRACE + 10
    return error


def test_busy_loop_at_import_is_stopped(grade_case: Grader, tight: GradingSession) -> None:
    _stopped_in_time(grade_case, tight)


def test_sleep_at_import_is_stopped(grade_case: Grader, tight: GradingSession) -> None:
    _stopped_in_time(grade_case, tight)


def test_busy_loop_in_call_is_stopped(grade_case: Grader, tight: GradingSession) -> None:
    _stopped_in_time(grade_case, tight)


def test_sleep_in_call_is_stopped(grade_case: Grader, tight: GradingSession) -> None:
    error = _stopped_in_time(grade_case, tight)
    assert f"did not finish within {TIGHT_TIMEOUT:g} s" in error


def test_memory_exhaustion_is_a_crash(grade_case: Grader, tight: GradingSession) -> None:
    error = crashed(grade_case(tight))
    assert error.startswith(OUT_OF_MEMORY)


def test_sys_exit_at_import_is_never_a_pass(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(EXIT_AT_IMPORT, error)
    assert "SystemExit" in error


def test_sys_exit_in_call_is_never_a_pass(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(EXIT_IN_CALL, error)


def test_os_exit_in_call_is_never_a_pass(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert error.startswith(EXITED.format(code=0))


def test_megabytes_of_output_are_capped(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(RAISED, error)
    assert "the very last line" in error
    assert len(error) < 10_000


def test_hostile_exception_message_is_reported(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert error.startswith(RAISED.format(entry="run", exception="Unprintable"))


# -- the database --------------------------------------------------------------------------


def _damage_stays_in_its_copy(grade_case: Grader, session: GradingSession) -> None:
    # The good exercise, graded after it on a copy of the same template, got full marks.
    result = grade_case(session)
    assert result.outcome is Outcome.GRADED, result.error
    assert not result.check("correct_result").passed
    assert result.score == 0


def test_dropped_tables_affect_only_their_copy(grade_case: Grader, session: GradingSession) -> None:
    _damage_stays_in_its_copy(grade_case, session)


def test_deleted_rows_affect_only_their_copy(grade_case: Grader, session: GradingSession) -> None:
    _damage_stays_in_its_copy(grade_case, session)


def test_schema_change_affects_only_its_copy(grade_case: Grader, session: GradingSession) -> None:
    _damage_stays_in_its_copy(grade_case, session)


def test_closed_connection_is_a_crash(grade_case: Grader, session: GradingSession) -> None:
    error = crashed(grade_case(session))
    assert matches(RAISED, error)
    assert "closed database" in error
    assert not matches(TAMPERING, error)


def test_replaced_session_still_counts_its_queries(
    grade_case: Grader, session: GradingSession
) -> None:
    result = grade_case(session, bad="eager_loading", good="filter_limit")
    assert result.outcome is Outcome.GRADED
    assert result.check("correct_result").passed
    n_plus_one = result.check("no_n_plus_one")
    assert matches(GROWING_QUERIES, n_plus_one.message)
    assert any("raw driver cursor" in e.label for e in n_plus_one.evidence)
    assert matches(TOO_MANY_QUERIES, result.check("max_queries").message)


def test_raw_driver_cursor_is_counted(grade_case: Grader, session: GradingSession) -> None:
    result = grade_case(session, bad="eager_loading", good="filter_limit")
    # Honest raw SQL: one statement, counted, full marks.
    assert result.passed, terminal.render_exercise(result)
    assert result.stats["queries"] == 1


# -- tampering --------------------------------------------------------------------------


def _tampering(grade_case: Grader, session: GradingSession, what: str) -> str:
    error = crashed(grade_case(session, bad="eager_loading", good="filter_limit"))
    assert matches(TAMPERING, error)
    assert matches(what, error), error
    return error


def test_removed_listeners_are_tampering(grade_case: Grader, session: GradingSession) -> None:
    _tampering(grade_case, session, LISTENERS_REMOVED)


def test_removed_trace_is_tampering(grade_case: Grader, session: GradingSession) -> None:
    error = _tampering(grade_case, session, TRACE_REMOVED)
    assert TRACE_REMOVED.format(count=1) in error


def test_patched_grader_capture_is_tampering(grade_case: Grader, session: GradingSession) -> None:
    error = _tampering(grade_case, session, CHANGED)
    assert "grader.execution.capture._Recorder.before" in error


def test_patched_grader_child_is_tampering(grade_case: Grader, session: GradingSession) -> None:
    error = _tampering(grade_case, session, CHANGED)
    assert "grader.execution.child.normalize" in error


def test_trimmed_log_is_tampering(grade_case: Grader, session: GradingSession) -> None:
    # The recorder's records are reached through gc, which the audit hook refuses.
    error = _tampering(grade_case, session, REFUSED)
    assert ALWAYS_REFUSED["gc.get_objects"] in error


def test_forged_result_on_the_channel_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    error = crashed(grade_case(session))
    assert matches(TAMPERING, error)
    # The channel is found through gc, which the audit hook refuses; a forged
    # payload that gets through is refused by the loader (test_record_loader_…).
    assert ALWAYS_REFUSED["gc.get_objects"] in error
    backend_dir = Path(session.backend.work_dir or "")  # type: ignore[attr-defined]
    assert not (backend_dir / "forged-record-ran").exists()


def test_forged_workflow_commands_stay_inside_stop_commands(
    grade_case: Grader, session: GradingSession, request: pytest.FixtureRequest
) -> None:
    error = crashed(grade_case(session))
    assert "::notice title=Autograding::Points 100/100" in error
    log = terminal.render(request.node.stash[report_key])
    assert outside_brackets(log) == []
    assert any("Points 100/100" in line for line in log.splitlines())


def outside_brackets(log: str) -> list[str]:
    """The lines of ``log`` the Actions runner would process as workflow commands."""
    processed, token = [], None
    for line in log.splitlines():
        if token is not None:
            if line == f"::{token}::":
                token = None
            continue
        if line.startswith("::stop-commands::"):
            token = line.removeprefix("::stop-commands::")
        elif looks_like_workflow_command(line):
            processed.append(line)
    return processed


# -- processes ---------------------------------------------------------------------------


def test_killed_forkserver_does_not_stop_the_run(
    grade_case: Grader, session: GradingSession
) -> None:
    result = grade_case(session)
    assert not result.passed


def test_parent_never_imports_submission_code(grade_case: Grader, session: GradingSession) -> None:
    result = grade_case(session)
    error = crashed(result)
    found = re.search(r"imported-by-(\d+)", error)
    assert found, "the submission was never imported"
    assert int(found.group(1)) != os.getpid()
    assert not [name for name in sys.modules if name.startswith("ormgrade_submission")]


def test_processes_it_starts_are_killed(grade_case: Grader, session: GradingSession) -> None:
    # os.fork is refused inside the run; `test_escaped_grandchild_is_killed_at_the_end`
    # shows that a process started around the refusal dies with the run anyway.
    error = crashed(grade_case(session))
    assert matches(TAMPERING, error)
    assert ALWAYS_REFUSED["os.fork"] in error


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


# -- the results file ----------------------------------------------------------------------


def test_results_file_is_written_when_an_exercise_crashes(tmp_path: Path, catalog: Catalog) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(case_dir("test_results_file_is_written_when_an_exercise_crashes"), submission)
    shutil.copytree(catalog.solutions_dir / GOOD, submission / "exercises" / GOOD)
    out = tmp_path / "out" / "results.json"
    arguments = ["grade", "filter_limit", GOOD, "--submission", str(submission)]
    result = CliRunner().invoke(
        main, [*arguments, "--seed", str(SEED), "--json", str(out)], catch_exceptions=False
    )
    assert result.exit_code == EXIT_NOT_MET, result.output
    report = from_json(out.read_text())
    crashed_one = report.exercise("filter_limit")
    assert crashed_one.outcome is Outcome.CRASHED
    assert "ValueError: the results file must still be written" in (crashed_one.error or "")
    assert report.exercise(GOOD).passed
    assert [p.name for p in out.parent.iterdir()] == ["results.json"]


WRITER = """
import sys
from grader.results import write_atomic

path, big = sys.argv[1], int(sys.argv[2])
number = 0
while True:
    number += 1
    write_atomic(path, '{"number": %d, "padding": "%s"}' % (number, "x" * big))
"""


def test_killed_writer_leaves_the_old_file_or_the_whole_new_one(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    write_atomic(target, json.dumps({"number": 0, "padding": ""}))
    for attempt in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(2_000_000)],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.15 + attempt * 0.04)  # killed at a different point of its loop each time
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        document = json.loads(target.read_text())
        assert document["padding"] in ("", "x" * 2_000_000)


# -- the sandbox, unit by unit ---------------------------------------------------------------


def _job(tmp_path: Path, source: str, role: str = "submission", **fields: object) -> Job:
    module = tmp_path / "task.py"
    module.write_text(textwrap.dedent(source))
    database = tmp_path / "empty.sqlite"
    sqlite3.connect(database).close()
    return Job(
        exercise_id="sandbox",
        role=role,
        purpose="main",
        module_path=str(module),
        entry="run",
        call="engine",
        databases={"main": f"sqlite:///{database}"},
        **fields,  # type: ignore[arg-type]
    )


def test_output_keeps_its_head_and_tail(tmp_path: Path) -> None:
    job = _job(
        tmp_path,
        """
        def run(engine):
            print("first line")
            for number in range(100_000):
                print("filler", number)
            print("last line")
            return 1
        """,
        output_limit=4_096,
    )
    record = run_job(job, timeout=20, memory_mb=1024)
    assert record.ok, record.failure
    assert record.value == 1
    assert record.output.startswith("first line")
    assert record.output.rstrip().endswith("last line")
    assert matches(OUTPUT_CUT, record.output)
    assert len(record.output) < 4_096 + 100


def test_failure_before_the_import_is_a_grader_error(tmp_path: Path) -> None:
    job = _job(tmp_path, "def run(engine):\n    return 1\n", hooks_path=str(tmp_path / "none.py"))
    record = run_job(job, timeout=20, memory_mb=1024)
    assert record.failure is not None
    assert record.failure.is_grader_error
    assert matches(NOT_PREPARED, record.failure.message)


@pytest.mark.parametrize(
    ("role", "kind"), [("submission", FailureKind.EXCEPTION), ("oracle", FailureKind.GRADER)]
)
def test_hook_failing_after_the_call_blames_the_submission_not_the_starter(
    tmp_path: Path, role: str, kind: str
) -> None:
    hooks = tmp_path / "grading.py"
    hooks.write_text("def snapshot(connection, job):\n    raise LookupError('no table users')\n")
    job = _job(tmp_path, "def run(engine):\n    return 1\n", hooks_path=str(hooks), role=role)
    record = run_job(job, timeout=20, memory_mb=1024)
    assert record.failure is not None
    assert record.failure.kind == kind
    template = HOOK_AFTER_CALL if role == "submission" else HOOK_FAILED
    assert matches(template, record.failure.message)
    assert "LookupError: no table users" in record.failure.message


def _pickled(value: object) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


class _Payload:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.getcwd, ())


JOB = Job("x", "submission", "main", "task.py", "run", "session", {"main": "sqlite://"})
BAD_LOG = QueryLog(statements=("not a statement",))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_pickled(_Payload()), "posix.getcwd is not allowed"),
        (_pickled({"value": 1}), "a dict instead of a run record"),
        (_pickled(RunRecord(role="oracle", purpose="main")), "a record of another run"),
        (
            _pickled(RunRecord(role="submission", purpose="main", log=BAD_LOG)),
            "a malformed statement",
        ),
        (b"\x80\x05not a pickle", "UnpicklingError"),
    ],
)
def test_record_loader_refuses_anything_but_a_record(payload: bytes, reason: str) -> None:
    record = load_record(payload, JOB)
    assert record.failure is not None
    assert record.failure.kind == FailureKind.TAMPERING
    assert matches(REJECTED, record.failure.message)
    assert reason in record.failure.message


def test_record_loader_accepts_a_record() -> None:
    log = QueryLog(statements=(CapturedStatement(0, "SELECT 1", None),))
    sent = RunRecord(role="submission", purpose="main", value=[[1, "a"]], log=log)
    assert load_record(_pickled(sent), JOB) == sent


def test_record_without_listeners_is_tampering() -> None:
    sent = RunRecord(role="submission", purpose="main", log=QueryLog(listeners_intact=False))
    record = load_record(_pickled(sent), JOB)
    assert record.failure == Failure(
        FailureKind.TAMPERING, TAMPERING.format(what=LISTENERS_REMOVED)
    )


# -- the guard, unit by unit --------------------------------------------------------------------


@pytest.fixture()
def guard() -> Iterator[Guard]:
    installed = Guard.install()
    yield installed
    installed.uninstall()


def test_guard_sends_own_connections_to_the_recording(guard: Guard) -> None:
    seen: list[str] = []
    mine: list[str] = []
    connection = sqlite3.connect(":memory:")
    connection.set_trace_callback(mine.append)  # chained, not replacing the guard's
    with guard.recording(seen.append):
        connection.execute("SELECT 1").fetchall()
    connection.set_trace_callback(None)
    with guard.recording(seen.append):
        connection.execute("SELECT 2").fetchall()
    assert seen == ["SELECT 1", "SELECT 2"]
    assert mine == ["SELECT 1"]
    assert guard.verify(None) == []
    connection.close()


def test_guard_notices_a_trace_removed_through_the_base_class(guard: Guard) -> None:
    connection = sqlite3.connect(":memory:")
    sqlite3.Connection.__mro__[1].set_trace_callback(connection, None)  # type: ignore[attr-defined]
    assert guard.verify(None) == [TRACE_REMOVED.format(count=1)]
    connection.close()


def test_guard_notices_a_connection_closed_around_it(guard: Guard) -> None:
    connection = sqlite3.connect(":memory:")
    sqlite3.Connection.__mro__[1].close(connection)  # type: ignore[attr-defined]
    assert guard.verify(None) == [CLOSED_AROUND.format(count=1)]


def test_guard_compares_what_ran_with_the_log(guard: Guard) -> None:
    connection = sqlite3.connect(":memory:")
    with guard.recording(lambda sql: None):
        connection.execute("SELECT 1")
        connection.execute("SELECT 2")
    one = QueryLog(statements=(CapturedStatement(0, "SELECT 1", None),))
    assert guard.verify(one) == [UNACCOUNTED.format(seen=2, explained=1)]
    connection.close()


def test_guard_leaves_out_the_engines_own_connection_set_up(guard: Guard) -> None:
    engine = create_engine("sqlite://")
    event.listen(engine, "connect", lambda raw, record: raw.execute("PRAGMA synchronous = OFF"))
    seen: list[str] = []
    with guard.recording(seen.append, [engine]), engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert "PRAGMA synchronous = OFF" not in seen
    assert "SELECT 1" in seen
    assert guard.verify(None) == []
    engine.dispose()


def test_guard_notices_its_set_up_listener_removed(guard: Guard) -> None:
    engine = create_engine("sqlite://")
    with guard.recording(lambda sql: None, [engine]):
        event.remove(engine, "connect", guard._setup_ends)
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    assert guard.verify(None) == [SETUP_UNFINISHED]
    engine.dispose()


def test_explained_traces_count_executemany_per_row() -> None:
    log = QueryLog(
        statements=(
            CapturedStatement(0, "INSERT", None, executemany=True, rows_in=300),
            CapturedStatement(1, "INSERT", None, batches=3),
            CapturedStatement(2, "SELECT 1", None, source="driver"),
        ),
        transaction_control=("BEGIN", "COMMIT"),
    )
    assert explained_traces(log) == 300 + 3 + 1 + 2


def test_seal_names_what_was_replaced_or_added() -> None:
    import grader.execution.run

    seal = Seal(["grader.execution.run"])
    assert seal.broken() == []
    original = grader.execution.run.RunRecord.ok
    grader.execution.run.RunRecord.ok = property(lambda self: True)  # type: ignore[method-assign,assignment]
    grader.execution.run.EXTRA = 1  # type: ignore[attr-defined]
    try:
        assert seal.broken() == [
            CHANGED.format(names="grader.execution.run.EXTRA, grader.execution.run.RunRecord.ok")
        ]
    finally:
        grader.execution.run.RunRecord.ok = original  # type: ignore[method-assign]
        del grader.execution.run.EXTRA  # type: ignore[attr-defined]
    assert seal.broken() == []


# -- what reaches the terminal and the CI log ---------------------------------------------------


def test_terminal_controls_are_stripped() -> None:
    text = "ok\x1b[2K\x1b[1A  PASS\rforged\x07\x1b]0;title\x07 end\ttab"
    assert strip_terminal_controls(text) == f"ok  PASS\nforged{REPLACEMENT} end\ttab"


def test_legacy_commands_are_found_anywhere_in_a_line() -> None:
    assert looks_like_workflow_command("progress ##[error]forged")
    assert not looks_like_workflow_command("SELECT a::text FROM t")


def test_report_brackets_commands_from_messages_and_evidence() -> None:
    check = CheckResult(
        name="max_queries",
        passed=False,
        points=0,
        max_points=2,
        message="3 queries\n::notice::Points 10/10",
        evidence=(Evidence("statement ×3", "SELECT '\n::add-mask::x\x1b[2J'"),),
    )
    exercise = ExerciseResult(
        id="filter_limit", title="t", max_score=2, checks=(check,), error=None
    )
    report = GradeReport(exercises=(exercise,), dialect="sqlite", seed=1)
    log = terminal.render(report)
    assert outside_brackets(log) == []
    assert "\x1b" not in log
    assert outside_brackets(terminal.render_check(check)) == []
    assert to_json(report)  # the results keep the text as it was


# -- the grade cannot be faked: every statement counted, wherever the code runs it ----------


def _refused(grade_case: Grader, session: GradingSession, *fragments: str) -> str:
    """Grade the case's eager_loading: a tampering failure naming each of ``fragments``."""
    error = crashed(grade_case(session, bad="eager_loading", good="filter_limit"))
    assert matches(TAMPERING, error), error
    assert matches(REFUSED, error), error
    for fragment in fragments:
        assert fragment in error, error
    return error


def test_subprocess_doing_the_work_is_refused(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, ALWAYS_REFUSED["subprocess.Popen"])


def test_fork_doing_the_work_is_refused(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, ALWAYS_REFUSED["os.fork"])


def test_multiprocessing_doing_the_work_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    # Process.start() forks; clearing the daemon flag first changes nothing.
    _refused(grade_case, session, ALWAYS_REFUSED["os.fork"])


def test_posix_spawn_of_the_sqlite_shell_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    _refused(grade_case, session, ALWAYS_REFUSED["os.posix_spawn"])


def test_fork_exec_below_subprocess_is_refused(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, ALWAYS_REFUSED["_posixsubprocess.fork_exec"])


def test_libc_through_ctypes_is_refused(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, "ctypes")


def test_statements_at_import_time_are_counted(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, "while task.py is imported")


def test_engine_at_import_time_is_refused(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, "while task.py is imported")


def test_seed_read_from_the_parent_process_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    _refused(grade_case, session, "another process's /proc entry")


def test_template_cache_is_out_of_reach(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, "the grader's template cache")


def test_switched_off_guard_sink_is_tampering(grade_case: Grader, session: GradingSession) -> None:
    error = _tampering(grade_case, session, UNACCOUNTED)
    assert not matches(REFUSED, error)


def test_recording_switched_off_from_the_submission_is_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    _refused(grade_case, session, "the grader's own event")


def test_frames_of_the_grader_are_out_of_reach(grade_case: Grader, session: GradingSession) -> None:
    _refused(grade_case, session, "the interpreter's frames")


def test_traceback_frames_of_the_grader_are_out_of_reach(
    grade_case: Grader, session: GradingSession
) -> None:
    _refused(grade_case, session, "the interpreter's frames (.tb_frame)")


def test_answers_left_in_tmp_for_another_run_are_refused(
    grade_case: Grader, session: GradingSession
) -> None:
    _refused(grade_case, session, "writing a file outside the run's folder")
    assert not Path("/tmp/ormgrade-shared-answer.json").exists()


def test_home_and_temp_folder_are_the_runs_own(grade_case: Grader, session: GradingSession) -> None:
    result = grade_case(session, bad="eager_loading", good="filter_limit")
    assert result.passed, terminal.render_exercise(result)
    # The notes went to the run's own folder, not to the real home or temp folder.
    assert not (Path.home() / "note.txt").exists()
    assert not (Path(tempfile.gettempdir()) / "note.txt").exists()


def test_wrong_answer_on_the_scaled_run_loses_its_check(
    grade_case: Grader, session: GradingSession
) -> None:
    result = grade_case(session, bad="eager_loading", good="filter_limit")
    assert result.check("correct_result").passed
    n_plus_one = result.check("no_n_plus_one")
    assert not n_plus_one.passed
    assert matches(WRONG_ON_RUN, n_plus_one.message)
    assert "on the scaled run" in n_plus_one.message


def _escape(job: Job) -> RunRecord:
    """A run's target that starts a grandchild which double-forks into a session of its own.

    It runs before any audit hook (a target replaces the grader's own code), as a
    process escaping the refusals would.
    """
    marker = Path(job.workdir) / "grandchild.pid"
    if os.fork() == 0:
        if os.fork() == 0:
            os.setsid()
            marker.write_text(str(os.getpid()))
            time.sleep(600)
        os._exit(0)
    while not marker.exists():
        time.sleep(0.01)
    return RunRecord(role=job.role, purpose=job.purpose, value=int(marker.read_text()))


def test_escaped_grandchild_is_killed_at_the_end(tmp_path: Path) -> None:
    job = replace(_job(tmp_path, "def run(engine):\n    return 1\n"), workdir=str(tmp_path))
    record = run_job(job, timeout=20, memory_mb=1024, target=_escape)
    assert record.ok, record.failure
    pid = int(record.value)
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(pid)


def test_nothing_outlives_a_killed_grading(tmp_path: Path, catalog: Catalog) -> None:
    submission = tmp_path / "submission"
    shutil.copytree(case_dir("test_sleep_in_call_is_stopped"), submission)
    env = {**os.environ, "ORMGRADE_CACHE": str(tmp_path / "cache")}
    arguments = ["grade", "filter_limit", "--submission", str(submission), "--seed", str(SEED)]
    grading = subprocess.Popen(
        [sys.executable, "-m", "grader", *arguments, "--catalog", str(catalog.root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    tree: list[int] = []
    while time.monotonic() < deadline:
        tree = descendants(grading.pid)
        if len(tree) >= 3:  # the resource tracker, the forkserver and a run's child
            break
        time.sleep(0.1)
    assert tree, "the grading started no process"
    grading.send_signal(signal.SIGKILL)
    grading.wait()
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in tree if running(pid)]


@pytest.mark.parametrize("server", ["postgres_url", "mysql_url"])
def test_server_run_database_used_at_import_time_is_refused(
    grade_case: Grader,
    catalog: Catalog,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    server: str,
) -> None:
    # On a server the statements go through the driver's own socket, not SQLite's
    # trace: what SQLAlchemy sends at import time is counted against the run
    # (PostgreSQL), or the connection is refused (PyMySQL's sockets are Python's).
    url = request.getfixturevalue(server)
    options = GradeOptions(seed=SEED, db_url=url, work_dir=tmp_path_factory.mktemp("server"))
    server_session = open_session(catalog, options)
    try:
        error = crashed(grade_case(server_session, bad="eager_loading", good="filter_limit"))
    finally:
        server_session.close()
    assert matches(TAMPERING, error), error
    assert matches(OUTSIDE_STATEMENTS, error) or "while task.py is imported" in error, error
