"""Planning a class's grading and recording what came of it, wherever it ran.

Who the students are (one folder each), what a student's fingerprint is (their
editable files, the catalog, the grader version and the grading settings), the
run's seed, which students are unchanged since the last run, and the outcome
of each student (their results file and fingerprint written, the gradebook
brought up to date): shared by the local worker pool (`grader.classbook.bulk`)
and the Celery coordinator (`grader.classbook.coordinator`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import time
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
from grader.errors import SubmissionError
from grader.grading.runner import GradeOptions, new_seed
from grader.migrations.project import scaffold_files
from grader.results import GradeReport, Outcome, from_json, write_atomic

#: grade-all's record of its seed and settings, in the results folder's state folder.
RUN_FILE = Path(STATE_DIR) / "grade-all.json"
#: Where the fingerprints of graded students are kept.
FINGERPRINT_DIR = Path(STATE_DIR) / "fingerprints"
#: The id under which the reference solutions are graded (never a student: hidden).
REFERENCE_ID = ".reference"
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


__all__ = [
    "BulkPlan",
    "BulkReport",
    "GradingTask",
    "Student",
    "StudentOutcome",
    "StudentStatus",
    "catalog_fingerprint",
    "conclude",
    "find_students",
    "finish",
    "plan_grade_all",
    "record_run",
]
