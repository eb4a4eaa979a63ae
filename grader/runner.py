"""Grade a submission: run the oracle and the submission, analyse, judge.

`grade` is the verb every front end (CLI, pytest plugin, bulk grading) calls.
It grades each exercise on its own database copies, in child processes, and
turns every way an exercise can go wrong into that exercise's result: the
other exercises are graded regardless.
"""

from __future__ import annotations

import random
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import __version__
from grader.catalog import Catalog
from grader.checks import Evaluation, build_check, judge_all
from grader.checks.base import Check, needs_of
from grader.child import load_module
from grader.database import Backend, Template, backend_for, internal_engine
from grader.dataset import size_named
from grader.domain import Base
from grader.errors import OrmgradeError
from grader.plan import Plan, PlanError, explain
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome
from grader.run import Failure, FailureKind, Job, RunRecord
from grader.sandbox import run_job
from grader.spec import ExerciseSpec
from grader.submission import locate, stage

#: The file of a query exercise that holds the entry function.
TASK_FILE = "task.py"
#: Most distinct statements explained per run.
MAX_EXPLAINED = 40


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

    def timeout(self, spec: ExerciseSpec) -> float:
        return self.options.timeout or spec.timeout

    def memory_mb(self, spec: ExerciseSpec) -> int:
        return self.options.memory_mb or spec.memory_mb

    def run(self, spec: ExerciseSpec, job: Job) -> RunRecord:
        return run_job(job, self.timeout(spec), self.memory_mb(spec))

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
    seed = options.seed if options.seed is not None else new_seed()
    return GradingSession(catalog, backend_for(options.db_url, options.work_dir), seed, options)


ExerciseGrader = Callable[[GradingSession, ExerciseSpec, Path], ExerciseResult]

#: How each kind of exercise is graded; other modules add kinds.
EXERCISE_KINDS: dict[str, ExerciseGrader] = {}


def new_seed() -> int:
    """A fresh dataset seed."""
    return random.SystemRandom().randrange(1, 2**31)


def grade(
    submission: Path,
    catalog: Catalog,
    ids: Iterable[str] = (),
    options: GradeOptions | None = None,
    progress: Callable[[ExerciseResult], None] | None = None,
    session: GradingSession | None = None,
) -> GradeReport:
    """Grade ``submission`` on the exercises ``ids`` (all when empty).

    Args:
        submission: A student repository, a folder of exercise folders, or
            one exercise's folder.
        catalog: Where specs, starters and hooks come from.
        ids: Exercise ids, in the order to grade.
        options: Seed, database, limits.
        progress: Called with each exercise's result as soon as it is known.
        session: A session to share (seed, databases, cached oracle runs);
            by default one is opened from ``options`` and closed at the end.

    Raises:
        OrmgradeError: Unknown ids or a broken catalog (before anything runs).
    """
    specs = catalog.select(ids)
    own = session is None
    session = session or open_session(catalog, options)
    results = []
    try:
        for spec in specs:
            result = grade_exercise(session, spec, submission)
            results.append(result)
            if progress is not None:
                progress(result)
    finally:
        if own:
            session.close()
    return GradeReport(
        exercises=tuple(results),
        dialect=session.backend.dialect,
        seed=session.seed,
        submission=str(submission),
        grader_version=__version__,
    )


def grade_exercise(session: GradingSession, spec: ExerciseSpec, submission: Path) -> ExerciseResult:
    """Grade one exercise; never raises: failures become the exercise's result."""
    started = time.perf_counter()
    grader_fn = EXERCISE_KINDS.get(spec.kind)
    try:
        if grader_fn is None:
            raise OrmgradeError(f"no grader for exercise kind {spec.kind!r}")
        result = grader_fn(session, spec, submission)
    except Exception as exc:  # a bug of ours or a broken environment
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result = failed_result(spec, Outcome.GRADER_ERROR, f"grader error: {detail}")
    return _with_duration(result, time.perf_counter() - started)


def _with_duration(result: ExerciseResult, seconds: float) -> ExerciseResult:
    from dataclasses import replace

    return replace(result, duration=seconds)


