"""Concurrent runs: several workers call the submission at once on one database.

A lost update only shows when two writers interleave, so a check that judges
isolation needs the submission run by several workers at the same time, each
a child process of its own with its own connection, all on one database
copy. The workers are started by the grader (never by the submission: a run
may not start processes), each through the sandbox like any other run, and
begin calling at one common instant. After the last one has ended, the grader
reads the database. The starter, run once with every call made one after
another, says what that state must be.

The spec sets ``workers`` (processes at once) and ``calls_per_worker``; every
call gets the exercise's parameters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from grader.course.spec import ExerciseSpec
from grader.databases.backend import internal_engine
from grader.errors import OrmgradeError
from grader.execution.child import READ_PAUSE, REPEAT, START_AT, normalize
from grader.execution.run import ConcurrentRun, Job, RunRecord

#: The call style of a worker (see `grader.execution.child`).
REPEATED_CALL = "session_repeated"
#: Seconds between starting the first worker and the common start of their calls:
#: long enough for every worker to be forked and to import the submission.
START_DELAY = 1.5
#: Seconds a worker pauses after each SELECT (see `grader.execution.child.READ_PAUSE`).
PAUSE_AFTER_READ = 0.002
#: Defaults of the spec's settings.
DEFAULT_WORKERS = 4
DEFAULT_CALLS = 25


def settings(spec: ExerciseSpec) -> tuple[int, int]:
    """The spec's ``workers`` and ``calls_per_worker``.

    Raises:
        OrmgradeError: A setting is not an integer in its range.
    """
    workers = spec.options.get("workers", DEFAULT_WORKERS)
    calls = spec.options.get("calls_per_worker", DEFAULT_CALLS)
    for name, value, low in (("workers", workers, 2), ("calls_per_worker", calls, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise OrmgradeError(f"{spec.id}: {name} must be an integer >= {low}")
    return workers, calls


def worker_job(job: Job, calls: int, start_at: float) -> Job:
    """``job`` turned into a worker that makes ``calls`` calls from ``start_at`` on."""
    return replace(
        job,
        call=REPEATED_CALL,
        options={**job.options, REPEAT: calls, START_AT: start_at, READ_PAUSE: PAUSE_AFTER_READ},
    )


def run_concurrent(
    spec: ExerciseSpec,
    copy: Callable[[], str],
    drop: Callable[[str], None],
    make_job: Callable[[str, str, str], Job],
    run: Callable[[Job], RunRecord],
    snapshot: Callable[[Any, Job], Any],
    serial: Callable[[], RunRecord],
) -> ConcurrentRun:
    """Run the submission in ``workers`` processes at once on one database copy.

    Args:
        spec: The exercise (its ``workers`` and ``calls_per_worker``).
        copy: Makes a fresh copy of the graded dataset and returns its URL.
        drop: Drops a copy made by ``copy``.
        make_job: ``(role, purpose, url)`` to the job of one call.
        run: Runs a job in a sandboxed child and returns its record.
        snapshot: The exercise's ``snapshot`` hook, ``(connection, job)``.
        serial: The starter's serial run (see `serial_job`), made or cached by the caller.
    """
    workers, calls = settings(spec)
    shared = copy()
    try:
        start_at = time.time() + START_DELAY
        jobs = [
            worker_job(make_job("submission", f"worker{number}", shared), calls, start_at)
            for number in range(1, workers + 1)
        ]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ormgrade-worker") as pool:
            records = tuple(pool.map(run, jobs))
        with internal_engine(shared) as engine, engine.connect() as conn:
            state = normalize(snapshot(conn, jobs[0]))
    finally:
        drop(shared)
    return ConcurrentRun(workers=records, calls_per_worker=calls, state=state, serial=serial())


def serial_job(spec: ExerciseSpec, job: Job) -> Job:
    """``job`` (the starter's) making every call of a concurrent run, one after another."""
    workers, calls = settings(spec)
    return worker_job(job, workers * calls, 0.0)
