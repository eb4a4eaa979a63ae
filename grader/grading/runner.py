"""Grade a submission: run the oracle and the submission, analyse, judge.

`grade` is the verb every front end (CLI, pytest plugin, bulk grading) calls.
It grades each exercise on its own database copies, in child processes, and
turns every way an exercise can go wrong into that exercise's result: the
other exercises are graded regardless.
"""

from __future__ import annotations

import os
import random
import secrets
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader import __version__
from grader.analysis.plan import Plan, PlanError, explain
from grader.checks import Evaluation, build_check, judge_all
from grader.checks.base import Check, needs_of
from grader.course.catalog import Catalog, OracleError
from grader.course.manifest import protected_file_warnings
from grader.course.spec import ExerciseSpec
from grader.course.submission import locate, stage, submission_notes
from grader.databases.backend import internal_engine
from grader.databases.dataset import size_named
from grader.databases.template import Template
from grader.domain import Base
from grader.errors import OrmgradeError
from grader.execution.child import CALL_DATABASES, load_module
from grader.execution.platform import isolation_notes
from grader.execution.run import Job, RunRecord
from grader.execution.sandbox import stop_all
from grader.grading.concurrency import ConcurrentRun, run_concurrent, serial_job
from grader.grading.peaks import keep_peak, peak_file, read_peak
from grader.grading.session import (
    EXERCISE_KINDS,
    ExerciseGrader,
    GradeOptions,
    GradingSession,
    crash_message,
    failed_result,
    new_seed,
    open_session,
)
from grader.results import ExerciseResult, GradeReport, Outcome

#: The file of a query exercise that holds the entry function.
TASK_FILE = "task.py"
#: Runs of one exercise in flight at once (each is a child process).
RUN_WORKERS = 3
#: Exercises graded side by side by default (at most one per core): one exercise's
#: waits (a copy, a child's start, a lock held by a concurrent worker) leave the
#: cores to another's runs. Grades do not depend on it: no check judges a time.
EXERCISE_WORKERS = 2
#: Runs that take longest (a traced run over a large table, concurrent workers):
#: exercises that need them are started first.
LONG_RUNS = frozenset({"memory", "concurrent"})
#: How often an interrupted grading kills the children started meanwhile (seconds).
STOP_POLL = 0.1
#: Most distinct statements explained per run.
MAX_EXPLAINED = 40


