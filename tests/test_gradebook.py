"""The gradebook: idempotent ingestion with history, migrations in place, the CSV."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine, make_url

from grader.classbook.gradebook import (
    Gradebook,
    GradebookError,
    current_revision,
    gradebook_csv,
    head_revision,
    results_file_name,
    student_of,
    upgrade,
)
from grader.classbook.gradebook.export import STUDENT_COLUMN, TOTAL_COLUMN
from grader.classbook.gradebook.folder import (
    BAD_VALUE,
    FOREIGN,
    MALFORMED,
    MAX_DEPTH,
    MAX_POINTS,
    NOT_JSON,
    TOO_DEEP,
)
from grader.classbook.gradebook.migration import UNKNOWN_REVISION, VERSION_TABLE
from grader.classbook.gradebook.model import (
    CheckGrade,
    ExerciseGrade,
    GradebookBase,
    Grading,
    Student,
)
from grader.classbook.gradebook.store import CANNOT_OPEN
from tests.synthetic import EXERCISES, exercise_result, report, write_report

FIRST_REVISION = "0001"


def _counts(book: Gradebook) -> tuple[int, int, int, int]:
    with book.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.scalar(select(func.count()).select_from(model))
            for model in (Student, Grading, ExerciseGrade, CheckGrade)
        )


@pytest.fixture()
def book(tmp_path: Path) -> Iterator[Gradebook]:
    with Gradebook.open(tmp_path / "gradebook.sqlite") as opened:
        yield opened


def test_opening_creates_the_schema_at_the_head_revision(book: Gradebook) -> None:
    assert current_revision(book.engine) == head_revision()
    tables = set(inspect(book.engine).get_table_names())
    assert {m.__tablename__ for m in (Student, Grading, ExerciseGrade, CheckGrade)} <= tables
    assert VERSION_TABLE in tables
    assert "alembic_version" not in tables


def test_the_models_match_what_the_migrations_build(book: Gradebook) -> None:
    with book.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, GradebookBase.metadata) == []


def test_ingesting_the_same_results_twice_adds_nothing(book: Gradebook, tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_report(results, "alice", report())
    write_report(
        results,
        "bob",
        report({"filter_limit": exercise_result("filter_limit", ["max_queries"], 40)}),
    )
    first = book.ingest_directory(results)
    counts = _counts(book)
    second = book.ingest_directory(results)

    assert sorted(first.added) == ["alice", "bob"]
    assert second.added == ()
    assert sorted(second.unchanged) == ["alice", "bob"]
    assert _counts(book) == counts == (2, 2, 4, 14)
    assert book.ingest("alice", report(), "alice.json") is False


def test_a_regrade_adds_a_grading_and_keeps_the_earlier_one(book: Gradebook) -> None:
    first = report({"filter_limit": exercise_result("filter_limit", ["where_in_sql"])})
    later = report(created_at="2026-01-06T09:00:00+00:00")
    assert book.ingest("alice", first, "alice.json")
    assert book.ingest("alice", later, "alice.json")
    # An older document ingested after a newer one does not become the latest.
    assert book.ingest("alice", report(created_at="2026-01-01T00:00:00+00:00", seed=3))

    history = book.history("alice")
    latest = book.latest()
    assert [entry.score for entry in history] == [20, 18, 20]
    assert len(latest) == 1
    assert latest[0].gradings == 3
    assert latest[0].report.created_at == "2026-01-06T09:00:00+00:00"
    assert latest[0].report.score == 20


def test_latest_gives_back_the_results_contract(book: Gradebook) -> None:
    original = report(
        {
            "filter_limit": exercise_result("filter_limit", ["where_in_sql", "limit_in_sql"]),
            "eager_loading": exercise_result("eager_loading", crashed="task.py does not compile"),
        },
        warnings=["tests/ was edited; the catalog's copy was used"],
    )
    book.ingest("alice", original, "alice.json")

    (record,) = book.latest()
    rebuilt = record.report
    assert record.student == rebuilt.submission == "alice"
    assert record.source == "alice.json"
    assert (rebuilt.seed, rebuilt.dialect, rebuilt.created_at) == (
        original.seed,
        original.dialect,
        original.created_at,
    )
    assert rebuilt.warnings == original.warnings
    for got, expected in zip(rebuilt.exercises, original.exercises, strict=True):
        assert (got.id, got.title, got.score, got.max_score, got.outcome, got.error) == (
            expected.id,
            expected.title,
            expected.score,
            expected.max_score,
            expected.outcome,
            expected.error,
        )
        assert got.checks == expected.checks
        assert dict(got.stats) == dict(expected.stats)


def test_malformed_and_foreign_files_are_named_and_skipped(book: Gradebook, tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_report(results, "alice", report())
    (results / "notes.json").write_text("{not json", encoding="utf-8")
    (results / "package.json").write_text(json.dumps({"name": "left-pad"}), encoding="utf-8")
    broken = report().to_dict()
    del broken["exercises"][0]["max_score"]
    (results / "bob.json").write_text(json.dumps(broken), encoding="utf-8")
    (results / "README.md").write_text("not a results file", encoding="utf-8")

    found = book.ingest_directory(results)

    assert found.added == ("alice",)
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert set(reasons) == {"notes.json", "package.json", "bob.json"}
    assert reasons["notes.json"].startswith(NOT_JSON.split("{")[0])
    assert reasons["package.json"] == FOREIGN
    assert reasons["bob.json"] == MALFORMED.format(detail="missing 'max_score'")
    assert book.students() == ["alice"]


def _deeply_nested(levels: int) -> str:
    """A results document whose first exercise's stats nest ``levels`` arrays deep."""
    text = json.dumps(report().to_dict())
    return text.replace('"stats": {', '"stats": {"deep": ' + "[" * levels + "]" * levels + ", ", 1)


