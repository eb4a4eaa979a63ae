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
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import __version__
from grader.classbook.gradebook import (
    REFERENCE_FILE,
    STATE_DIR,
    Gradebook,
    IngestReport,
    results_file_name,
)
from grader.course.catalog import Catalog
from grader.course.manifest import protected_file_warnings
from grader.course.spec import ExerciseSpec
from grader.course.submission import MAX_FILE_BYTES, is_notebook_submission, locate
from grader.databases.backend import backend_for
from grader.errors import SubmissionError, UsageError
from grader.execution.platform import current
from grader.grading.runner import GradeOptions, grade, new_seed, open_session
from grader.migrations.project import scaffold_files
from grader.results import GradeReport, Outcome, from_json, to_json, write_atomic

#: grade-all's record of its seed and settings, in the results folder's state folder.
RUN_FILE = Path(STATE_DIR) / "grade-all.json"
#: Where the fingerprints of graded students are kept.
FINGERPRINT_DIR = Path(STATE_DIR) / "fingerprints"
#: The id under which the reference solutions are graded (never a student: hidden).
REFERENCE_ID = ".reference"
#: Seconds a worker is given to stop after an interrupt before it is killed.
STOP_GRACE = 5.0
#: Exit status of a worker stopped by an interrupt.
INTERRUPTED_EXIT = 130

WORKER_DIED = "the grading worker process died (exit code {code}) while grading this student"
WORKER_RAISED = "grading raised instead of producing results: {detail}"
UNKNOWN_STUDENTS = "no submission folder for {names} in {root}"


class StudentStatus(enum.StrEnum):
    """What grade-all did with a student.

    ``graded``: graded now, results written. ``unchanged``: the submission has
    not changed since its results were written; skipped. ``failed``: the
    grader could not produce results (not the student's fault; retried next run).
    """

    GRADED = "graded"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class Student:
    """One student's submission in the class folder.

    Attributes:
        id: The student id: the name of their folder.
        path: Their repository, notebook folder or notebook.
        notebook: Whether it is a notebook submission.
    """

    id: str
    path: Path
    notebook: bool = False


@dataclass(frozen=True)
class StudentOutcome:
    """How grading one student went.

    Attributes:
        student: The student id.
        status: Graded, unchanged or failed.
        score: Points earned (from the results, also when unchanged).
        max_score: Points available.
        crashed: Exercises where the student's code crashed.
        grader_errors: Exercises whose grading failed on the grader's side.
        error: Why there are no results, when ``failed``.
        results_path: The student's results file (None when ``failed``).
        seconds: Time spent grading the student.
    """

    student: str
    status: StudentStatus
    score: int = 0
    max_score: int = 0
    crashed: tuple[str, ...] = ()
    grader_errors: tuple[str, ...] = ()
    error: str | None = None
    results_path: Path | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """The grader failed this student somewhere (no results, or a grader error)."""
        return self.status is StudentStatus.FAILED or bool(self.grader_errors)


@dataclass(frozen=True)
class GradingTask:
    """A student to grade, with where their results go.

    Attributes:
        student: The submission.
        fingerprint: What the results will be valid for.
        results_path: The results file to write.
        fingerprint_path: Where ``fingerprint`` is recorded once the results are written.
    """

    student: Student
    fingerprint: str
    results_path: Path
    fingerprint_path: Path

    @property
    def is_reference(self) -> bool:
        """The task grades the reference solutions, not a student."""
        return self.student.id == REFERENCE_ID


@dataclass(frozen=True)
class BulkPlan:
    """What a grade-all run will do, decided before anything runs.

    Attributes:
        catalog: Where specs and oracles come from.
        results_dir: Where results go.
        exercise_ids: The exercises graded (all when empty).
        options: Seed (always set), database and limits, the same for every student.
        tasks: Students to grade (the reference first, when graded).
        unchanged: Students skipped, with their current results.
        gradebook: The gradebook results are ingested into (path or URL; None: none).
    """

    catalog: Catalog
    results_dir: Path
    exercise_ids: tuple[str, ...]
    options: GradeOptions
    tasks: tuple[GradingTask, ...]
    unchanged: tuple[StudentOutcome, ...]
    gradebook: str | None

    @property
    def seed(self) -> int:
        """The dataset seed every student of the run is graded with."""
        assert self.options.seed is not None
        return self.options.seed

    @property
    def students(self) -> int:
        """Students to grade now (the reference not counted)."""
        return sum(1 for t in self.tasks if not t.is_reference)


