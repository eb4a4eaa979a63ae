"""Gradescope: the autograder zip, its run_autograder, and results.json.

The zip is built, unpacked to a temporary folder and its ``run_autograder``
run with Gradescope's paths overridden by environment variables, on the
reference solutions (full points) and on the starters (partial points).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from grader.authoring.release import PYTHON_VERSION
from grader.cli import EXIT_OK, main
from grader.course.catalog import Catalog
from grader.report.gradescope import (
    CORRECTNESS_CHECK,
    CRASHED_OUTPUT,
    GRADER_ERROR_OUTPUT,
    LEADERBOARD_NAME,
    LEADERBOARD_POINTS,
    code_block,
    gradescope_results,
)
from grader.results import CheckResult, Evidence, ExerciseResult, GradeReport, Outcome

IDS = ("filter_limit", "column_projection")
TOP_KEYS = {"score", "execution_time", "output", "tests", "leaderboard"}
TEST_KEYS = {"name", "score", "max_score", "status", "output", "visibility"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def bundle(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    result = CliRunner().invoke(
        main, ["gradescope-bundle", str(out), *IDS, "--catalog", str(catalog.root)]
    )
    assert result.exit_code == EXIT_OK, result.output
    return out


@pytest.fixture(scope="module")
def source(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip unpacked as Gradescope does, into what would be /autograder/source."""
    target = tmp_path_factory.mktemp("source")
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            archive.extract(info, target)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(target / info.filename, stat.S_IMODE(mode))
    return target


