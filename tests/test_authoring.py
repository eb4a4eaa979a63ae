"""An instructor's path, end to end: ``ormgrade new``, fill in, verify, release, grade.

In an empty course folder, ``ormgrade new`` scaffolds one exercise of each
kind; ``ormgrade verify`` runs on it at once and names what is missing. The
author then fills it in as the README's "Authoring an exercise" says (a
DISTINCT query whose starter uses ``selectinload``; a migration adding a
column), records the starter, and the exercise verifies on SQLite,
PostgreSQL and MariaDB. ``ormgrade release`` makes the student repository,
where a student's solved copy earns every point and the starter does not.
The filled-in files are under ``tests/cases/test_new_exercise_end_to_end/``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from grader.authoring.readme import NO_FIGURE
from grader.authoring.scaffold import BAD_ID, EXISTS
from grader.cli import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, main
from grader.course.catalog import Catalog
from grader.databases import dataset
from tests.conftest import case_dir

pytestmark = pytest.mark.slow

CASES = case_dir("test_new_exercise_end_to_end")
SEED = 20241125
QUERY, MIGRATION = "distinct_assignees", "users_nickname"


def cli(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    return result


def load_function(path: Path) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace["run"]  # type: ignore[no-any-return]


def measured_figure(tmp_path: Path) -> str:
    """The README's figure, measured here: starter and solution on SQLite, size small."""
    engine = create_engine(f"sqlite:///{tmp_path / 'figure.db'}")
    dataset.build(engine, dataset.SIZES["small"], SEED)
    timings = {}
    for side, path in (
        ("starter", CASES / "query/task.py"),
        ("solution", CASES / "query/solution.py"),
    ):
        run = load_function(path)
        runs = []
        for _ in range(3):
            with Session(engine) as session:
                start = time.perf_counter()
                run(session, "bug")
                runs.append(time.perf_counter() - start)
        timings[side] = statistics.median(runs)
    engine.dispose()
    factor = timings["starter"] / timings["solution"]
    return (
        f"The starter fetches every task and its tags to keep a few ids. Measured on "
        f"SQLite at size `small`, median of three runs: the starter takes "
        f"{timings['starter'] * 1000:.1f} ms, the solution {timings['solution'] * 1000:.1f} ms, "
        f"a speed-up of **{factor:.1f}×**."
    )


def fill_in_query(root: Path, tmp_path: Path) -> None:
    """What the author writes into the scaffolded query exercise."""
    folder = root / "exercises" / QUERY
    spec = folder / "spec.toml"
    text = spec.read_text(encoding="utf-8")
    text = text.replace(
        'title = "TODO: what the student makes fast"', 'title = "Join and deduplicate in SQL"'
    )
    text = text.replace(
        'starter_fails = ["where_in_sql"]',
        'starter_fails = ["max_queries", "join_in_sql", "distinct_in_sql"]',
    )
    where_check = text[text.index('[[checks]]\nname = "where_in_sql"') :]
    where_check = where_check[: where_check.index("\n\n") + 2]
    text = text.replace(
        where_check,
        '[[checks]]\nname = "join_in_sql"\nkind = "clause"\nclause = "join"\ntable = "tags"\n'
        "points = 2\n\n"
        '[[checks]]\nname = "distinct_in_sql"\nkind = "clause"\nclause = "distinct"\n'
        'table = "tasks"\npoints = 2\n\n',
    )
    spec.write_text(text, encoding="utf-8")
    shutil.copyfile(CASES / "query/task.py", folder / "task.py")
    shutil.copyfile(CASES / "query/grading.py", folder / "grading.py")
    readme = (CASES / "query/README.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(
        readme.replace("{figure}", measured_figure(tmp_path)), encoding="utf-8"
    )
    shutil.copyfile(CASES / "query/solution.py", root / "solutions" / QUERY / "task.py")