def grade(
    submission: Path,
    catalog: Catalog,
    ids: Iterable[str] = (),
    options: GradeOptions | None = None,
    progress: Callable[[ExerciseResult], None] | None = None,
    session: GradingSession | None = None,
) -> GradeReport:
    """Grade ``submission`` on the exercises ``ids`` (all when empty).

    An exercise whose spec names the dialects it runs on is left out on the
    others, with a warning in the report that says why.

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
    dialect = session.backend.dialect
    # An exercise the dialect cannot express is left out, and the report says why.
    left_out = tuple(spec.not_on(dialect) for spec in specs if not spec.runs_on(dialect))
    specs = [spec for spec in specs if spec.runs_on(dialect)]
    try:
        results = _grade_side_by_side(session, specs, submission, progress)
    finally:
        if own:
            session.close()
    return GradeReport(
        exercises=tuple(results),
        dialect=session.backend.dialect,
        seed=session.seed,
        submission=str(submission),
        grader_version=__version__,
        warnings=left_out
        + submission_notes(submission, specs)
        + protected_file_warnings(catalog.root, submission)
        + tuple(getattr(session.backend, "notes", ()))
        + isolation_notes(),
    )


def exercise_workers(options: GradeOptions, count: int) -> int:
    """How many of ``count`` exercises are graded at once."""
    wanted = options.exercise_workers or min(EXERCISE_WORKERS, os.cpu_count() or 1)
    return max(1, min(wanted, count))


def _grade_side_by_side(
    session: GradingSession,
    specs: list[ExerciseSpec],
    submission: Path,
    progress: Callable[[ExerciseResult], None] | None,
) -> list[ExerciseResult]:
    """Each exercise's result, in the order of ``specs``, graded a few at a time.

    ``progress`` sees the results in that order too, each as soon as it and
    those before it are known. On an interrupt (or an error in ``progress``) no
    run is started any more and the children running are killed before it is
    raised, so that Ctrl-C does not wait for every child's time limit.
    """
    workers = exercise_workers(session.options, len(specs))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ormgrade-exercise")
    # The longest exercises start first, so that the others fill the cores beside them
    # instead of leaving one exercise to finish alone at the end; one at a time, the
    # order is the catalog's, so that each result is shown as soon as it is known.
    started = _longest_first(specs) if workers > 1 else specs
    submitted = {
        spec.id: pool.submit(grade_exercise, session, spec, submission) for spec in started
    }
    futures = [submitted[spec.id] for spec in specs]
    results: list[ExerciseResult] = []
    try:
        for future in futures:
            result = future.result()
            results.append(result)
            if progress is not None:
                progress(result)
    except BaseException:
        session.stop()
        for future in futures:
            future.cancel()
        _stop_children(futures)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _longest_first(specs: list[ExerciseSpec]) -> list[ExerciseSpec]:
    """``specs`` with those that need the longest runs (`LONG_RUNS`) first, else in order."""

    def long_runs(spec: ExerciseSpec) -> int:
        try:
            needs = needs_of([build_check(c) for c in spec.checks])
        except Exception:  # a broken check is reported by its exercise's grading
            return 0
        return len(needs & LONG_RUNS)

    return sorted(specs, key=lambda spec: -long_runs(spec))


def _stop_children(futures: list[Future[ExerciseResult]]) -> None:
    """Kill the session's children until the exercises running have ended.

    A run started just before the session stopped is killed on the next round.
    """
    pending = {f for f in futures if not f.done()}
    while pending:
        stop_all()
        _, not_done = wait(pending, timeout=STOP_POLL)
        pending = set(not_done)


def grade_exercise(session: GradingSession, spec: ExerciseSpec, submission: Path) -> ExerciseResult:
    """Grade one exercise; never raises: failures become the exercise's result."""
    started = time.perf_counter()
    grader_fn = _grader_of(spec.kind)
    try:
        if grader_fn is None:
            raise OrmgradeError(f"no grader for exercise kind {spec.kind!r}")
        result = grader_fn(session, spec, submission)
    except OracleError as exc:  # an edited starter would grade wrong answers as correct
        result = failed_result(spec, Outcome.GRADER_ERROR, f"grader error: {exc}")
    except Exception as exc:  # a bug of ours or a broken environment
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        result = failed_result(spec, Outcome.GRADER_ERROR, f"grader error: {detail}")
    return replace(result, duration=time.perf_counter() - started)