def failed_result(
    spec: ExerciseSpec, outcome: Outcome, error: str, stats: Mapping[str, Any] | None = None
) -> ExerciseResult:
    """An exercise result whose checks could not be judged."""
    reason = "not judged: " + (
        "the submission did not run to the end" if outcome is Outcome.CRASHED else "grader error"
    )
    checks = tuple(
        CheckResult(
            name=c.name, passed=False, points=0, max_points=c.points, message=reason
        )
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


# -- query exercises ------------------------------------------------------------


def _hooks(spec: ExerciseSpec) -> Any:
    path = spec.hooks_path
    return None if path is None else load_module(str(path), f"ormgrade_parent_hooks_{spec.id}")


def _params(spec: ExerciseSpec, hooks: Any, template: Template, seed: int) -> dict[str, Any]:
    params = dict(spec.params)
    make = getattr(hooks, "params", None)
    if make is not None:
        with internal_engine(template.url) as engine, engine.connect() as conn:
            params.update(make(conn, random.Random(seed), spec))
    return params


def _metadata(hooks: Any) -> Any:
    return getattr(hooks, "METADATA", None)


def grade_query_exercise(session: GradingSession, spec: ExerciseSpec, submission: Path) -> ExerciseResult:
    """Grade a query exercise: oracle and submission on copies of one dataset."""
    checks: list[Check] = [build_check(c) for c in spec.checks]
    needs = needs_of(checks)
    found = locate(submission, spec)
    if not found.complete:
        return failed_result(spec, Outcome.CRASHED, "; ".join(found.problems))
    hooks = _hooks(spec)
    metadata = _metadata(hooks)
    size = size_named(spec.dataset)
    template = session.backend.template(size, session.seed, metadata)
    params = _params(spec, hooks, template, session.seed)
    oracle_file = session.catalog.oracle_dir(spec.id) / TASK_FILE

    with tempfile.TemporaryDirectory(prefix=f"ormgrade-{spec.id}-") as scratch:
        work = Path(scratch)
        staged = stage(found, work / "submission")

        def job(role: str, purpose: str, url: str, **extra: Any) -> Job:
            module = oracle_file if role == "oracle" else staged / TASK_FILE
            run_dir = work / f"{role}-{purpose}"
            run_dir.mkdir(exist_ok=True)
            return Job(
                exercise_id=spec.id,
                role=role,
                purpose=purpose,
                module_path=str(module),
                entry=spec.entry,
                call=spec.call,
                databases={"main": url, **extra.pop("databases", {})},
                params=params,
                hooks_path=str(spec.hooks_path) if spec.hooks_path else None,
                options=dict(spec.options),
                workdir=str(run_dir),
                **extra,
            )

        oracle = session.oracle(
            (spec.id, "main", template.location),
            lambda: _run_on_copy(session, spec, template, lambda url: job("oracle", "main", url)),
        )
        if not oracle.ok:
            assert oracle.failure is not None
            return failed_result(
                spec,
                Outcome.GRADER_ERROR,
                "grader error: the starter (oracle) failed: " + crash_message(oracle.failure, oracle.output),
            )

        main_url = session.backend.copy(template)
        try:
            main = session.run(spec, job("submission", "main", main_url))
            if not main.ok:
                assert main.failure is not None
                outcome = Outcome.GRADER_ERROR if main.failure.is_grader_error else Outcome.CRASHED
                return failed_result(
                    spec, outcome, crash_message(main.failure, main.output), _stats(main)
                )
            plans = _explain_all(main_url, main) if "plans" in needs else {}
        finally:
            session.backend.drop(main_url)

        scaled = scaled_oracle = None
        if "scaled" in needs:
            if spec.scaled_dataset is None:
                raise OrmgradeError(f"{spec.id}: a check needs scaled_dataset in the spec")
            bigger = session.backend.template(size_named(spec.scaled_dataset), session.seed, metadata)
            scaled_params_spec = spec
            big_params = _params(scaled_params_spec, hooks, bigger, session.seed)

            def scaled_job(role: str) -> Callable[[str], Job]:
                def make(url: str) -> Job:
                    base = job(role, "scaled", url)
                    from dataclasses import replace

                    return replace(base, params=big_params)

                return make

            scaled = _run_on_copy(session, spec, bigger, scaled_job("submission"))
            scaled_oracle = session.oracle(
                (spec.id, "scaled", bigger.location),
                lambda: _run_on_copy(session, spec, bigger, scaled_job("oracle")),
            )
        extra: dict[str, Any] = {}
        if "memory" in needs:
            extra["memory"] = _run_on_copy(
                session, spec, template, lambda url: job("submission", "memory", url, measure_memory=True)
            )
            extra["oracle_memory"] = session.oracle(
                (spec.id, "memory", template.location),
                lambda: _run_on_copy(
                    session, spec, template, lambda url: job("oracle", "memory", url, measure_memory=True)
                ),
            )
        evaluation = Evaluation(
            spec=spec,
            oracle=oracle,
            main=main,
            metadata=metadata if metadata is not None else Base.metadata,
            seed=session.seed,
            scaled=scaled,
            scaled_oracle=scaled_oracle,
            plans=plans,
            extra=extra,
        )
        results = judge_all(checks, evaluation)
    return ExerciseResult(
        id=spec.id,
        title=spec.title,
        max_score=spec.max_score,
        checks=results,
        stats=_stats(main, oracle),
    )


def _run_on_copy(
    session: GradingSession, spec: ExerciseSpec, template: Template, make: Callable[[str], Job]
) -> RunRecord:
    url = session.backend.copy(template)
    try:
        return session.run(spec, make(url))
    finally:
        session.backend.drop(url)


def _stats(main: RunRecord, oracle: RunRecord | None = None) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "queries": len(main.log),
        "seconds": round(main.duration, 4),
    }
    if oracle is not None:
        stats["starter_queries"] = len(oracle.log)
        stats["starter_seconds"] = round(oracle.duration, 4)
    return stats


def _explain_all(url: str, run: RunRecord) -> dict[int, Plan | str]:
    """Plans of the SELECTs of ``run``, by statement index (the grader's own, uncaptured)."""
    plans: dict[int, Plan | str] = {}
    by_sql: dict[str, Plan | str] = {}
    with internal_engine(url) as engine, engine.connect() as conn:
        for statement in run.log.statements:
            if statement.verb not in ("SELECT", "WITH"):
                continue
            key = statement.sql
            if key not in by_sql:
                if len(by_sql) >= MAX_EXPLAINED:
                    continue
                try:
                    params = statement.params
                    if isinstance(params, list):
                        params = tuple(params)
                    by_sql[key] = explain(conn, statement.sql, params)
                except PlanError as exc:
                    by_sql[key] = f"no plan: {exc}"
                except Exception as exc:  # an unexplainable statement is evidence, not a crash
                    conn.rollback()
                    by_sql[key] = f"no plan: {exc.__class__.__name__}: {exc}"
            plans[statement.index] = by_sql[key]
    return plans


EXERCISE_KINDS["query"] = grade_query_exercise


def failure_kind_label(kind: str) -> str:
    """A short human label for a `FailureKind` value."""
    return kind.replace("_", " ")


__all__ = [
    "EXERCISE_KINDS",
    "FailureKind",
    "GradeOptions",
    "GradingSession",
    "grade",
    "grade_exercise",
]
