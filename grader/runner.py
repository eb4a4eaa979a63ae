"""Grade a submission: run the oracle and the submission, analyse, judge.

`grade` is the verb every front end (CLI, pytest plugin, bulk grading) calls.
It grades each exercise on its own database copies, in child processes, and
turns every way an exercise can go wrong into that exercise's result: the
other exercises are graded regardless.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import __version__
from grader.catalog import Catalog
from grader.checks import Evaluation, build_check, judge_all
from grader.checks.base import Check, needs_of
from grader.child import CALL_DATABASES, load_module
from grader.concurrency import ConcurrentRun, run_concurrent, serial_job
from grader.database import Backend, Template, backend_for, internal_engine
from grader.dataset import size_named
from grader.domain import Base
from grader.errors import OrmgradeError
from grader.manifest import protected_file_warnings
from grader.plan import Plan, PlanError, explain
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome
from grader.run import Failure, Job, RunRecord
from grader.sandbox import run_job, stop_all
from grader.spec import ExerciseSpec
from grader.submission import locate, stage, submission_notes

#: The file of a query exercise that holds the entry function.
TASK_FILE = "task.py"
#: Runs of one exercise in flight at once (each is a child process).
RUN_WORKERS = 3
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
        warnings=submission_notes(submission, specs)
        + protected_file_warnings(catalog.root, submission),
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
    return replace(result, duration=time.perf_counter() - started)


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


def grade_query_exercise(
    session: GradingSession, spec: ExerciseSpec, submission: Path
) -> ExerciseResult:
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

        def run_main() -> tuple[RunRecord, dict[int, Plan | str]]:
            with _databases(session, spec, template) as urls:
                run = session.run(spec, job("submission", "main", urls["main"], databases=urls))
                started = time.perf_counter()
                found_plans = _explain_all(urls["main"], run) if run.ok and "plans" in needs else {}
                session.add_time(spec.id, "explain", time.perf_counter() - started)
            return run, found_plans

        # Every run is its own child process and none depends on another, so
        # they are queued on three workers (two cores stay busy while a short
        # run finishes): the starter and the submission first, then the runs
        # that further checks need (more data, memory, a fault). Those are
        # cancelled, or their results ignored, when the answer is wrong: only
        # a correct answer has its other checks judged.
        later: dict[str, Callable[[], RunRecord | ConcurrentRun]] = {}
        if "scaled" in needs:
            if spec.scaled_dataset is None:
                raise OrmgradeError(f"{spec.id}: a check needs scaled_dataset in the spec")
            bigger = session.backend.template(
                size_named(spec.scaled_dataset), session.seed, metadata
            )
            big_params = _params(spec, hooks, bigger, session.seed)

            def scaled_job(role: str) -> Callable[[str], Job]:
                return lambda url: replace(job(role, "scaled", url), params=big_params)

            later["scaled"] = lambda: _run_on_copy(session, spec, bigger, scaled_job("submission"))
            later["scaled_oracle"] = lambda: session.oracle(
                (spec.id, "scaled", bigger.location),
                lambda: _run_on_copy(session, spec, bigger, scaled_job("oracle")),
            )
        if "memory" in needs:
            # Only the submission's memory is traced: the starter's peak is
            # quoted in the exercise's README, and tracing every allocation of
            # a whole-table load would double the exercise's grading time.
            later["memory"] = lambda: _run_on_copy(
                session,
                spec,
                template,
                lambda url: job("submission", "memory", url, measure_memory=True),
            )
        if "fault" in needs:
            after_rows = _fault_after_rows(spec)
            later["fault"] = lambda: _run_on_copy(
                session,
                spec,
                template,
                lambda url: job("submission", "fault", url, fault_after_rows=after_rows),
            )

        if "concurrent" in needs:
            later["concurrent"] = lambda: _run_concurrently(session, spec, template, hooks, job)

        with _run_pool() as pool:
            oracle_future = pool.submit(
                session.oracle,
                (spec.id, "main", template.location),
                lambda: _run_on_copy(
                    session, spec, template, lambda url: job("oracle", "main", url)
                ),
            )
            main_future = pool.submit(run_main)
            pending = {name: pool.submit(make) for name, make in later.items()}
            oracle = oracle_future.result()
            main, plans = main_future.result()
            correct = (
                oracle.ok
                and main.ok
                and _gates_pass(checks, spec, oracle, main, metadata, session.seed, plans)
            )
            if not correct:
                pool.shutdown(wait=True, cancel_futures=True)
                pending = {}
            extra: dict[str, Any] = {name: future.result() for name, future in pending.items()}

        if not oracle.ok:
            assert oracle.failure is not None
            return failed_result(
                spec,
                Outcome.GRADER_ERROR,
                "grader error: the starter (oracle) failed: "
                + crash_message(oracle.failure, oracle.output),
            )
        if not main.ok:
            assert main.failure is not None
            outcome = Outcome.GRADER_ERROR if main.failure.is_grader_error else Outcome.CRASHED
            return failed_result(
                spec, outcome, crash_message(main.failure, main.output), _stats(main)
            )
        scaled = extra.pop("scaled", None)
        scaled_oracle = extra.pop("scaled_oracle", None)
        for run in (scaled, scaled_oracle, *extra.values()):
            failure = run.failure if isinstance(run, RunRecord) else None
            if failure is not None and failure.is_grader_error:
                return failed_result(
                    spec,
                    Outcome.GRADER_ERROR,
                    f"grader error: the {run.role}'s {run.purpose} run failed: "
                    + crash_message(failure, run.output),
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
        started = time.perf_counter()
        results = judge_all(checks, evaluation)
        session.add_time(spec.id, "checks", time.perf_counter() - started)
    return ExerciseResult(
        id=spec.id,
        title=spec.title,
        max_score=spec.max_score,
        checks=results,
        stats={**_stats(main, oracle), "timing": session.take_timings(spec.id)},
    )


def _gates_pass(
    checks: list[Check],
    spec: ExerciseSpec,
    oracle: RunRecord,
    main: RunRecord,
    metadata: Any,
    seed: int,
    plans: dict[int, Plan | str],
) -> bool:
    """Whether the gate checks (correct_result) pass on the main runs."""
    gates = [c for c in checks if c.gate]
    schema = metadata if metadata is not None else Base.metadata
    early = Evaluation(spec, oracle, main, schema, seed, plans=plans)
    return all(c.judge(early).passed for c in gates)


@contextmanager
def _run_pool() -> Iterator[ThreadPoolExecutor]:
    """Workers for the runs of one exercise; on an interrupt, their children are killed.

    Without that, Ctrl-C would wait for every running child to reach its time limit.
    """
    pool = ThreadPoolExecutor(max_workers=RUN_WORKERS, thread_name_prefix="ormgrade-run")
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _databases(
    session: GradingSession, spec: ExerciseSpec, template: Template
) -> Iterator[dict[str, str]]:
    """Fresh copies of ``template`` by role: ``main`` and those the call style adds."""
    urls: dict[str, str] = {}
    try:
        started = time.perf_counter()
        for role in ("main", *CALL_DATABASES.get(spec.call, ())):
            urls[role] = session.backend.copy(template)
        session.add_time(spec.id, "copy", time.perf_counter() - started)
        yield urls
    finally:
        for url in urls.values():
            session.backend.drop(url)


def _run_on_copy(
    session: GradingSession, spec: ExerciseSpec, template: Template, make: Callable[[str], Job]
) -> RunRecord:
    with _databases(session, spec, template) as urls:
        job = make(urls["main"])
        if len(urls) > 1:
            job = replace(job, databases={**urls, **job.databases})
        return session.run(spec, job)


def _run_concurrently(
    session: GradingSession,
    spec: ExerciseSpec,
    template: Template,
    hooks: Any,
    job: Callable[..., Job],
) -> ConcurrentRun:
    take = getattr(hooks, "snapshot", None)
    if take is None:
        raise OrmgradeError(f"{spec.id}: a concurrent run needs the exercise's snapshot hook")

    def copy() -> str:
        started = time.perf_counter()
        url = session.backend.copy(template)
        session.add_time(spec.id, "copy", time.perf_counter() - started)
        return url

    def serial() -> RunRecord:
        return session.oracle(
            (spec.id, "serial", template.location),
            lambda: _run_on_copy(
                session, spec, template, lambda url: serial_job(spec, job("oracle", "serial", url))
            ),
        )

    return run_concurrent(
        spec,
        copy=copy,
        drop=session.backend.drop,
        make_job=job,
        run=lambda worker: session.run(spec, worker),
        snapshot=take,
        serial=serial,
    )


def _fault_after_rows(spec: ExerciseSpec) -> int:
    """The written row a fault run makes fail: the spec's ``fault_after_rows``."""
    value = spec.options.get("fault_after_rows")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OrmgradeError(
            f"{spec.id}: a check needs fault_after_rows (an integer >= 1) in the spec"
        )
    return value


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
                    # A refused EXPLAIN aborts PostgreSQL's transaction: the next
                    # statements are explained in a fresh one.
                    conn.rollback()
                    by_sql[key] = f"no plan: {exc}"
                except Exception as exc:  # an unexplainable statement is evidence, not a crash
                    conn.rollback()
                    by_sql[key] = f"no plan: {exc.__class__.__name__}: {exc}"
            plans[statement.index] = by_sql[key]
    return plans


EXERCISE_KINDS["query"] = grade_query_exercise


__all__ = [
    "EXERCISE_KINDS",
    "GradeOptions",
    "GradingSession",
    "grade",
    "grade_exercise",
]

# Other exercise kinds register themselves; they build on the helpers above.
from grader import migration_grader as _migration_grader  # noqa: E402,F401  isort: skip
