"""The gradebook: every results document of a class, with history, in one database.

`Gradebook.open` takes a file path (a SQLite gradebook) or any SQLAlchemy URL
and upgrades the schema in place. Ingesting is idempotent: a document already
kept for a student (same content digest) adds nothing, a regrade adds a
grading and keeps the earlier ones. Reading returns the results contract's own
dataclasses, so the dashboard and the export read what every reporter reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from grader.classbook.gradebook.folder import SkippedFile, StudentResults, scan
from grader.classbook.gradebook.migration import GradebookError, upgrade
from grader.classbook.gradebook.model import CheckGrade, ExerciseGrade, Grading, Student
from grader.databases.connect import make_engine
from grader.results import CheckResult, Evidence, ExerciseResult, GradeReport, Outcome

#: The gradebook file grade-all and the dashboard use by default, in the results folder.
DEFAULT_FILE = "gradebook.sqlite"

CANNOT_OPEN = "cannot open the gradebook at {where}: {detail}"


def gradebook_url(target: str | Path) -> str:
    """The SQLAlchemy URL of ``target``: a URL as given, a path as a SQLite file.

    Raises:
        GradebookError: ``target`` looks like a URL but cannot be parsed.
    """
    text = str(target)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    try:
        make_url(text)
    except ArgumentError as exc:
        raise GradebookError(f"{text!r} is not a database URL: {exc}") from None
    return text


def canonical_document(report: GradeReport) -> str:
    """The results document with sorted keys: the same results give the same text."""
    return json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False, default=str)


def document_digest(report: GradeReport | str) -> str:
    """A digest of the document's content (of a report, or of its canonical text)."""
    text = report if isinstance(report, str) else canonical_document(report)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _graded_at(report: GradeReport, fallback: dt.datetime) -> dt.datetime:
    try:
        return _utc_naive(dt.datetime.fromisoformat(report.created_at))
    except ValueError:
        return fallback


@dataclass(frozen=True)
class IngestReport:
    """What ingesting a results folder did.

    Attributes:
        added: Students with a new grading (first results or a regrade).
        unchanged: Students whose results were already kept.
        skipped: Files that hold no readable results, with the reason.
    """

    added: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()


@dataclass(frozen=True)
class StudentRecord:
    """A student's latest grading.

    Attributes:
        student: The student id.
        report: The latest results (``submission`` is the student id).
        gradings: How many gradings the gradebook keeps for the student.
        source: The file the latest results were read from.
    """

    student: str
    report: GradeReport
    gradings: int
    source: str


@dataclass(frozen=True)
class GradingEntry:
    """One grading in a student's history.

    Attributes:
        graded_at: When grading finished (UTC).
        score: Points earned.
        max_score: Points available.
        seed: The dataset seed.
        source: The file the results were read from.
    """

    graded_at: dt.datetime
    score: int
    max_score: int
    seed: int
    source: str


