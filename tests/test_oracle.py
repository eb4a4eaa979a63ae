"""The oracle is the recorded starter, and the catalog is the one the command runs in.

In a clone of the course repository, ``exercises/<id>/task.py`` is both the
starter (the oracle) and the file a student would edit: an edited starter
must never be graded against. These tests edit starters in copies of the
catalog (real files, real grading runs) and check that grading refuses them,
and that untouched copies grade as before.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import EXIT_GRADER, EXIT_NOT_MET, EXIT_OK, main
from grader.course.catalog import (
    CATALOG_LINE,
    FROM_CWD,
    FROM_OPTION,
    FROM_PACKAGE,
    FROM_ROOTDIR,
    ORACLE_CHANGED,
    ORACLE_DIR,
    ORACLE_UNRECORDED,
    STARTER_CHECKSUMS,
    Catalog,
    OracleError,
    discover,
    read_checksums,
    starter_checksums,
)
from grader.grading.runner import GradeOptions, grade
from grader.results import Outcome

SEED = 7
WRONG_ANSWER = "def run(session, country, limit):\n    return []\n"


def clone(catalog: Catalog, root: Path, *ids: str) -> Path:
    """A clone of the course repository holding ``ids`` (starters, specs, solutions)."""
    for exercise_id in ids:
        shutil.copytree(
            catalog.exercises_dir / exercise_id,
            root / "exercises" / exercise_id,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return root


def first_sentence(template: str) -> str:
    return template.split("{")[0]


@pytest.fixture
def in_folder(tmp_path: Path):
    """Run the test with ``tmp_path / "cwd"`` as the current folder."""
    here = Path.cwd()
    folder = tmp_path / "cwd"
    folder.mkdir()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(here)


# -- discovery -----------------------------------------------------------------------


def test_the_folder_a_command_runs_in_wins_over_the_installed_package(
    catalog: Catalog, in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORMGRADE_CATALOG", raising=False)
    clone(catalog, in_folder, "filter_limit")
    (in_folder / "sub").mkdir()
    os.chdir(in_folder / "sub")
    found = discover()
    assert found.root == in_folder.resolve()
    assert found.origin == FROM_CWD
    assert found.description == CATALOG_LINE.format(root=in_folder.resolve(), origin=FROM_CWD)


def test_outside_any_catalog_the_installed_package_is_used_and_named(
    in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORMGRADE_CATALOG", raising=False)
    found = discover()
    assert found.origin == FROM_PACKAGE
    assert found.root == Path(__file__).resolve().parent.parent


def test_the_pytest_rootdir_wins_over_the_current_folder(
    catalog: Catalog, tmp_path: Path, in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORMGRADE_CATALOG", raising=False)
    clone(catalog, in_folder, "filter_limit")
    rootdir = clone(catalog, tmp_path / "rootdir", "pagination")
    found = discover(start=rootdir)
    assert (found.root, found.origin) == (rootdir.resolve(), FROM_ROOTDIR)


def test_grade_says_which_catalog_it_used(catalog: Catalog) -> None:
    result = CliRunner().invoke(
        main,
        [
            "grade",
            "filter_limit",
            "--catalog",
            str(catalog.root),
            "--submission",
            str(catalog.solutions_dir),
            "--seed",
            str(SEED),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_OK, result.output
    line = CATALOG_LINE.format(root=catalog.root.resolve(), origin=FROM_OPTION)
    assert result.output.splitlines()[0] == line


# -- the oracle ----------------------------------------------------------------------


def test_every_exercise_records_its_starter(catalog: Catalog) -> None:
    for spec in catalog.select():
        recorded = read_checksums(spec.directory / STARTER_CHECKSUMS)
        assert recorded == starter_checksums(spec.directory, spec.editable), spec.id
        assert catalog.oracle_dir(spec.id) == spec.directory


def test_an_untouched_clone_grades_as_the_course_repository(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    report = grade(root, Catalog(root), ["filter_limit"], GradeOptions(seed=SEED))
    result = report.exercise("filter_limit")
    assert result.outcome is Outcome.GRADED
    assert result.check("correct_result").passed
    assert result.stats["queries"] == result.stats["starter_queries"]


def test_an_edited_starter_is_never_the_oracle(catalog: Catalog, tmp_path: Path) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    (root / "exercises" / "filter_limit" / "task.py").write_text(WRONG_ANSWER, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "grade",
            "filter_limit",
            "--catalog",
            str(root),
            "--submission",
            str(root),
            "--seed",
            str(SEED),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_GRADER, result.output
    assert first_sentence(ORACLE_CHANGED) + "exercises/filter_limit/task.py" in result.output
    assert "ormgrade record-starters filter_limit" in result.output
    assert "PASS  correct_result" not in result.output


def test_the_same_wrong_answer_fails_against_a_pristine_catalog(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    (root / "exercises" / "filter_limit" / "task.py").write_text(WRONG_ANSWER, encoding="utf-8")
    report = grade(root, catalog, ["filter_limit"], GradeOptions(seed=SEED))
    result = report.exercise("filter_limit")
    assert result.outcome is Outcome.GRADED
    assert not result.check("correct_result").passed
    assert result.score == 0


def test_a_revision_added_to_a_migration_starter_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = clone(catalog, tmp_path / "course", "migration_add_column")
    versions = root / "exercises" / "migration_add_column" / "migrations" / "versions"
    (versions / "ffff_mine.py").write_text("revision = 'ffff'\n", encoding="utf-8")
    with pytest.raises(OracleError) as raised:
        Catalog(root).oracle_dir("migration_add_column")
    assert "migrations/versions/ffff_mine.py added" in str(raised.value)
    (versions / "ffff_mine.py").unlink()
    assert Catalog(root).oracle_dir("migration_add_column") == versions.parent.parent


def test_a_starter_without_a_record_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    (root / "exercises" / "filter_limit" / STARTER_CHECKSUMS).unlink()
    with pytest.raises(OracleError) as raised:
        Catalog(root).oracle_dir("filter_limit")
    assert str(raised.value) == ORACLE_UNRECORDED.format(
        exercise="filter_limit", record=f"exercises/filter_limit/{STARTER_CHECKSUMS}"
    )


def test_record_starters_accepts_a_starter_changed_on_purpose(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    task = root / "exercises" / "filter_limit" / "task.py"
    task.write_text(task.read_text(encoding="utf-8") + "\n# reworded\n", encoding="utf-8")
    with pytest.raises(OracleError):
        Catalog(root).oracle_dir("filter_limit")
    result = CliRunner().invoke(main, ["record-starters", "--catalog", str(root)])
    assert result.exit_code == EXIT_OK, result.output
    assert f"recorded exercises/filter_limit/{STARTER_CHECKSUMS}" in result.output
    assert Catalog(root).oracle_dir("filter_limit") == task.parent


def test_a_crlf_checkout_of_the_starter_is_not_an_edit(catalog: Catalog, tmp_path: Path) -> None:
    root = clone(catalog, tmp_path / "course", "filter_limit")
    task = root / "exercises" / "filter_limit" / "task.py"
    task.write_bytes(task.read_bytes().replace(b"\n", b"\r\n"))
    assert Catalog(root).oracle_dir("filter_limit") == task.parent


def test_an_edited_pristine_starter_of_a_release_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = clone(catalog, tmp_path / "release", "filter_limit")
    pristine = root / ORACLE_DIR / "filter_limit"
    pristine.mkdir(parents=True)
    (pristine / "task.py").write_text(WRONG_ANSWER, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "grade",
            "filter_limit",
            "--catalog",
            str(root),
            "--submission",
            str(root),
            "--seed",
            str(SEED),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_GRADER, result.output
    assert f"{ORACLE_DIR.as_posix()}/filter_limit/task.py" in result.output
    shutil.copyfile(root / "exercises" / "filter_limit" / "task.py", pristine / "task.py")
    again = CliRunner().invoke(
        main,
        [
            "grade",
            "filter_limit",
            "--catalog",
            str(root),
            "--submission",
            str(root),
            "--seed",
            str(SEED),
        ],
        catch_exceptions=False,
    )
    assert again.exit_code == EXIT_NOT_MET, again.output