def _bad(field: str, expected: str, found: str) -> str:
    return MALFORMED.format(detail=BAD_VALUE.format(field=field, expected=expected, found=found))


POINTS_OF_2 = "an integer from 0 to 2"
BOUNDS = f"an integer from 0 to {MAX_POINTS}"
CHECK = "exercises[0].checks[1]"

#: Results files that would break ingest or lie on the dashboard, and why each is refused.
HOSTILE_RESULTS = {
    "nested 100,000 levels": (_deeply_nested(100_000), TOO_DEEP.format(limit=MAX_DEPTH)),
    "nested past the limit only": (_deeply_nested(MAX_DEPTH + 2), TOO_DEEP.format(limit=MAX_DEPTH)),
    "points of 10**400": (
        json.dumps(report().to_dict()).replace('"points": 2,', f'"points": {10**400},', 1),
        _bad(
            "exercises[0].checks[1].points",
            "an integer of at most 64 bits",
            repr(10**400)[:37] + "...",
        ),
    ),
    "max_score of 10**12": (
        json.dumps(report().to_dict()).replace('"max_score": 10,', f'"max_score": {10**12},', 1),
        _bad("exercises[0].max_score", BOUNDS, str(10**12)),
    ),
    "NaN points": (
        json.dumps(report().to_dict()).replace('"points": 2,', '"points": NaN,', 1),
        _bad(f"{CHECK}.points", "a finite number", "nan"),
    ),
    "Infinity duration": (
        json.dumps(report().to_dict()).replace('"duration": 0.0', '"duration": -Infinity', 1),
        _bad("exercises[0].duration", "a finite number", "-inf"),
    ),
    "negative points": (
        json.dumps(report().to_dict()).replace('"points": 2,', '"points": -2,', 1),
        _bad(f"{CHECK}.points", POINTS_OF_2, "-2"),
    ),
    "points above the check's worth": (
        json.dumps(report().to_dict()).replace('"points": 2,', '"points": 3,', 1),
        _bad(f"{CHECK}.points", POINTS_OF_2, "3"),
    ),
    "fractional points": (
        json.dumps(report().to_dict()).replace('"points": 2,', '"points": 1.5,', 1),
        _bad(f"{CHECK}.points", POINTS_OF_2, "1.5"),
    ),
    "points as a boolean": (
        json.dumps(report().to_dict()).replace('"points": 2,', '"points": true,', 1),
        _bad(f"{CHECK}.points", POINTS_OF_2, "True"),
    ),
    "negative max_score": (
        json.dumps(report().to_dict()).replace('"max_score": 10,', '"max_score": -10,', 1),
        _bad("exercises[0].max_score", BOUNDS, "-10"),
    ),
    "negative query count": (
        json.dumps(report().to_dict()).replace('"queries": 1,', '"queries": -1,', 1),
        _bad("exercises[0].stats.queries", "an integer from 0 to 2147483647", "-1"),
    ),
}