def run_autograder(
    source: Path, submission: Path, results: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ORMGRADE_AUTOGRADER_ROOT": str(results.parent.parent),
        "ORMGRADE_SOURCE": str(source),
        "ORMGRADE_SUBMISSION": str(submission),
        "ORMGRADE_RESULTS": str(results),
        "ORMGRADE_PYTHON": str(Path(sys.executable)),
    }
    env.pop("ORMGRADE_CATALOG", None)
    return subprocess.run(
        [str(source / "run_autograder")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def solutions(source: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    results = tmp_path_factory.mktemp("solutions") / "results" / "results.json"
    proc = run_autograder(source, catalog.solutions_dir, results)
    return proc, json.loads(results.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def starters(source: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    results = tmp_path_factory.mktemp("starters") / "results" / "results.json"
    proc = run_autograder(source, catalog.exercises_dir, results)
    return proc, json.loads(results.read_text(encoding="utf-8"))


def assert_gradescope_format(document: dict[str, Any]) -> None:
    assert set(document) >= TOP_KEYS
    assert isinstance(document["score"], int | float)
    assert isinstance(document["execution_time"], int)
    assert isinstance(document["output"], str)
    assert document["visibility"] in VISIBILITIES
    for test in document["tests"]:
        assert set(test) >= TEST_KEYS
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["score"], int) and isinstance(test["max_score"], int)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in VISIBILITIES
        assert test.get("output_format", "md") == "md"
    assert document["score"] == sum(t["score"] for t in document["tests"])
    for entry in document["leaderboard"]:
        assert set(entry) == {"name", "value", "order"}
        assert isinstance(entry["value"], int) and entry["order"] in ("asc", "desc")


# -- the zip ----------------------------------------------------------------------------


def test_bundle_holds_the_scripts_the_engine_and_the_exercises(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt", "grader/cli.py"} <= names
    assert {f"exercises/{i}/spec.toml" for i in IDS} <= names
    assert {f".ormgrade/oracle/{i}/task.py" for i in IDS} <= names
    assert ".ormgrade/manifest.json" in names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any(name.startswith("solutions/") for name in names)
    assert not any("__pycache__" in name for name in names)


def test_bundle_holds_no_solution_content(bundle: Path, catalog: Catalog) -> None:
    solutions = {
        p.read_bytes().strip()
        for p in catalog.solutions_dir.rglob("*.py")
        if p.read_bytes().strip()
    }
    with zipfile.ZipFile(bundle) as archive:
        contents = {archive.read(name).strip() for name in archive.namelist()}
    assert not solutions & contents


def test_setup_installs_python_and_the_requirements(source: Path, catalog: Catalog) -> None:
    setup = (source / "setup.sh").read_text(encoding="utf-8")
    assert f"python{PYTHON_VERSION}" in setup
    assert "pip install -r" in setup and "requirements.txt" in setup
    requirements = (source / "requirements.txt").read_text(encoding="utf-8").split()
    assert any(r.startswith("SQLAlchemy") for r in requirements)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(
            ["bash", "-n", str(source / script)], capture_output=True, check=False
        )
        assert check.returncode == 0, check.stderr


def test_run_autograder_defaults_to_gradescope_paths(source: Path) -> None:
    script = (source / "run_autograder").read_text(encoding="utf-8")
    assert '"${ORMGRADE_AUTOGRADER_ROOT:-/autograder}"' in script
    assert "$ROOT/submission" in script and "$ROOT/results/results.json" in script


# -- run_autograder ------------------------------------------------------------------------


def test_solutions_earn_full_points(solutions) -> None:
    proc, document = solutions
    assert proc.returncode == 0, proc.stderr
    assert_gradescope_format(document)
    assert document["score"] == 20
    assert sum(t["max_score"] for t in document["tests"]) == 20
    assert {t["status"] for t in document["tests"]} == {"passed"}


def test_starters_earn_partial_points(starters) -> None:
    proc, document = starters
    assert proc.returncode == 0, proc.stderr
    assert_gradescope_format(document)
    assert 0 < document["score"] < 20
    failed = [t for t in document["tests"] if t["status"] == "failed"]
    assert failed and all(t["score"] == 0 for t in failed)
    where = next(t for t in document["tests"] if t["name"] == "filter_limit: where_in_sql")
    assert "```sql" in where["output"] and "*Hint:*" in where["output"]


def test_one_test_per_check_with_its_own_points(starters, catalog: Catalog) -> None:
    _, document = starters
    expected = [(f"{s.id}: {c.name}", c.points) for s in catalog.select(IDS) for c in s.checks]
    assert [(t["name"], t["max_score"]) for t in document["tests"]] == expected


def test_leaderboard_counts_queries_per_exercise(starters) -> None:
    _, document = starters
    points, *queries = document["leaderboard"]
    assert points == {"name": LEADERBOARD_POINTS, "value": document["score"], "order": "desc"}
    assert [entry["name"] for entry in queries] == [
        LEADERBOARD_NAME.format(exercise=i) for i in IDS
    ]
    assert all(entry["order"] == "asc" for entry in queries)


def _graded(exercise_id: str, correct_answer: bool, queries: int) -> ExerciseResult:
    fast = correct_answer and queries <= 1
    checks = (
        CheckResult(CORRECTNESS_CHECK, correct_answer, 4 if correct_answer else 0, 4, "m"),
        # A wrong answer has nothing else judged, as in grading.
        CheckResult("max_queries", fast, 2 if fast else 0, 2, "m"),
    )
    return ExerciseResult(
        id=exercise_id,
        title="t",
        max_score=6,
        checks=checks,
        stats={"queries": queries, "starter_queries": 5},
    )


def test_a_wrong_answer_is_never_ranked_by_its_queries() -> None:
    right = GradeReport((_graded("filter_limit", True, 1),), "sqlite", 1)
    wrong = GradeReport((_graded("filter_limit", False, 0),), "sqlite", 1)
    name = LEADERBOARD_NAME.format(exercise="filter_limit")
    right_board = {e["name"]: e["value"] for e in gradescope_results(right)["leaderboard"]}
    wrong_board = {e["name"]: e["value"] for e in gradescope_results(wrong)["leaderboard"]}
    assert right_board == {LEADERBOARD_POINTS: 6, name: 1}
    assert wrong_board == {LEADERBOARD_POINTS: 0}  # 0 queries, yet not on the queries board
    crashed = GradeReport(
        (replace(_graded("filter_limit", True, 1), outcome=Outcome.CRASHED),), "sqlite", 1
    )
    assert name not in {e["name"] for e in gradescope_results(crashed)["leaderboard"]}


def test_output_names_the_seed_that_reproduces_the_run(starters) -> None:
    _, document = starters
    seed = document["extra_data"]["seed"]
    assert f"ormgrade grade --seed {seed}" in document["output"]


def test_the_bundled_engine_grades(source: Path, starters) -> None:
    proc, _ = starters
    check = subprocess.run(
        [sys.executable, "-c", "import grader; print(grader.__file__)"],
        env={**os.environ, "PYTHONPATH": str(source)},
        cwd=source,  # as run_autograder runs it
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(check.stdout.strip()).parent == source / "grader"
    assert "Gradescope results written to" in proc.stdout


# -- results.json, unit by unit -----------------------------------------------------------


def report_of(*exercises: ExerciseResult) -> GradeReport:
    return GradeReport(exercises=exercises, dialect="sqlite", seed=3)


def test_crashed_and_grader_error_exercises_score_nothing_and_say_why() -> None:
    crashed = ExerciseResult(
        id="filter_limit",
        title="t",
        max_score=4,
        checks=(CheckResult("correct_result", False, 0, 4, "not judged"),),
        outcome=Outcome.CRASHED,
        error="run() raised ValueError",
    )
    broken = ExerciseResult(
        id="column_projection",
        title="t",
        max_score=2,
        checks=(CheckResult("correct_result", False, 0, 2, "not judged"),),
        outcome=Outcome.GRADER_ERROR,
        error="grader error: boom",
    )
    document = gradescope_results(report_of(crashed, broken))
    assert_gradescope_format(document)
    first, second = document["tests"]
    assert (
        first["output"].startswith(CRASHED_OUTPUT) and "run() raised ValueError" in first["output"]
    )
    assert second["output"].startswith(GRADER_ERROR_OUTPUT)
    assert "grader error" in document["output"]
    assert document["leaderboard"] == [{"name": LEADERBOARD_POINTS, "value": 0, "order": "desc"}]


def test_evidence_becomes_fenced_markdown_that_backticks_cannot_break() -> None:
    text = "SELECT '```' FROM users"
    block = code_block(text, "sql")
    assert block.startswith("````sql\n") and block.endswith("\n````")
    exercise = ExerciseResult(
        id="filter_limit",
        title="t",
        max_score=2,
        checks=(
            CheckResult(
                "max_queries",
                False,
                0,
                2,
                "3 queries emitted; at most 1 allowed",
                hint="one SELECT",
                evidence=(Evidence("statement ×3", text),),
            ),
        ),
        stats={"queries": 3},
    )
    (test,) = gradescope_results(report_of(exercise))["tests"]
    assert "**statement ×3**" in test["output"]
    assert block in test["output"]
    assert test["output"].endswith("*Hint:* one SELECT")


def test_warnings_reach_the_student() -> None:
    report = GradeReport(
        exercises=(), dialect="sqlite", seed=3, warnings=("grader/cli.py differs",)
    )
    document = gradescope_results(report)
    assert "**Warning:** grader/cli.py differs" in document["output"]
    assert document["extra_data"]["warnings"] == ["grader/cli.py differs"]