class Gradebook:
    """A results database; use `Gradebook.open` (it migrates) and close it after."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, target: str | Path) -> Gradebook:
        """Open the gradebook at ``target`` (a path or URL), creating or upgrading its schema.

        Raises:
            GradebookError: It cannot be reached or migrated.
        """
        url = gradebook_url(target)
        where = make_url(url).render_as_string(hide_password=True)
        engine = None
        try:
            if make_url(url).get_backend_name() == "sqlite":
                database = make_url(url).database
                if database:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": 30})
            else:
                engine = make_engine(url, pool_pre_ping=True)
            upgrade(engine)
        except Exception as exc:  # unknown dialect, unreachable server, unwritable file
            if engine is not None:
                engine.dispose()
            if isinstance(exc, GradebookError):
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GradebookError(CANNOT_OPEN.format(where=where, detail=detail)) from exc
        return cls(engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------

    def ingest(self, student: str, report: GradeReport, source: str = "") -> bool:
        """Keep ``report`` as a grading of ``student``; False when it was already kept."""
        added, _ = self.ingest_many([StudentResults(student, report, Path(source))])
        return bool(added)

    def ingest_many(self, found: Iterable[StudentResults]) -> tuple[list[str], list[str]]:
        """Keep every document of ``found`` in one transaction.

        Rows go in with one multi-row INSERT per table (and per batch), not
        one statement per row: a class of thousands ingests in about a second.

        Returns:
            The students given a new grading, and those whose document was already kept.
        """
        added: list[str] = []
        unchanged: list[str] = []
        now = _utc_naive(dt.datetime.now(dt.UTC)).replace(microsecond=0)
        with self.engine.begin() as conn:
            # Rows unpack as tuples (Result.tuples() is deprecated from SQLAlchemy 2.1).
            students: dict[str, int] = {
                name: key for name, key in conn.execute(select(Student.name, Student.id))
            }
            kept: set[tuple[int, str]] = {
                (student, digest)
                for student, digest in conn.execute(select(Grading.student_id, Grading.digest))
            }
            fresh: list[tuple[StudentResults, str, str]] = []
            seen: set[tuple[str, str]] = set()
            for item in found:
                document = canonical_document(item.report)
                digest = document_digest(document)
                student_id = students.get(item.student)
                key = (item.student, digest)
                if key in seen or (student_id is not None and (student_id, digest) in kept):
                    unchanged.append(item.student)
                    continue
                seen.add(key)
                fresh.append((item, document, digest))
                added.append(item.student)
            if not fresh:
                return added, unchanged
            newcomers = sorted({item.student for item, _, _ in fresh} - students.keys())
            for name, student_id in zip(
                newcomers,
                _insert_returning_ids(conn, Student, [{"name": n} for n in newcomers]),
                strict=True,
            ):
                students[name] = student_id
            grading_ids = _insert_returning_ids(
                conn,
                Grading,
                [
                    _grading_values(item, document, digest, students[item.student], now)
                    for item, document, digest in fresh
                ],
            )
            exercise_rows: list[dict[str, Any]] = []
            exercise_checks: list[tuple[CheckResult, ...]] = []
            for (item, _, _), grading_id in zip(fresh, grading_ids, strict=True):
                for position, exercise in enumerate(item.report.exercises):
                    exercise_rows.append(_exercise_values(exercise, grading_id, position))
                    exercise_checks.append(exercise.checks)
            exercise_ids = _insert_returning_ids(conn, ExerciseGrade, exercise_rows)
            check_rows = [
                _check_values(check, exercise_id, number)
                for checks, exercise_id in zip(exercise_checks, exercise_ids, strict=True)
                for number, check in enumerate(checks)
            ]
            if check_rows:
                conn.execute(insert(CheckGrade), check_rows)
        return added, unchanged

    def ingest_directory(self, directory: Path) -> IngestReport:
        """Ingest every results file of ``directory``; unreadable files are reported, not fatal."""
        found: list[StudentResults] = []
        skipped: list[SkippedFile] = []
        for entry in scan(directory):
            (found if isinstance(entry, StudentResults) else skipped).append(entry)  # type: ignore[arg-type]
        added, unchanged = self.ingest_many(found)
        return IngestReport(tuple(added), tuple(unchanged), tuple(skipped))

    # -- reading -----------------------------------------------------------------

    def latest(self) -> list[StudentRecord]:
        """Every student's latest grading, by student id (three queries in all)."""
        ranked = (
            select(
                Grading.id.label("grading_id"),
                func.row_number()
                .over(
                    partition_by=Grading.student_id,
                    order_by=(Grading.graded_at.desc(), Grading.id.desc()),
                )
                .label("rank"),
                func.count().over(partition_by=Grading.student_id).label("gradings"),
            )
        ).subquery()
        latest_ids = select(ranked.c.grading_id).where(ranked.c.rank == 1)
        with self.engine.connect() as conn:
            gradings = conn.execute(
                select(
                    Grading.id,
                    Student.name,
                    Grading.seed,
                    Grading.dialect,
                    Grading.grader_version,
                    Grading.graded_at,
                    Grading.warnings,
                    Grading.source,
                    ranked.c.gradings,
                )
                .join(Student, Student.id == Grading.student_id)
                .join(ranked, ranked.c.grading_id == Grading.id)
                .where(ranked.c.rank == 1)
                .order_by(Student.name)
            ).all()
            exercises = conn.execute(
                select(
                    ExerciseGrade.id,
                    ExerciseGrade.grading_id,
                    ExerciseGrade.exercise_id,
                    ExerciseGrade.title,
                    ExerciseGrade.max_score,
                    ExerciseGrade.outcome,
                    ExerciseGrade.error,
                    ExerciseGrade.queries,
                    ExerciseGrade.starter_queries,
                    ExerciseGrade.duration,
                )
                .where(ExerciseGrade.grading_id.in_(latest_ids))
                .order_by(ExerciseGrade.grading_id, ExerciseGrade.position)
            ).all()
            checks = conn.execute(
                select(
                    CheckGrade.exercise_grade_id,
                    CheckGrade.name,
                    CheckGrade.passed,
                    CheckGrade.points,
                    CheckGrade.max_points,
                    CheckGrade.message,
                    CheckGrade.hint,
                    CheckGrade.evidence,
                )
                .join(ExerciseGrade, ExerciseGrade.id == CheckGrade.exercise_grade_id)
                .where(ExerciseGrade.grading_id.in_(latest_ids))
                .order_by(CheckGrade.exercise_grade_id, CheckGrade.position)
            ).all()
        checks_of: dict[int, list[CheckResult]] = {}
        for check in checks:
            checks_of.setdefault(check.exercise_grade_id, []).append(
                CheckResult(
                    name=check.name,
                    passed=bool(check.passed),
                    points=check.points,
                    max_points=check.max_points,
                    message=check.message,
                    hint=check.hint,
                    evidence=tuple(_evidence(check.evidence)),
                )
            )
        exercises_of: dict[int, list[ExerciseResult]] = {}
        for row in exercises:
            stats: dict[str, Any] = {}
            if row.queries is not None:
                stats["queries"] = row.queries
            if row.starter_queries is not None:
                stats["starter_queries"] = row.starter_queries
            exercises_of.setdefault(row.grading_id, []).append(
                ExerciseResult(
                    id=row.exercise_id,
                    title=row.title,
                    max_score=row.max_score,
                    checks=tuple(checks_of.get(row.id, ())),
                    outcome=_outcome(row.outcome),
                    error=row.error,
                    duration=row.duration,
                    stats=stats,
                )
            )
        return [
            StudentRecord(
                student=row.name,
                report=GradeReport(
                    exercises=tuple(exercises_of.get(row.id, ())),
                    dialect=row.dialect,
                    seed=row.seed,
                    submission=row.name,
                    created_at=row.graded_at.replace(tzinfo=dt.UTC).isoformat(),
                    grader_version=row.grader_version,
                    warnings=tuple(_json_list(row.warnings)),
                ),
                gradings=row.gradings,
                source=row.source,
            )
            for row in gradings
        ]

    def history(self, student: str) -> list[GradingEntry]:
        """Every grading kept for ``student``, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    Grading.graded_at,
                    Grading.score,
                    Grading.max_score,
                    Grading.seed,
                    Grading.source,
                )
                .join(Student, Student.id == Grading.student_id)
                .where(Student.name == student)
                .order_by(Grading.graded_at, Grading.id)
            ).all()
        return [GradingEntry(*row) for row in rows]

    def students(self) -> list[str]:
        """Every student the gradebook knows, sorted."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(Student.name).order_by(Student.name)))


