"""The pytest plugin: inert by default; switched on, one test item per check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course.catalog import ORACLE_DIR, Catalog


def student_repo(root: Path, catalog: Catalog, solved: list[str], unsolved: list[str]) -> Path:
    """A released student copy: specs and hooks, pristine starters as oracle, their task.py."""
    for exercise_id in solved + unsolved:
        source = catalog.exercises_dir / exercise_id
        target = root / "exercises" / exercise_id
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        oracle = root / ORACLE_DIR / exercise_id
        oracle.mkdir(parents=True)
        shutil.copyfile(source / "task.py", oracle / "task.py")
        if exercise_id in solved:
            shutil.copyfile(catalog.solutions_dir / exercise_id / "task.py", target / "task.py")
    (root / "pytest.ini").write_text("[pytest]\normgrade = true\n", encoding="utf-8")
    return root


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def graded(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    root = student_repo(
        tmp_path_factory.mktemp("student"), catalog, ["filter_limit"], ["eager_loading"]
    )
    out = root / "results.json"
    proc = run_pytest(root, "--ormgrade-seed", "21", "--ormgrade-json", str(out), "-v")
    return proc, out


def test_one_item_per_check_with_outcomes(graded) -> None:
    proc, _ = graded
    text = proc.stdout
    assert proc.returncode == 1, text
    assert "exercises/filter_limit/spec.toml::correct_result PASSED" in text
    assert "exercises/eager_loading/spec.toml::no_n_plus_one FAILED" in text
    assert "2 failed, 5 passed" in text


def test_failure_shows_message_evidence_and_hint(graded) -> None:
    text = graded[0].stdout
    assert "the number of queries grows with the data (N+1)" in text
    assert "lazy load of User.tasks" in text
    assert "hint:" in text


def test_header_names_the_seed_and_summary_gives_the_score(graded) -> None:
    text = graded[0].stdout
    assert "seed 21 (rerun with --ormgrade-seed 21)" in text
    assert "ormgrade score" in text
    assert "Total: 14/20 points" in text


def test_results_file_is_written(graded) -> None:
    document = json.loads(graded[1].read_text(encoding="utf-8"))
    assert document["seed"] == 21
    assert sorted(e["id"] for e in document["exercises"]) == ["eager_loading", "filter_limit"]
    assert document["score"] == 14


def test_plugin_is_inert_unless_switched_on(catalog: Catalog, tmp_path: Path) -> None:
    root = student_repo(tmp_path, catalog, ["filter_limit"], [])
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    proc = run_pytest(root)
    assert proc.returncode == 5, proc.stdout  # no tests collected
    assert "ormgrade: grading" not in proc.stdout
    assert "ormgrade score" not in proc.stdout


def test_bad_seed_is_rejected_naming_its_source(catalog: Catalog, tmp_path: Path) -> None:
    root = student_repo(tmp_path, catalog, ["filter_limit"], [])
    proc = run_pytest(root, "--ormgrade-seed", "abc")
    assert proc.returncode == 4
    assert "ormgrade_seed must be a whole number, got 'abc'" in proc.stderr