@dataclass(frozen=True)
class BulkReport:
    """What a grade-all run did.

    Attributes:
        seed: The dataset seed of the run.
        outcomes: Each student's outcome (unchanged ones first), the reference left out.
        reference: The reference solutions' outcome, when they were graded or kept.
        interrupted: The run was stopped (Ctrl-C) before every student was graded.
        left: Students not graded because of the interrupt.
        ingested: What ingesting the results folder into the gradebook did, at the end.
        seconds: Wall-clock time of the run.
    """

    seed: int
    outcomes: tuple[StudentOutcome, ...]
    reference: StudentOutcome | None = None
    interrupted: bool = False
    left: tuple[str, ...] = ()
    ingested: IngestReport | None = None
    seconds: float = 0.0

    def _count(self, status: StudentStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def graded(self) -> int:
        """Students graded by this run."""
        return self._count(StudentStatus.GRADED)

    @property
    def unchanged(self) -> int:
        """Students skipped because nothing changed."""
        return self._count(StudentStatus.UNCHANGED)

    @property
    def failures(self) -> tuple[StudentOutcome, ...]:
        """Students the grader failed (no results, or a grader error in them)."""
        return tuple(o for o in self.outcomes if o.failed)


Progress = Callable[[StudentOutcome], None]


# -- the class folder -----------------------------------------------------------


def find_students(root: Path, names: Iterable[str] = ()) -> list[Student]:
    """The students of the class folder ``root``, sorted by id.

    Every visible child folder is a student (a repository, or a folder of
    notebooks); so is a notebook file (``alice.ipynb`` is student ``alice``).

    Args:
        root: The class folder.
        names: Only these students (all when empty).

    Raises:
        SubmissionError: ``root`` is not a folder, or a named student has no folder.
    """
    if not root.is_dir():
        raise SubmissionError(f"{root}: not a folder of student submissions")
    found: dict[str, Student] = {}
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        is_notebook = is_notebook_submission(child)
        if child.is_dir() or is_notebook:
            student_id = child.name if child.is_dir() else child.stem
            found.setdefault(student_id, Student(student_id, child, is_notebook))
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return list(found.values())
    missing = [n for n in wanted if n not in found]
    if missing:
        raise SubmissionError(UNKNOWN_STUDENTS.format(names=", ".join(missing), root=root))
    return [found[n] for n in sorted(wanted)]


# -- fingerprints -----------------------------------------------------------------


def _hash_file(digest: Any, path: Path, label: str) -> None:
    digest.update(label.encode("utf-8", "surrogateescape") + b"\0")
    try:
        if path.is_symlink() or not path.is_file():
            digest.update(b"<not a regular file>")
        elif path.stat().st_size > MAX_FILE_BYTES:
            digest.update(f"<{path.stat().st_size} bytes>".encode())
        else:
            digest.update(path.read_bytes())
    except OSError as exc:
        digest.update(f"<unreadable: {exc.strerror}>".encode())
    digest.update(b"\0")


def _files_under(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if (
            "__pycache__" in path.parts
            or ".git" in path.parts
            or ".ipynb_checkpoints" in path.parts
        ):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def catalog_fingerprint(catalog: Catalog, specs: Iterable[ExerciseSpec]) -> str:
    """A digest of everything the catalog contributes to grading ``specs``.

    The spec, the starter that serves as oracle and the hooks: every file of
    each exercise's folder and of its pristine oracle copy; for a migration
    exercise, the Alembic scaffold laid under it too.
    """
    digest = hashlib.sha256()
    for spec in specs:
        for folder in dict.fromkeys([catalog.exercises_dir / spec.id, catalog.oracle_dir(spec.id)]):
            if folder.is_dir():
                for path in _files_under(folder):
                    _hash_file(digest, path, f"{spec.id}:{path.relative_to(folder)}")
        if spec.kind == "migration":
            for name, path in scaffold_files().items():
                _hash_file(digest, path, f"{spec.id}:scaffold:{name}")
    return digest.hexdigest()


def submission_fingerprint(
    student: Student, specs: Iterable[ExerciseSpec], catalog: Catalog | None = None
) -> str:
    """A digest of what the grader takes from ``student`` for ``specs``.

    That is each exercise's editable files (or, from a notebook, its solution
    cell) as `grader.course.submission.locate` finds them, and the problems it
    reports: nothing else in a student's repository can change their grade,
    so nothing else counts. With ``catalog``, the warnings about changed
    protected files count too, so that the results never carry stale ones.
    """
    digest = hashlib.sha256()
    where = str(student.path)
    for spec in specs:
        found = locate(student.path, spec)
        problems = "|".join(p.replace(where, "<submission>") for p in found.problems)
        digest.update(f"{spec.id}|{problems}\0".encode())
        for name, path in sorted(found.files.items()):
            files = list(_files_under(path)) if path.is_dir() else [path]
            for file in files:
                _hash_file(digest, file, f"{spec.id}:{name}:{file.relative_to(path.parent)}")
        for name, text in sorted(found.sources.items()):
            digest.update(f"{spec.id}:{name}\0{text}\0".encode("utf-8", "surrogateescape"))
    if catalog is not None and student.path.is_dir():
        for warning in protected_file_warnings(catalog.root, student.path):
            digest.update(f"warning:{warning}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def fingerprint(
    student_digest: str, catalog_digest: str, options: GradeOptions, exercise_ids: Iterable[str]
) -> str:
    """The fingerprint results are valid for: submission, catalog, grader and settings."""
    settings = {
        "submission": student_digest,
        "catalog": catalog_digest,
        "grader_version": __version__,
        "seed": options.seed,
        "database": _database_of(options.db_url),
        "timeout": options.timeout,
        "memory_mb": options.memory_mb,
        "exercises": list(exercise_ids),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _database_of(db_url: str | None) -> str:
    if db_url is None:
        return "sqlite"
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
    except Exception:
        return db_url
    return f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


# -- the run's seed -----------------------------------------------------------------


def recorded_seed(results_dir: Path) -> int | None:
    """The seed an earlier grade-all run recorded in ``results_dir``, if any."""
    text = _read_text(results_dir / RUN_FILE)
    if not text:
        return None
    try:
        seed = json.loads(text).get("seed")
    except (json.JSONDecodeError, AttributeError):
        return None
    return seed if isinstance(seed, int) and seed >= 0 else None


def record_run(plan: BulkPlan) -> None:
    """Record the run's seed and settings in its results folder (created when missing)."""
    plan.results_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "seed": plan.seed,
        "database": _database_of(plan.options.db_url),
        "exercises": list(plan.exercise_ids),
        "grader_version": __version__,
        "catalog": str(plan.catalog.root),
        "started_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    write_atomic(plan.results_dir / RUN_FILE, json.dumps(record, indent=2) + "\n")


# -- planning -------------------------------------------------------------------------


def _fingerprint_path(results_dir: Path, student_id: str) -> Path:
    return (
        results_dir
        / FINGERPRINT_DIR
        / (results_file_name(student_id).removesuffix(".json") + ".sha256")
    )


def _results_path(results_dir: Path, student_id: str) -> Path:
    if student_id == REFERENCE_ID:
        return results_dir / REFERENCE_FILE
    return results_dir / results_file_name(student_id)


def _unchanged_outcome(task: GradingTask) -> StudentOutcome | None:
    if _read_text(task.fingerprint_path) != task.fingerprint:
        return None
    text = _read_text(task.results_path)
    if text is None:
        return None
    try:
        report = from_json(text)
    except (ValueError, KeyError, TypeError):
        return None
    return _outcome(task, report, StudentStatus.UNCHANGED, 0.0)


def plan_grade_all(
    root: Path,
    results_dir: Path,
    catalog: Catalog,
    exercise_ids: Iterable[str] = (),
    *,
    students: Iterable[str] = (),
    options: GradeOptions | None = None,
    force: bool = False,
    reference: bool = True,
    gradebook: str | None = None,
) -> BulkPlan:
    """Decide what `run_grade_all` will grade.

    Args:
        root: The class folder (one child folder per student).
        results_dir: Where results go (created when missing).
        catalog: Where specs and oracles come from.
        exercise_ids: The exercises to grade (all when empty).
        students: Only these students (all when empty).
        options: Database and limits; the seed defaults to the one recorded in
            ``results_dir`` by an earlier run, else a fresh one.
        force: Grade every student, changed or not.
        reference: Also grade the catalog's ``solutions/`` (when it has them),
            for the dashboard's reference query counts.
        gradebook: Path or URL of the gradebook to ingest into (None: none).

    Raises:
        OrmgradeError: Unknown exercise ids, a missing class folder or student
            (`grader.errors.SubmissionError`), a gradebook that cannot be opened.
    """
    options = dataclasses.replace(options or GradeOptions())
    specs = catalog.select(exercise_ids)
    ids = tuple(s.id for s in specs)
    if options.seed is None:
        options.seed = recorded_seed(results_dir)
    if options.seed is None:
        options.seed = new_seed()
    class_students = find_students(root, students)
    if gradebook is not None:
        Gradebook.open(gradebook).close()  # a bad URL fails now, not after the grading
    catalog_digest = catalog_fingerprint(catalog, specs)
    candidates = list(class_students)
    if reference and catalog.solutions_dir.is_dir():
        candidates.insert(0, Student(REFERENCE_ID, catalog.solutions_dir))
    tasks: list[GradingTask] = []
    unchanged: list[StudentOutcome] = []
    for student in candidates:
        task = GradingTask(
            student=student,
            fingerprint=fingerprint(
                submission_fingerprint(student, specs, catalog), catalog_digest, options, ids
            ),
            results_path=_results_path(results_dir, student.id),
            fingerprint_path=_fingerprint_path(results_dir, student.id),
        )
        kept = None if force else _unchanged_outcome(task)
        if kept is None:
            tasks.append(task)
        else:
            unchanged.append(kept)
    return BulkPlan(
        catalog=catalog,
        results_dir=results_dir,
        exercise_ids=tuple(exercise_ids),
        options=options,
        tasks=tuple(tasks),
        unchanged=tuple(unchanged),
        gradebook=gradebook,
    )


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


# -- running ----------------------------------------------------------------------------


def _outcome(
    task: GradingTask, report: GradeReport, status: StudentStatus, seconds: float
) -> StudentOutcome:
    return StudentOutcome(
        student=task.student.id,
        status=status,
        score=report.score,
        max_score=report.max_score,
        crashed=tuple(e.id for e in report.exercises if e.outcome is Outcome.CRASHED),
        grader_errors=tuple(e.id for e in report.grader_errors),
        results_path=task.results_path,
        seconds=seconds,
    )


def finish(task: GradingTask, text: str, seconds: float) -> StudentOutcome:
    """Write a student's results JSON ``text`` (and its fingerprint); their outcome."""
    report = from_json(text)
    write_atomic(task.results_path, text)
    outcome = _outcome(task, report, StudentStatus.GRADED, seconds)
    if not outcome.grader_errors:
        # Results with a grader error are kept to be read but graded again next run.
        write_atomic(task.fingerprint_path, task.fingerprint + "\n")
    else:
        task.fingerprint_path.unlink(missing_ok=True)
    return outcome


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


def conclude(
    plan: BulkPlan,
    outcomes: Iterable[StudentOutcome],
    reference: StudentOutcome | None,
    done: Iterable[str],
    interrupted: bool,
    started: float,
) -> BulkReport:
    """Ingest the results folder into the gradebook and report the run.

    Args:
        plan: The run's plan.
        outcomes: Every student's outcome, the reference left out.
        reference: The reference solutions' outcome, if any.
        done: The ids of the students (and reference) that got an outcome.
        interrupted: Whether the run was stopped before the end.
        started: When the run started (`time.perf_counter`).
    """
    ingested = None
    if plan.gradebook is not None:
        # The results files are the record; the gradebook is brought up to date
        # from them (idempotently), also after an interrupt.
        with Gradebook.open(plan.gradebook) as book:
            ingested = book.ingest_directory(plan.results_dir)
    finished = set(done)
    left = tuple(
        t.student.id for t in plan.tasks if t.student.id not in finished and not t.is_reference
    )
    return BulkReport(
        seed=plan.seed,
        outcomes=tuple(outcomes),
        reference=reference,
        interrupted=interrupted,
        left=left,
        ingested=ingested,
        seconds=time.perf_counter() - started,
    )


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


__all__ = [
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
