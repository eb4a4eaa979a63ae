"""One Alembic scaffold for every migration exercise, laid in by the grader and the release.

The catalog's migration exercises hold only what differs (models and starter
history); `grader.migrations.project` holds the rest once. A change to the
scaffold's ``env.py`` must reach every migration exercise, graded and
released, and a released exercise must be a complete Alembic project that
runs by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import grader.migrations.project as project
from grader.authoring.release import gradescope_bundle, release
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions, grade, open_session
from grader.migrations.project import (
    ALEMBIC_INI,
    MODELS_FILE,
    VERSIONS,
    lay_scaffold,
    scaffold_files,
    starter_copy,
)
from grader.results import Outcome

ENV_PY = "migrations/env.py"
#: The error a changed env.py raises, so that its reach can be seen in every result.
MARKER = "the scaffold's env.py was changed"


def migration_ids(catalog: Catalog) -> list[str]:
    return [s.id for s in catalog.select() if s.kind == "migration"]


@pytest.fixture
def changed_scaffold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the scaffold whose env.py raises `MARKER`, put in the real one's place."""
    copy = Path(shutil.copytree(project.SCAFFOLD_DIR, tmp_path / "scaffold"))
    env = copy / ENV_PY
    text = env.read_text("utf-8")
    assert "\nconfig = context.config\n" in text
    text = text.replace(
        "\nconfig = context.config\n",
        f"\nraise RuntimeError({MARKER!r})\nconfig = context.config\n",
    )
    env.write_text(text, "utf-8")
    monkeypatch.setattr(project, "SCAFFOLD_DIR", copy)
    return copy


def alembic(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``alembic`` command line, run by hand in ``folder``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORMGRADE")}
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- the scaffold and the catalog -------------------------------------------------------


def test_the_scaffold_is_a_whole_alembic_environment() -> None:
    assert set(scaffold_files()) == {
        ALEMBIC_INI,
        ".gitignore",
        ENV_PY,
        "migrations/script.py.mako",
    }


def test_catalog_migration_exercises_hold_only_what_differs(catalog: Catalog) -> None:
    ids = migration_ids(catalog)
    assert len(ids) >= 5
    for exercise_id in ids:
        folder = catalog.spec(exercise_id).directory
        copies = [name for name in scaffold_files() if (folder / name).exists()]
        assert copies == [], f"{exercise_id} carries its own copy of {copies}"
        assert (folder / MODELS_FILE).is_file()


def test_lay_scaffold_makes_a_project_and_wins_over_an_old_copy(tmp_path: Path) -> None:
    target = tmp_path / "new_exercise"
    (target / "migrations").mkdir(parents=True)
    (target / ENV_PY).write_text("# an old copy\n", "utf-8")
    (target / "README.md").write_text("mine\n", "utf-8")
    written = lay_scaffold(target)
    assert sorted(p.relative_to(target).as_posix() for p in written) == sorted(scaffold_files())
    for name, source in scaffold_files().items():
        assert (target / name).read_bytes() == source.read_bytes()
    assert (target / VERSIONS).is_dir()
    assert (target / "README.md").read_text("utf-8") == "mine\n"


def test_starter_copy_is_the_scaffold_under_the_starters_own_files(
    catalog: Catalog, tmp_path: Path
) -> None:
    oracle = catalog.oracle_dir("migration_add_column")
    copy = starter_copy(oracle, tmp_path / "starter")
    for name, source in scaffold_files().items():
        assert (copy / name).read_bytes() == source.read_bytes()
    assert (copy / MODELS_FILE).read_bytes() == (oracle / MODELS_FILE).read_bytes()
    revisions = sorted(p.name for p in (oracle / VERSIONS).glob("*.py"))
    assert revisions and sorted(p.name for p in (copy / VERSIONS).glob("*.py")) == revisions


# -- a change to env.py reaches every exercise --------------------------------------------


def test_a_change_to_env_py_reaches_every_graded_migration_exercise(
    catalog: Catalog, changed_scaffold: Path
) -> None:
    ids = migration_ids(catalog)
    session = open_session(catalog, GradeOptions(seed=3))
    try:
        report = grade(catalog.solutions_dir, catalog, ids, session=session)
    finally:
        session.close()
    assert [r.id for r in report.exercises] == ids
    for result in report.exercises:
        assert result.outcome is Outcome.GRADER_ERROR, result.id
        assert MARKER in (result.error or ""), (result.id, result.error)


def test_a_change_to_env_py_reaches_every_released_migration_exercise(
    catalog: Catalog, changed_scaffold: Path, tmp_path: Path
) -> None:
    ids = migration_ids(catalog)
    made = release(catalog, tmp_path / "release", ids)
    changed = (changed_scaffold / ENV_PY).read_bytes()
    for exercise_id in ids:
        released = made.root / "exercises" / exercise_id / ENV_PY
        assert released.read_bytes() == changed, exercise_id
        assert f"exercises/{exercise_id}/{ENV_PY}" in made.manifest.files


# -- what students get --------------------------------------------------------------------


@pytest.fixture(scope="module")
def released(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "orm-assignment"
    release(catalog, out, migration_ids(catalog))
    return out


def test_released_migration_exercises_are_whole_alembic_projects(
    released: Path, catalog: Catalog
) -> None:
    for exercise_id in migration_ids(catalog):
        folder = released / "exercises" / exercise_id
        for name, source in scaffold_files().items():
            assert (folder / name).read_bytes() == source.read_bytes(), (exercise_id, name)
        oracle = catalog.oracle_dir(exercise_id)
        assert (folder / MODELS_FILE).read_bytes() == (oracle / MODELS_FILE).read_bytes()


@pytest.mark.slow  # Alembic's command line, three times for each migration exercise
def test_students_run_alembic_by_hand_in_a_released_exercise(
    released: Path, catalog: Catalog, tmp_path: Path
) -> None:
    for exercise_id in migration_ids(catalog):
        folder = Path(shutil.copytree(released / "exercises" / exercise_id, tmp_path / exercise_id))
        done = alembic(folder, "upgrade", "head")
        assert done.returncode == 0, (exercise_id, done.stderr)
        # The models of the starter match the starter's head: env.py found models.py.
        checked = alembic(folder, "check")
        assert checked.returncode == 0, (exercise_id, checked.stderr)
        assert "No new upgrade operations detected" in checked.stdout + checked.stderr
        # A solved copy upgrades by hand too, and its models then match the schema.
        shutil.copytree(catalog.solutions_dir / exercise_id, folder, dirs_exist_ok=True)
        assert alembic(folder, "check").returncode != 0, exercise_id
        done = alembic(folder, "upgrade", "head")
        assert done.returncode == 0, (exercise_id, done.stderr)
        checked = alembic(folder, "check")
        assert checked.returncode == 0, (exercise_id, checked.stderr)
        with contextlib.closing(sqlite3.connect(folder / "exercise.db")) as connection:
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        assert {"users", "tasks", "alembic_version"} <= tables


def test_the_gradescope_bundle_holds_the_scaffold_of_each_migration_exercise(
    catalog: Catalog, tmp_path: Path
) -> None:
    bundle = gradescope_bundle(catalog, tmp_path / "autograder.zip", ["migration_add_column"])
    with zipfile.ZipFile(bundle.path) as archive:
        for name, source in scaffold_files().items():
            member = f"exercises/migration_add_column/{name}"
            assert archive.read(member) == source.read_bytes(), member