def fill_in_migration(root: Path) -> None:
    """What the author writes into the scaffolded migration exercise."""
    spec = root / "exercises" / MIGRATION / "spec.toml"
    text = spec.read_text(encoding="utf-8")
    text = text.replace(
        'title = "TODO: the schema change the student writes"', 'title = "Add users.nickname"'
    )
    text = text.replace(
        'table = "tasks"\ncolumn = "due_date"\ntype = "Date"',
        'table = "users"\ncolumn = "nickname"\ntype = "String"',
    )
    spec.write_text(text, encoding="utf-8")
    solution = root / "solutions" / MIGRATION
    shutil.copyfile(CASES / "migration/models.py", solution / "models.py")
    versions = solution / "migrations" / "versions"
    versions.mkdir(parents=True)
    revision = "5e0c1d2b3a49_add_nickname_to_users.py"
    shutil.copyfile(CASES / "migration" / revision, versions / revision)


def student_solves(copy: Path, root: Path, exercise_id: str) -> None:
    """Copy the reference's files into the student's exercise folder."""
    source = root / "solutions" / exercise_id
    for path in source.rglob("*"):
        if path.is_file():
            target = copy / "exercises" / exercise_id / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def grade_as_student(copy: Path, exercise_id: str, out: Path) -> dict[str, Any]:
    """``ormgrade grade`` in the student's repository, with its vendored engine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORMGRADE_CATALOG")}
    env["PYTHONPATH"] = str(copy)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "grade",
            exercise_id,
            "--seed",
            str(SEED),
            "--json",
            str(out),
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (EXIT_OK, EXIT_NOT_MET), proc.stdout + proc.stderr
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.parametrize("kind", ["query", "migration"])
def test_new_exercise_end_to_end(
    tmp_path: Path, kind: str, postgres_url: str, mysql_url: str
) -> None:
    root = tmp_path / "course"
    (root / "exercises").mkdir(parents=True)
    exercise_id = QUERY if kind == "query" else MIGRATION
    made = cli("new", exercise_id, "--kind", kind, "--catalog", str(root))
    assert made.exit_code == EXIT_OK, made.output
    assert f"wrote exercises/{exercise_id}/starter.sha256" in made.output

    # At once, verify runs and says what is missing.
    first = cli("verify", exercise_id, "--catalog", str(root), "--seed", str(SEED))
    assert first.exit_code == EXIT_NOT_MET, first.output
    assert f"problem: {exercise_id} (solution)" in first.output
    if kind == "query":
        assert NO_FIGURE.split(" (")[0] in first.output

    if kind == "query":
        fill_in_query(root, tmp_path)
    else:
        fill_in_migration(root)
    recorded = cli("record-starters", exercise_id, "--catalog", str(root))
    assert recorded.exit_code == EXIT_OK, recorded.output

    for url in (None, postgres_url, mysql_url):
        args = ["verify", exercise_id, "--catalog", str(root), "--seed", str(SEED)]
        verified = cli(*args, *(["--db", url] if url else []))
        assert verified.exit_code == EXIT_OK, verified.output
        assert "catalog OK: 1 exercises" in verified.output

    released = tmp_path / "release"
    out = cli("release", str(released), exercise_id, "--catalog", str(root))
    assert out.exit_code == EXIT_OK, out.output

    starter = grade_as_student(released, exercise_id, tmp_path / "starter.json")
    assert 0 < starter["score"] < starter["max_score"]
    copy = Path(shutil.copytree(released, tmp_path / "student"))
    student_solves(copy, root, exercise_id)
    solved = grade_as_student(copy, exercise_id, tmp_path / "solved.json")
    assert solved["score"] == solved["max_score"] == Catalog(root).spec(exercise_id).max_score
    assert solved["warnings"] == []


def test_new_refuses_a_taken_or_bad_id(tmp_path: Path) -> None:
    root = tmp_path / "course"
    (root / "exercises").mkdir(parents=True)
    assert cli("new", "tags_report", "--kind", "query", "--catalog", str(root)).exit_code == 0
    again = cli("new", "tags_report", "--kind", "migration", "--catalog", str(root))
    assert again.exit_code == EXIT_USAGE
    expected = EXISTS.format(id="tags_report", path="exercises/tags_report/")
    assert expected in again.output
    for bad in ("Tags", "1tags", "tags-report", "x"):
        refused = cli("new", bad, "--kind", "query", "--catalog", str(root))
        assert refused.exit_code == EXIT_USAGE
        assert BAD_ID.format(id=bad) in refused.output
        assert not (root / "exercises" / bad).exists()
