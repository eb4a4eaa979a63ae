"""The five migration exercises, graded end to end, and every migration check both ways.

The catalog self-check grades the reference solutions and the untouched
starters once for the module; each other test grades the example project of
``tests/cases/<test name>/`` (child processes, SQLite files) in the same
grading session, so every run starts from the same seeded rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest
from sqlalchemy import MetaData

from grader.authoring.verify import VerifyReport, verify
from grader.checks.base import Evaluation
from grader.checks.migration import (
    BACKFILL_WRONG,
    CONVERSION_WRONG,
    DATA_OK,
    DEFAULT_OK,
    DOWNGRADE_LEAVES_TRACE,
    DOWNGRADE_LOSES_ROWS,
    EMPTY_BODY,
    HISTORY_OK,
    INDEX_UNIQUENESS_WRONG,
    LEFT_NULL,
    LOCK_FEEDBACK,
    LOCK_FEEDBACK_CLEAN,
    LOCK_FEEDBACK_NONE,
    LOCK_FEEDBACK_SQL_ONLY,
    LOST_IN_UPGRADE_HINT,
    MODELS_AHEAD,
    MODELS_DIFFER,
    MODELS_MATCH,
    NEW_REVISION_OK,
    NOT_RUN,
    RENAME_LOST,
    ROUND_TRIP_OK,
    SCHEMA_CHANGE_MISSING,
    SCHEMA_CHANGE_OK,
    STARTER_EDITED,
    UPGRADE_DID_NOT_APPLY,
    UPGRADE_FAILS,
    UPGRADE_OK,
    DowngradeRoundTrip,
)
from grader.checks.query import FULL_SCAN, INDEX_OK
from grader.course.catalog import Catalog
from grader.execution.guard import TAMPERING
from grader.execution.run import RunRecord
from grader.grading.migration import HISTORY_NOT_JUDGED
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.migrations.history import (
    HISTORY_BROKEN,
    MULTIPLE_HEADS,
    NO_MIGRATION,
    NO_VERSIONS_FOLDER,
)
from grader.migrations.lint import NOT_RENDERED, SQUAWK_MISSING, LintFinding, squawk_binary
from grader.results import ExerciseResult, Outcome
from tests.conftest import ROOT, case_dir
from tests.recording import check as make_check
from tests.recording import spec_with

#: The dataset seed of every run in this module.
SEED = 13
#: Every migration exercise of the catalog, whoever added it.
MIGRATION_IDS = tuple(s.id for s in Catalog(ROOT).select() if s.kind == "migration")
STARTER_HEAD = "4d1c6a0e2b17"


def fits(template: str, text: str) -> bool:
    """Whether ``text`` is ``template`` with its ``{fields}`` filled in."""
    pattern = ".*".join(re.escape(part) for part in re.split(r"\{[^}]*\}", template))
    return re.fullmatch(pattern, text, re.S) is not None


def test_fits_reads_templates() -> None:
    assert fits(UPGRADE_OK, UPGRADE_OK.format(rows=12))
    assert not fits(UPGRADE_OK, UPGRADE_FAILS.format(rows=12, error="boom"))


@pytest.fixture(scope="module")
def verified(catalog: Catalog) -> VerifyReport:
    """The catalog self-check of the five migration exercises."""
    return verify(catalog, MIGRATION_IDS, GradeOptions(seed=SEED))


@pytest.fixture(scope="module")
def session(catalog: Catalog) -> Iterator[GradingSession]:
    """One grading session for the example projects."""
    grading = open_session(catalog, GradeOptions(seed=SEED))
    yield grading
    grading.close()


@pytest.fixture(scope="module")
def graded(session: GradingSession, catalog: Catalog) -> Callable[[str], ExerciseResult]:
    """Grade the example project named after a test (once), on the exercise it holds."""
    done: dict[str, ExerciseResult] = {}

    def grade_case(case: str) -> ExerciseResult:
        if case not in done:
            folder = case_dir(case)
            (exercise,) = [p.name for p in folder.iterdir() if p.is_dir()]
            report = grade(folder, catalog, [exercise], session=session)
            (done[case],) = report.exercises
        return done[case]

    return grade_case


def not_met(result: ExerciseResult) -> list[str]:
    """The names of the checks not met."""
    return [c.name for c in result.checks if not c.passed]


# -- the catalog ------------------------------------------------------------------------


def test_verify_passes_for_the_five(verified: VerifyReport) -> None:
    assert verified.problems == ()
    assert [r.id for r in verified.solutions.exercises] == list(MIGRATION_IDS)
    assert all(r.score == r.max_score for r in verified.solutions.exercises)
    assert verified.solutions.dialect == "sqlite"


def test_untouched_starters_say_no_migration_written(verified: VerifyReport) -> None:
    for result in verified.starters.exercises:
        assert result.outcome is Outcome.GRADED
        assert result.check("correct_result").message == HISTORY_OK.format(head=STARTER_HEAD)
        new = result.check("new_revision")
        assert not new.passed
        assert new.message == NO_MIGRATION.format(head=STARTER_HEAD)
        assert result.check("upgrade_applies").message == NOT_RUN.format(reason=new.message)
        assert result.score == result.check("correct_result").points


def test_solutions_pass_each_check_with_its_message(verified: VerifyReport) -> None:
    expected = {
        "correct_result": HISTORY_OK,
        "new_revision": NEW_REVISION_OK,
        "upgrade_applies": UPGRADE_OK,
        "schema_change": SCHEMA_CHANGE_OK,
        "models_match": MODELS_MATCH,
        "downgrade_round_trip": ROUND_TRIP_OK,
        "data_preserved": DATA_OK,
        "lookup_uses_index": INDEX_OK,
        "default_for_new_rows": DEFAULT_OK,
    }
    for result in verified.solutions.exercises:
        for check in result.checks:
            assert check.passed, (result.id, check.name, check.message)
            if check.name != "lock_feedback":
                assert fits(expected[check.name], check.message), (result.id, check.message)


needs_squawk = pytest.mark.skipif(
    squawk_binary() is None, reason="squawk is not installed (pip install squawk-cli)"
)


@needs_squawk
def test_lock_feedback_names_what_would_lock(verified: VerifyReport) -> None:
    feedback = {r.id: r.check("lock_feedback") for r in verified.solutions.exercises}
    # migration_zero_downtime grades its locks (tests/test_zero_downtime.py).
    graded = {i for i, c in feedback.items() if c.max_points}
    assert graded == {"migration_zero_downtime"}
    assert all(c.passed and c.max_points == 0 for i, c in feedback.items() if i not in graded)
    index = feedback["migration_add_index"]
    assert index.message == LOCK_FEEDBACK.format(rules="require-concurrent-index-creation")
    assert "CREATE INDEX ix_users_email ON users (email)" in index.evidence[-1].text
    assert "adding-not-nullable-field" in feedback["migration_backfill_not_null"].message
    assert "changing-column-type" in feedback["migration_change_type"].message
    assert feedback["migration_add_column"].message == LOCK_FEEDBACK_CLEAN


@pytest.mark.parametrize(
    ("lint", "note", "expected"),
    [
        ((), SQUAWK_MISSING, LOCK_FEEDBACK_SQL_ONLY),
        ((LintFinding("changing-column-type", "locks"),), "", None),
        ((), "", LOCK_FEEDBACK_CLEAN),
    ],
)
def test_lock_feedback_says_nothing_of_a_linter_that_is_not_installed(
    lint: tuple[LintFinding, ...], note: str, expected: str | None
) -> None:
    sql = "ALTER TABLE tasks ALTER COLUMN priority TYPE INTEGER;"
    report = SimpleNamespace(postgresql_sql=sql, lint=lint, lint_note=note)
    main = RunRecord(role="submission", purpose="migration")
    ev = Evaluation(spec_with(), main, main, MetaData(), 1, extra={"migration": report})
    verdict = make_check("lock_feedback", points=0).judge(ev)
    assert verdict.passed
    assert verdict.message == (expected or LOCK_FEEDBACK.format(rules="changing-column-type"))
    assert sql in verdict.evidence[-1].text
    if note:
        assert "squawk" not in verdict.message


def test_lock_feedback_without_a_migration(verified: VerifyReport) -> None:
    starter = verified.starters.exercise("migration_add_index").check("lock_feedback")
    assert starter.passed
    assert starter.message == LOCK_FEEDBACK_NONE.format(
        reason=NO_MIGRATION.format(head=STARTER_HEAD)
    )


def test_solutions_are_found_by_their_parent(verified: VerifyReport) -> None:
    revisions = {r.id: r.stats["revisions"] for r in verified.solutions.exercises}
    assert revisions["migration_add_index"] == ["c5a80d3e6f12"]
    assert all(len(found) == 1 for found in revisions.values())
    assert all(r.stats["rows"] > 500 for r in verified.solutions.exercises)


def test_lookup_uses_the_new_index(verified: VerifyReport) -> None:
    solution = verified.solutions.exercise("migration_add_index").check("lookup_uses_index")
    assert solution.message == INDEX_OK.format(table="users", how="index_search ix_users_email")
    starter = verified.starters.exercise("migration_add_index").check("lookup_uses_index")
    assert starter.message == FULL_SCAN.format(count=1, table="users")
    assert "SCAN users" in starter.evidence[1].text


# -- correct revisions written otherwise --------------------------------------------------


def test_autogenerated_revision(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_autogenerated_revision")
    assert result.score == result.max_score
    assert result.stats["revisions"] == ["17f077038c7d"]


def test_hand_written_revision(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_hand_written_revision")
    assert result.score == result.max_score
    assert fits(DATA_OK, result.check("data_preserved").message)
    # It reads rows in Python (op.get_bind()), which Alembic cannot write out as SQL.
    feedback = result.check("lock_feedback")
    assert feedback.passed
    assert fits(LOCK_FEEDBACK_NONE.format(reason=NOT_RENDERED), feedback.message)


# -- histories that cannot be run ---------------------------------------------------------


def test_missing_migrations_folder(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_missing_migrations_folder")
    assert result.outcome is Outcome.GRADED
    graded_checks = [c.name for c in result.checks if c.max_points > 0]
    assert not_met(result) == [n for n in graded_checks if n != "correct_result"]
    assert result.check("new_revision").message == NO_VERSIONS_FOLDER
    # A model change without a migration: told, with what the models have more.
    models = result.check("models_match")
    assert models.message == MODELS_AHEAD.format(
        reason=NO_VERSIONS_FOLDER,
        count=1,
        first="models.py has column tasks.due_date (DATE); the database has not",
    )


def test_two_heads(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_two_heads")
    blocked = MULTIPLE_HEADS.format(count=2, heads="0c4d8e2f6a19, 9b2e4f7a1c30")
    assert result.check("new_revision").message == blocked
    assert result.check("upgrade_applies").message == NOT_RUN.format(reason=blocked)
    assert result.check("correct_result").passed


def test_circular_chain(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_circular_chain")
    gate = result.check("correct_result")
    assert gate.message == HISTORY_BROKEN.format(
        error="Cycle is detected in revisions (a1a1a1a1a1a1, b2b2b2b2b2b2)"
    )
    assert result.score == 0
    assert all(c.message == HISTORY_NOT_JUDGED for c in result.checks if c is not gate)


def test_edited_starter_revision(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_edited_starter_revision")
    gate = result.check("correct_result")
    assert gate.message == STARTER_EDITED.format(revision=STARTER_HEAD, what="upgrade()")
    assert result.score == 0


def test_syntax_error_in_revision(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_syntax_error_in_revision")
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None
    assert result.error.startswith(
        "migrations/versions/5e9a1b3c7d20_add_due_date.py does not compile (line 18): "
    )


def test_revision_import_error(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_revision_import_error")
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None
    assert result.error.startswith(
        "importing migrations/versions/6f0b2c4d8e31_add_due_date.py raised AttributeError"
    )
    assert 'line 15, in <module>: DUE_DATE = sa.Column("due_date", sa.Dat()' in result.error


def test_revision_patches_grader(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_revision_patches_grader")
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None
    assert fits(TAMPERING, result.error.splitlines()[0])
    assert "grader.migrations.execute.snapshot" in result.error


# -- revisions that run but are wrong ------------------------------------------------------


def test_not_null_without_backfill(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_not_null_without_backfill")
    upgrade = result.check("upgrade_applies")
    assert fits(UPGRADE_FAILS, upgrade.message)
    assert "Cannot add a NOT NULL column" in upgrade.message
    assert ("statement", "ALTER TABLE tasks ADD COLUMN is_done BOOLEAN NOT NULL") in [
        (e.label, e.text) for e in upgrade.evidence
    ]
    assert result.check("data_preserved").message == NOT_RUN.format(reason=UPGRADE_DID_NOT_APPLY)


def test_backfill_leaves_nulls(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_backfill_leaves_nulls")
    assert not_met(result) == ["schema_change", "data_preserved"]
    assert fits(SCHEMA_CHANGE_MISSING, result.check("schema_change").message)
    assert "is_done is NULL, expected NOT NULL" in result.check("schema_change").message
    data = result.check("data_preserved")
    assert fits(LEFT_NULL, data.message)
    assert data.message.endswith("left NULL in is_done after upgrade")
    assert "status = None" in data.evidence[0].text
    assert not fits(BACKFILL_WRONG, data.message)


def test_forgotten_model_change(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_forgotten_model_change")
    assert not_met(result) == ["models_match"]
    assert result.check("models_match").message == MODELS_DIFFER.format(
        count=1, first="the database has column tasks.due_date (DATE); models.py has not"
    )


def test_wrong_column_type(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_wrong_column_type")
    assert not_met(result) == ["schema_change"]
    assert result.check("schema_change").message == SCHEMA_CHANGE_MISSING.format(
        table="tasks", problems="due_date is DATETIME (DateTime), not Date"
    )


def test_empty_downgrade(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_empty_downgrade")
    assert not_met(result) == ["new_revision", "downgrade_round_trip"]
    assert result.check("new_revision").message == EMPTY_BODY.format(
        function="downgrade()",
        revision="9b2e4f7a1c30",
        file="migrations/versions/9b2e4f7a1c30_add_due_date_to_tasks.py",
    )
    assert result.check("downgrade_round_trip").message == DOWNGRADE_LEAVES_TRACE.format(
        head=STARTER_HEAD, count=1, first="column tasks.due_date DATE NULL is new"
    )


def test_drop_add_rename(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_drop_add_rename")
    # Every schema check passes: only the data tells a drop + add from a rename.
    for name in ("new_revision", "upgrade_applies", "schema_change", "models_match"):
        assert result.check(name).passed, name
    data = result.check("data_preserved")
    assert fits(RENAME_LOST, data.message)
    assert "A rename is not a drop and an add" in data.message
    assert "so full_name should be" in data.evidence[0].text
    round_trip = result.check("downgrade_round_trip")
    assert fits(DOWNGRADE_LOSES_ROWS, round_trip.message)
    # The values were gone after upgrade: the hint says so instead of blaming downgrade().
    assert fits(LOST_IN_UPGRADE_HINT, round_trip.hint)


def test_rename_with_a_drop_add_downgrade(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_rename_with_a_drop_add_downgrade")
    assert not_met(result) == ["downgrade_round_trip"]
    round_trip = result.check("downgrade_round_trip")
    assert fits(DOWNGRADE_LOSES_ROWS, round_trip.message)
    assert not fits(LOST_IN_UPGRADE_HINT, round_trip.hint)
    assert round_trip.hint == DowngradeRoundTrip.default_hint


def test_lossy_conversion(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_lossy_conversion")
    assert not_met(result) == ["data_preserved"]
    data = result.check("data_preserved")
    assert fits(CONVERSION_WRONG, data.message)
    # The cast reads text it cannot convert as 0, and says nothing.
    assert re.search(r"priority held '\s*\w+\s*', so priority should be [1-4], not 0", data.message)


# -- the same exercises on the database servers ---------------------------------------------
# One run per server would take the five a minute: these are the exercises where
# the dialects differ (a plan, a cast with USING, BOOLEAN stored as TINYINT(1)).


@pytest.mark.postgres
def test_verify_passes_on_postgresql(catalog: Catalog, postgres_url: str) -> None:
    ids = ("migration_add_index", "migration_change_type")
    found = verify(catalog, ids, GradeOptions(seed=SEED, db_url=postgres_url))
    assert found.problems == ()
    assert found.solutions.dialect == "postgresql"


@pytest.mark.mysql
def test_verify_passes_on_mariadb(catalog: Catalog, mysql_url: str) -> None:
    ids = ("migration_add_index", "migration_backfill_not_null")
    found = verify(catalog, ids, GradeOptions(seed=SEED, db_url=mysql_url))
    assert found.problems == ()
    assert found.solutions.dialect == "mysql"


def test_unique_index_where_a_plain_one_is_wanted(graded: Callable[[str], ExerciseResult]) -> None:
    result = graded("test_unique_index_where_a_plain_one_is_wanted")
    assert not_met(result) == ["schema_change"]
    assert result.check("schema_change").message == SCHEMA_CHANGE_MISSING.format(
        table="users",
        problems=INDEX_UNIQUENESS_WRONG.format(
            columns="email", found="unique", wanted="non-unique"
        ),
    )
