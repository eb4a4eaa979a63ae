"""Grade a whole class: every student's submission, in parallel processes.

An instructor clones every student's repository into one folder (the folder
name is the student id) and calls `grade_all`. It grades the students in
worker processes (each keeps one grading session, so the starter's oracle
runs are made once per worker, not once per student), writes one results
JSON per student into the results folder as soon as the student is done, and
records a fingerprint beside it: the student's editable files, the catalog,
the grader version and the grading settings. A later run skips every student
whose fingerprint has not changed, so an interrupted run (Ctrl-C) resumes
where it stopped. One student's submission, however broken or hostile, costs
at most that student's results: it runs in the sandbox of `grader.execution.sandbox`,
and a worker that dies is replaced.

Every student of one run is graded with the same dataset seed, recorded in
the results folder and reused by later runs, so the class is comparable.

The plan, the fingerprints and the recording of outcomes are
`grader.classbook.planning`'s (shared with the Celery coordinator); this module
runs the plan in a pool of local worker processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.classbook.planning import (
    FINGERPRINT_DIR,
    REFERENCE_ID,
    RUN_FILE,
    BulkPlan,
    BulkReport,
    GradingTask,
    Progress,
    Student,
    StudentOutcome,
    StudentStatus,
    conclude,
    find_students,
    finish,
    plan_grade_all,
    record_run,
)
from grader.course.catalog import Catalog
from grader.databases.backend import backend_for
from grader.errors import UsageError
from grader.execution.platform import current
from grader.grading.runner import GradeOptions, grade, open_session
from grader.results import to_json

#: Seconds a worker is given to stop after an interrupt before it is killed.
STOP_GRACE = 5.0

#: Exit status of a worker stopped by an interrupt.
INTERRUPTED_EXIT = 130

WORKER_DIED = "the grading worker process died (exit code {code}) while grading this student"

WORKER_RAISED = "grading raised instead of producing results: {detail}"


# -- the worker processes -----------------------------------------------------------


@dataclass(frozen=True)
class _WorkerSetup:
    catalog_root: Path
    exercise_ids: tuple[str, ...]
    options: GradeOptions


def _interrupt_once(signum: int, frame: Any) -> None:
    # A second Ctrl-C must not cut short the clean-up the first one started
    # (the sandbox kills the running submission on the way out).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _worker_main(conn: multiprocessing.connection.Connection, setup: _WorkerSetup) -> None:
    """Grade the students the parent sends, one at a time, with one session."""
    current().die_with_parent()  # killed with grade-all: its sandbox then ends its runs
    signal.signal(signal.SIGINT, _interrupt_once)
    session = None
    interrupted = False
    try:
        catalog = Catalog(setup.catalog_root)
        session = open_session(catalog, setup.options)
        while (task := conn.recv()) is not None:
            try:
                report = grade(task.student.path, catalog, setup.exercise_ids, session=session)
                report = dataclasses.replace(report, submission=task.student.id)
                conn.send(("done", to_json(report)))
            except Exception as exc:  # a bug of ours: this student gets no results
                detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                conn.send(("error", WORKER_RAISED.format(detail=detail)))
    except KeyboardInterrupt:
        interrupted = True
    except (EOFError, OSError):  # the parent is gone
        pass
    finally:
        if session is not None:
            session.close()
    if interrupted:
        raise SystemExit(INTERRUPTED_EXIT)


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    task: GradingTask | None = None
    started: float = 0.0


def _start_worker(ctx: Any, setup: _WorkerSetup) -> _Worker:
    parent_end, child_end = ctx.Pipe(duplex=True)
    # Not a daemon: a worker starts the sandbox's processes of its own.
    process = ctx.Process(target=_worker_main, args=(child_end, setup), name="ormgrade-grade-all")
    process.start()
    child_end.close()
    return _Worker(process, parent_end)


def _stop_workers(workers: Iterable[_Worker], interrupt: bool) -> None:
    workers = list(workers)
    for worker in workers:
        if worker.process.is_alive():
            try:
                if interrupt:
                    os.kill(worker.process.pid, signal.SIGINT)
                else:
                    worker.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
    deadline = time.monotonic() + STOP_GRACE
    for worker in workers:
        worker.process.join(max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(2)
        worker.conn.close()


def _drop_leftovers(db_url: str | None) -> None:
    """Drop the run databases of workers that are gone (a server backend does it as it opens)."""
    if db_url is None or db_url.startswith("sqlite"):
        return
    with contextlib.suppress(Exception):  # the server is unreachable: the next grading drops them
        backend_for(db_url).close()


def run_grade_all(plan: BulkPlan, jobs: int = 1, progress: Progress | None = None) -> BulkReport:
    """Grade the students of ``plan`` in ``jobs`` worker processes.

    Each student's results file (and its fingerprint) is written as soon as
    the student is done; the gradebook ingests the results folder at the end.
    Ctrl-C stops the workers (and the submissions they run) and returns what
    was finished, with ``interrupted`` set; the next run picks up the rest.

    Args:
        plan: What to grade (see `plan_grade_all`).
        jobs: Worker processes (at least 1; at most one per student).
        progress: Called with each student's outcome as it is known (the
            reference's too), after its results are written.
    """
    if jobs < 1:
        raise UsageError(f"-j {jobs}: at least one worker is needed")
    started = time.perf_counter()
    record_run(plan)
    outcomes: list[StudentOutcome] = [o for o in plan.unchanged if o.student != REFERENCE_ID]
    reference = next((o for o in plan.unchanged if o.student == REFERENCE_ID), None)
    pending = deque(plan.tasks)
    done: set[str] = set()
    interrupted = False

    def record(outcome: StudentOutcome) -> None:
        nonlocal reference
        done.add(outcome.student)
        if outcome.student == REFERENCE_ID:
            reference = outcome
        else:
            outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    ctx = multiprocessing.get_context("spawn")
    setup = _WorkerSetup(plan.catalog.root, plan.exercise_ids, plan.options)
    workers: list[_Worker] = []
    try:
        for _ in range(min(jobs, len(pending))):
            workers.append(_start_worker(ctx, setup))
        while pending or any(w.task is not None for w in workers):
            for worker in list(workers):
                if worker.task is None and pending:
                    task = pending.popleft()
                    try:
                        worker.conn.send(task)
                    except OSError:  # it died while idle: the task goes to a new worker
                        pending.appendleft(task)
                        _stop_workers([worker], interrupt=False)
                        workers.remove(worker)
                        workers.append(_start_worker(ctx, setup))
                        continue
                    worker.task = task
                    worker.started = time.perf_counter()
            busy = [w for w in workers if w.task is not None]
            ready = multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy]
            )
            for worker in busy:
                assert worker.task is not None
                task = worker.task
                message = None
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (EOFError, OSError):
                        message = None
                elif worker.process.sentinel not in ready:
                    continue
                seconds = time.perf_counter() - worker.started
                worker.task = None
                if message is not None and message[0] == "done":
                    record(finish(task, message[1], seconds))
                    continue
                if message is not None:
                    error = str(message[1])
                else:
                    worker.process.join(1)
                    if worker.process.exitcode == INTERRUPTED_EXIT:  # Ctrl-C reached it first
                        pending.appendleft(task)
                        raise KeyboardInterrupt
                    error = WORKER_DIED.format(code=worker.process.exitcode)
                    worker.conn.close()
                    workers.remove(worker)
                    if pending:
                        workers.append(_start_worker(ctx, setup))
                record(
                    StudentOutcome(
                        task.student.id, StudentStatus.FAILED, error=error, seconds=seconds
                    )
                )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _stop_workers(workers, interrupt=interrupted)
        _drop_leftovers(plan.options.db_url)
    return conclude(plan, outcomes, reference, done, interrupted, started)


def grade_all(
    root: Path,
    results_dir: Path,
    catalog: Catalog,
    exercise_ids: Iterable[str] = (),
    *,
    students: Iterable[str] = (),
    options: GradeOptions | None = None,
    jobs: int = 1,
    force: bool = False,
    reference: bool = True,
    gradebook: str | None = None,
    progress: Progress | None = None,
) -> BulkReport:
    """Plan and run a grade-all in one call (see `plan_grade_all` and `run_grade_all`)."""
    plan = plan_grade_all(
        root,
        results_dir,
        catalog,
        exercise_ids,
        students=students,
        options=options,
        force=force,
        reference=reference,
        gradebook=gradebook,
    )
    return run_grade_all(plan, jobs, progress)


# The plan's names, for callers that import them from here.
__all__ = [
    "FINGERPRINT_DIR",
    "REFERENCE_ID",
    "RUN_FILE",
    "BulkPlan",
    "BulkReport",
    "GradingTask",
    "Student",
    "StudentOutcome",
    "StudentStatus",
    "find_students",
    "grade_all",
    "plan_grade_all",
    "run_grade_all",
]
