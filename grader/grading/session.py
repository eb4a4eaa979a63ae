"""One grading session: its options, seed and backend, shared by the exercises it grades.

Each kind of exercise registers its grader in `EXERCISE_KINDS`; the helpers
here turn a run that went wrong into that exercise's result.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.catalog import Catalog
from grader.course.spec import ExerciseSpec
from grader.databases.backend import backend_for
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
    """

    seed: int | None = None
    db_url: str | None = None
    timeout: float | None = None
    memory_mb: int | None = None
    work_dir: Path | None = None


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

    def run(self, spec: ExerciseSpec, job: Job) -> RunRecord:
        started = time.perf_counter()
        record = run_job(job, self.timeout(spec), self.memory_mb(spec))
        wall = time.perf_counter() - started
        phase = "oracle" if job.role == "oracle" else "submission"
        self.add_time(spec.id, f"{phase}_{job.purpose}", record.duration)
        self.add_time(spec.id, "child_overhead", max(wall - record.duration, 0.0))
        return record

    def oracle(self, key: tuple[str, str, str], make: Callable[[], RunRecord]) -> RunRecord:
        """The starter's run for ``key``, made once per session (same seed, same data)."""
        if key not in self.oracle_cache:
            self.oracle_cache[key] = make()
        return self.oracle_cache[key]

    def close(self) -> None:
        """Release the databases this session made."""
        self.backend.close()


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