def _insert_returning_ids(
    conn: Connection, model: type[Any], rows: list[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` and return their new ids in the order given."""
    if not rows:
        return []
    if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
        statement = insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(conn.scalars(statement, rows))
    # No ordered RETURNING for many rows here (MySQL): one statement per row.
    ids = []
    for row in rows:
        key = conn.execute(insert(model), row).inserted_primary_key
        assert key is not None
        ids.append(int(key[0]))
    return ids


def _grading_values(
    item: StudentResults, document: str, digest: str, student_id: int, now: dt.datetime
) -> dict[str, Any]:
    report = item.report
    return {
        "student_id": student_id,
        "digest": digest,
        "source": item.path.name,
        "seed": report.seed,
        "dialect": report.dialect,
        "grader_version": report.grader_version,
        "graded_at": _graded_at(report, now),
        "ingested_at": now,
        "score": report.score,
        "max_score": report.max_score,
        "warnings": json.dumps(list(report.warnings), ensure_ascii=False),
        "document": document,
    }


def _exercise_values(exercise: ExerciseResult, grading_id: int, position: int) -> dict[str, Any]:
    return {
        "grading_id": grading_id,
        "position": position,
        "exercise_id": exercise.id,
        "title": exercise.title,
        "score": exercise.score,
        "max_score": exercise.max_score,
        "outcome": exercise.outcome.value,
        "error": exercise.error,
        "queries": _int_or_none(exercise.stats.get("queries")),
        "starter_queries": _int_or_none(exercise.stats.get("starter_queries")),
        "duration": exercise.duration,
    }


def _check_values(check: CheckResult, exercise_grade_id: int, position: int) -> dict[str, Any]:
    return {
        "exercise_grade_id": exercise_grade_id,
        "position": position,
        "name": check.name,
        "passed": check.passed,
        "points": check.points,
        "max_points": check.max_points,
        "message": check.message,
        "hint": check.hint,
        "evidence": json.dumps([e.to_dict() for e in check.evidence], ensure_ascii=False)
        if check.evidence
        else "[]",
    }


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _json_list(text: str | None) -> Iterator[Any]:
    if not text:
        return iter(())
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return iter(())
    return iter(value if isinstance(value, list) else ())


def _evidence(text: str | None) -> Iterator[Evidence]:
    if text == "[]":  # most checks: passed, no evidence
        return
    for item in _json_list(text):
        if isinstance(item, dict):
            yield Evidence(str(item.get("label", "")), str(item.get("text", "")))


def _outcome(value: str) -> Outcome:
    try:
        return Outcome(value)
    except ValueError:
        return Outcome.GRADER_ERROR