@pytest.mark.parametrize(("text", "reason"), HOSTILE_RESULTS.values(), ids=HOSTILE_RESULTS.keys())
def test_results_that_would_break_the_gradebook_are_refused_by_name(
    book: Gradebook, tmp_path: Path, text: str, reason: str
) -> None:
    results = tmp_path / "results"
    write_report(results, "alice", report())
    write_report(results, "carol", report())
    assert text != json.dumps(report().to_dict())  # the case's edit took
    (results / "mallory.json").write_text(text, encoding="utf-8")

    found = book.ingest_directory(results)

    assert [(s.path.name, s.reason) for s in found.skipped] == [("mallory.json", reason)]
    assert found.added == ("alice", "carol")
    assert [r.student for r in book.latest()] == ["alice", "carol"]


@pytest.mark.parametrize(
    "student",
    ["alice", "<script>alert(1)</script>", ".hidden", "50% done", "Zoë Müller", "a/b\\c:d"],
)
def test_student_ids_survive_the_results_file_name(student: str) -> None:
    name = results_file_name(student)
    assert "/" not in name
    assert not name.startswith(".")
    assert student_of(Path(name)) == student


def _first_schema_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO gradebook_students (id, name) VALUES (1, 'alice')"))
        conn.execute(
            text(
                "INSERT INTO gradebook_gradings (id, student_id, digest, source, seed, dialect, "
                "grader_version, graded_at, ingested_at, score, max_score) VALUES (1, 1, 'old', "
                "'alice.json', 7, 'sqlite', '0.0.9', '2025-12-01 10:00:00', "
                "'2025-12-01 10:05:00', 8, 10)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO gradebook_exercise_grades (id, grading_id, position, exercise_id, "
                "title, score, max_score, outcome, error, queries, duration) VALUES (1, 1, 0, "
                "'filter_limit', 'Filter and limit', 8, 10, 'graded', NULL, 12, 0.5)"
            )
        )
        for position, (name, passed, points) in enumerate(
            [
                ("correct_result", 1, 4),
                ("max_queries", 0, 0),
                ("where_in_sql", 1, 2),
                ("limit_in_sql", 1, 2),
            ]
        ):
            conn.execute(
                text(
                    "INSERT INTO gradebook_check_grades (exercise_grade_id, position, name, "
                    "passed, points, max_points, message, hint) VALUES (1, :position, :name, "
                    ":passed, :points, :max_points, :message, '')"
                ),
                {
                    "position": position,
                    "name": name,
                    "passed": passed,
                    "points": points,
                    "max_points": 2 if position else 4,
                    "message": "12 queries emitted; at most 1 allowed" if not passed else "ok",
                },
            )