def _grader_of(kind: str) -> ExerciseGrader | None:
    """The grader of exercise ``kind``, importing the module of a kind graded elsewhere.

    Migration exercises are graded with Alembic, which grading a query exercise
    does not need: their module (which registers the kind) is imported the first
    time one is graded.
    """
    if kind == "migration" and kind not in EXERCISE_KINDS:
        from grader.grading import migration as _migration_grader  # noqa: F401

    return EXERCISE_KINDS.get(kind)


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
            # A random name: the folder does not tell a run what it is for.
            run_dir = work / f"run-{secrets.token_hex(8)}"
            run_dir.mkdir()
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
        # that further checks need (more data, memory, a fault). When the answer
        # is wrong, those of the submission are stopped (`not_needed`: a traced
        # export is most of an exercise's time) and the results of the others
        # ignored: only a correct answer has its other checks judged. The
        # starter's runs are left to end: they are kept for the next submission.
        not_needed = threading.Event()
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

            later["scaled"] = lambda: _run_on_copy(
                session, spec, bigger, scaled_job("submission"), not_needed
            )
            later["scaled_oracle"] = lambda: session.oracle(
                (spec.id, "scaled", bigger.location),
                lambda: _run_on_copy(session, spec, bigger, scaled_job("oracle")),
            )
        if "memory" in needs:
            later["memory"] = lambda: _run_on_copy(
                session,
                spec,
                template,
                lambda url: job("submission", "memory", url, measure_memory=True),
                not_needed,
            )
            # The starter's peak is shown beside the submission's; it is traced
            # once per session (same seed, same data), like its other runs, and
            # kept between sessions (see grader.grading.peaks).
            later["oracle_memory"] = lambda: session.oracle(
                (spec.id, "memory", template.location),
                lambda: _starter_peak(
                    spec,
                    template,
                    (oracle_file, spec.hooks_path),
                    params,
                    lambda: _run_on_copy(
                        session,
                        spec,
                        template,
                        lambda url: job("oracle", "memory", url, measure_memory=True),
                    ),
                ),
            )
        if "fault" in needs:
            after_rows = _fault_after_rows(spec, hooks, params, session.seed)
            later["fault"] = lambda: _run_on_copy(
                session,
                spec,
                template,
                lambda url: job("submission", "fault", url, fault_after_rows=after_rows),
                not_needed,
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
                not_needed.set()
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
    session: GradingSession,
    spec: ExerciseSpec,
    template: Template,
    make: Callable[[str], Job],
    cancel: threading.Event | None = None,
) -> RunRecord:
    """Run the job ``make`` builds on a fresh copy of ``template``; ``cancel`` stops it."""
    if cancel is not None and cancel.is_set():  # not even the copy is made
        return session.run(spec, make(""), cancel)
    with _databases(session, spec, template) as urls:
        job = make(urls["main"])
        if len(urls) > 1:
            job = replace(job, databases={**urls, **job.databases})
        return session.run(spec, job, cancel)


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


def _starter_peak(
    spec: ExerciseSpec,
    template: Template,
    files: tuple[Path | None, ...],
    params: Mapping[str, Any],
    trace: Callable[[], RunRecord],
) -> RunRecord:
    """The starter's memory run: its kept peak, or a traced run whose peak is then kept."""
    kept = peak_file(spec.id, template.location, template.url, files, params, spec.options)
    peak = read_peak(kept)
    if peak is not None:
        return RunRecord(role="oracle", purpose="memory", peak_memory=peak)
    run = trace()
    if run.ok and run.peak_memory is not None:
        keep_peak(kept, run.peak_memory)
    return run


def _fault_after_rows(spec: ExerciseSpec, hooks: Any, params: Mapping[str, Any], seed: int) -> int:
    """The written row a fault run makes fail.

    The hooks' ``fault_after_rows(params, rng)`` draws it from the seed when
    the exercise has one; otherwise the spec's ``fault_after_rows`` names it.
    """
    draw = getattr(hooks, "fault_after_rows", None)
    value = draw(params, random.Random(f"{seed}:fault")) if draw is not None else None
    if value is None:
        value = spec.options.get("fault_after_rows")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OrmgradeError(
            f"{spec.id}: a check needs fault_after_rows (an integer >= 1) in the spec "
            "or a fault_after_rows hook"
        )
    return value


def fault_row(session: GradingSession, spec: ExerciseSpec) -> int:
    """The written row the fault run of ``spec`` makes fail on the session's seed."""
    hooks = _hooks(spec)
    template = session.backend.template(size_named(spec.dataset), session.seed, _metadata(hooks))
    return _fault_after_rows(
        spec, hooks, _params(spec, hooks, template, session.seed), session.seed
    )


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
    "crash_message",
    "failed_result",
    "fault_row",
    "grade",
    "grade_exercise",
    "new_seed",
    "open_session",
]
