"""One grading session: its options, seed and backend, shared by the exercises it grades.

Each kind of exercise registers its grader in `EXERCISE_KINDS`; the helpers
here turn a run that went wrong into that exercise's result.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.catalog import STARTER_CHECKSUMS, Catalog
from grader.course.spec import HOOKS_FILE, SPEC_FILE, ExerciseSpec
from grader.databases.backend import backend_for
from grader.databases.cache import file_digest
from grader.databases.template import Backend
from grader.execution.platform import current as current_platform
from grader.execution.run import Failure, Job, RunRecord
from grader.execution.sandbox import run_job
from grader.results import CheckResult, ExerciseResult, Outcome


@dataclass
class GradeOptions:
    """How to grade.

    Attributes:
        seed: Dataset seed; None draws a random one (recorded in the results).
        db_url: Database to grade on; None for a SQLite file per run.
        timeout: Overrides every exercise's time limit (seconds).
        memory_mb: Overrides every exercise's memory limit.
        work_dir: Where per-run files go (a temporary folder by default).
        exercise_workers: Exercises graded side by side (None: as many as
            `EXERCISE_WORKERS`, at most one per core); 1 grades one at a time.
    """

    seed: int | None = None
    db_url: str | None = None
    timeout: float | None = None
    memory_mb: int | None = None
    work_dir: Path | None = None
    exercise_workers: int | None = None


class Interrupted(Exception):
    """The session was stopped (Ctrl-C, for instance): no run is started any more."""


@dataclass
class GradingSession:
    """The state one grading run shares across its exercises."""

    catalog: Catalog
    backend: Backend
    seed: int
    options: GradeOptions
    oracle_cache: dict[tuple[str, str, str], RunRecord] = field(default_factory=dict)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    _timing_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False)

    def stop(self) -> None:
        """Start no run any more (the exercises graded meanwhile end as grader errors)."""
        self._stopped.set()

    def check_running(self) -> None:
        """Raise `Interrupted` once the session is stopped: called before each run starts."""
        if self._stopped.is_set():
            raise Interrupted("grading was interrupted")

    def add_time(self, exercise_id: str, phase: str, seconds: float) -> None:
        """Add ``seconds`` to ``phase`` of ``exercise_id`` (summed over its runs)."""
        with self._timing_lock:
            phases = self.timings.setdefault(exercise_id, {})
            phases[phase] = phases.get(phase, 0.0) + seconds

    def take_timings(self, exercise_id: str) -> dict[str, float]:
        """The phase times of ``exercise_id``, rounded, forgotten by the session."""
        with self._timing_lock:
            phases = self.timings.pop(exercise_id, {})
        return {name: round(value, 4) for name, value in sorted(phases.items())}

    def timeout(self, spec: ExerciseSpec) -> float:
        return self.options.timeout or spec.timeout

    def memory_mb(self, spec: ExerciseSpec) -> int:
        return self.options.memory_mb or spec.memory_mb

    def run(self, spec: ExerciseSpec, job: Job, cancel: threading.Event | None = None) -> RunRecord:
        """Run ``job`` in a child; ``cancel``, once set, stops it (see `run_job`)."""
        self.check_running()
        started = time.perf_counter()
        record = run_job(job, self.timeout(spec), self.memory_mb(spec), cancel=cancel)
        wall = time.perf_counter() - started
        phase = "oracle" if job.role == "oracle" else "submission"
        self.add_time(spec.id, f"{phase}_{job.purpose}", record.duration)
        self.add_time(spec.id, "child_overhead", max(wall - record.duration, 0.0))
        return record

    def oracle(self, key: tuple[str, str, str], make: Callable[[], RunRecord]) -> RunRecord:
        """The starter's run for ``key`` (exercise, purpose, template), made once.

        Once per session, and once per process for sessions on the same data
        (bulk grading, a test run): see `shared_oracles`.
        """
        if key not in self.oracle_cache:
            shared = self._shared_key(key)
            record = shared_oracles.get(shared)
            if record is None:
                record = make()
                if record.ok:  # a failed starter is run again next time
                    shared_oracles.put(shared, record)
            self.oracle_cache[key] = record
        return self.oracle_cache[key]

    def _shared_key(self, key: tuple[str, str, str]) -> tuple[Any, ...]:
        """``key`` and what else decides the starter's run beyond this session.

        The template's name stands for its size, seed and schema; the spec's folder
        holds the spec, the hooks and the record that pins the starter (a starter
        that differs from it is refused before any run).
        """
        folder = self.catalog.spec(key[0]).directory
        files = tuple(
            (name, file_digest(folder / name) if (folder / name).is_file() else None)
            for name in ORACLE_INPUTS
        )
        # The server a template is on (a SQLite template's location is its full path).
        server = getattr(self.backend, "url", None)
        backend = (type(self.backend).__name__, self.backend.dialect, str(server))
        return (str(self.catalog.root), key, files, backend)

    def close(self) -> None:
        """Release the databases this session made."""
        self.backend.close()


#: The files of an exercise's folder whose contents decide its starter's runs.
ORACLE_INPUTS = (SPEC_FILE, HOOKS_FILE, STARTER_CHECKSUMS)


class SharedOracles:
    """The starter's runs, kept for the sessions of this process (a bounded LRU).

    A class graded in one process (``ormgrade grade-all``), or a test run,
    opens a session per submission on the same seed: each would run the
    starter again on the same data. A record is shared only under a key that
    names everything its run depends on (see `GradingSession._shared_key`).
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._records: OrderedDict[tuple[Any, ...], RunRecord] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> RunRecord | None:
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                self._records.move_to_end(key)
            return record

    def put(self, key: tuple[Any, ...], record: RunRecord) -> None:
        with self._lock:
            self._records[key] = record
            self._records.move_to_end(key)
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


shared_oracles = SharedOracles()


def open_session(catalog: Catalog, options: GradeOptions | None = None) -> GradingSession:
    """A grading session: a backend and a seed shared by the exercises it grades."""
    options = options or GradeOptions()
    current_platform()  # a bad ORMGRADE_PLATFORM is a usage error before anything runs
    seed = options.seed if options.seed is not None else new_seed()
    return GradingSession(catalog, backend_for(options.db_url, options.work_dir), seed, options)


ExerciseGrader = Callable[[GradingSession, ExerciseSpec, Path], ExerciseResult]

#: How each kind of exercise is graded; other modules add kinds.
EXERCISE_KINDS: dict[str, ExerciseGrader] = {}


def new_seed() -> int:
    """A fresh dataset seed."""
    return random.SystemRandom().randrange(1, 2**31)


def failed_result(
    spec: ExerciseSpec, outcome: Outcome, error: str, stats: Mapping[str, Any] | None = None
) -> ExerciseResult:
    """An exercise result whose checks could not be judged."""
    reason = "not judged: " + (
        "the submission did not run to the end" if outcome is Outcome.CRASHED else "grader error"
    )
    checks = tuple(
        CheckResult(name=c.name, passed=False, points=0, max_points=c.points, message=reason)
        for c in spec.checks
    )
    return ExerciseResult(
        id=spec.id,
        title=spec.title,
        max_score=spec.max_score,
        checks=checks,
        outcome=outcome,
        error=error,
        stats=dict(stats or {}),
    )


def crash_message(failure: Failure, output: str = "") -> str:
    """The error text of a crashed submission: what happened, then the traceback tail."""
    parts = [failure.message]
    if failure.traceback:
        parts.append(failure.traceback)
    if output.strip():
        parts.append("output:\n" + output.strip()[-2000:])
    return "\n".join(parts)