def test_a_gradebook_of_the_first_schema_is_upgraded_in_place_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    try:
        upgrade(engine, FIRST_REVISION)
        assert current_revision(engine) == FIRST_REVISION
        assert "evidence" not in {
            c["name"] for c in inspect(engine).get_columns("gradebook_check_grades")
        }
        _first_schema_rows(engine)
    finally:
        engine.dispose()

    with Gradebook.open(path) as book:
        assert current_revision(book.engine) == head_revision()
        columns = {c["name"]: c for c in inspect(book.engine).get_columns("gradebook_check_grades")}
        assert columns["evidence"]["nullable"] is False
        (old,) = book.latest()
        assert old.student == "alice"
        assert old.report.score == 8
        assert old.report.grader_version == "0.0.9"
        assert old.report.warnings == ()
        checks = old.report.exercise("filter_limit").checks
        assert [c.name for c in checks if not c.passed] == ["max_queries"]
        assert all(c.evidence == () for c in checks)
        assert old.report.exercise("filter_limit").stats == {"queries": 12}

        assert book.ingest("alice", report(created_at="2026-01-06T09:00:00+00:00"))
        assert [e.score for e in book.history("alice")] == [8, 20]
        assert book.latest()[0].report.score == 20


def test_a_gradebook_from_a_newer_ormgrade_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gradebook.sqlite"
    Gradebook.open(path).close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(GradebookError) as raised:
        Gradebook.open(path)
    assert str(raised.value) == UNKNOWN_REVISION.format(revision="9999")


def test_a_gradebook_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GradebookError) as raised:
        Gradebook.open("nosuchdatabase://host/db")
    where = "nosuchdatabase://host/db"
    assert str(raised.value).startswith(CANNOT_OPEN.format(where=where, detail=""))
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    with pytest.raises(GradebookError) as raised:
        Gradebook.open(blocked / "gradebook.sqlite")
    assert str(raised.value).startswith(CANNOT_OPEN.split("{")[0])


def test_the_csv_has_each_students_points_per_exercise_and_total(book: Gradebook) -> None:
    book.ingest("bob", report({"filter_limit": exercise_result("filter_limit", ["where_in_sql"])}))
    book.ingest("alice", report())
    rows = list(csv.reader(io.StringIO(gradebook_csv(book.latest()))))
    assert rows == [
        [STUDENT_COLUMN, *EXERCISES, TOTAL_COLUMN],
        ["alice", "10", "10", "20"],
        ["bob", "8", "10", "18"],
    ]


def test_the_csv_never_hands_a_spreadsheet_a_formula(book: Gradebook) -> None:
    book.ingest('=HYPERLINK("http://x")', report())
    book.ingest("@SUM(A1)", report())
    rows = list(csv.reader(io.StringIO(gradebook_csv(book.latest()))))
    assert [row[0] for row in rows[1:]] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]


@pytest.fixture()
def server_gradebook(request: pytest.FixtureRequest) -> Iterator[str]:
    """A throwaway database on the server named by the test's parameter."""
    server = request.getfixturevalue(request.param)
    name = f"ormgrade_gradebook_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.mark.parametrize(
    "server_gradebook",
    [
        pytest.param("postgres_url", marks=pytest.mark.postgres, id="postgresql"),
        pytest.param("mysql_url", marks=pytest.mark.mysql, id="mariadb"),
    ],
    indirect=True,
)
def test_a_gradebook_on_a_database_server(server_gradebook: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_report(results, "alice", report())
    write_report(
        results,
        "bob",
        report({"eager_loading": exercise_result("eager_loading", ["no_n_plus_one"], 29)}),
    )
    with Gradebook.open(server_gradebook) as book:
        assert current_revision(book.engine) == head_revision()
        assert sorted(book.ingest_directory(results).added) == ["alice", "bob"]
        assert book.ingest_directory(results).added == ()
        assert book.ingest("bob", report(created_at="2026-02-01T00:00:00+00:00"))
        latest = {r.student: r for r in book.latest()}
    assert latest["bob"].gradings == 2
    assert latest["bob"].report.score == 20
    assert latest["alice"].report.exercise("eager_loading").checks[1].name == "no_n_plus_one"
