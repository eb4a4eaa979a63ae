"""The command line: listing, grading with JSON output, self-check, and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, main
from grader.course.catalog import Catalog
from tests.conftest import ROOT


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_list_prints_ids_titles_and_points(catalog: Catalog) -> None:
    result = invoke("list")
    assert result.exit_code == EXIT_OK
    first = result.output.splitlines()[0].split()
    assert first[0] == "filter_limit"
    assert "pts" in result.output


def test_list_ids_only(catalog: Catalog) -> None:
    result = invoke("list", "--ids")
    assert result.output.split() == catalog.ids


def test_grade_solutions_full_marks_with_json(catalog: Catalog, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = invoke(
        "grade",
        "filter_limit",
        "column_projection",
        "--submission",
        str(catalog.solutions_dir),
        "--json",
        str(out),
        "--seed",
        "4",
    )
    assert result.exit_code == EXIT_OK, result.output
    assert "Total: 20/20 points" in result.output
    assert "seed 4" in result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert (document["score"], document["max_score"], document["seed"]) == (20, 20, 4)


def test_grade_starters_below_full_exits_1(catalog: Catalog) -> None:
    result = invoke(
        "grade", "filter_limit", "--submission", str(catalog.exercises_dir), "--seed", "4"
    )
    assert result.exit_code == EXIT_NOT_MET
    assert "FAIL  where_in_sql" in result.output
    assert "hint:" in result.output


def test_unknown_exercise_is_a_usage_error(catalog: Catalog) -> None:
    result = CliRunner().invoke(main, ["grade", "nope", "--submission", str(catalog.solutions_dir)])
    assert result.exit_code == EXIT_USAGE
    assert "unknown exercise 'nope'" in result.output


def test_bad_db_url_is_a_usage_error(catalog: Catalog) -> None:
    result = CliRunner().invoke(
        main,
        ["grade", "filter_limit", "--submission", str(catalog.solutions_dir), "--db", "oracle://x"],
    )
    assert result.exit_code == EXIT_USAGE
    assert "unsupported database" in result.output


def test_verify_the_first_exercises(catalog: Catalog) -> None:
    result = invoke("verify", "filter_limit", "eager_loading", "column_projection", "--seed", "9")
    assert result.exit_code == EXIT_OK, result.output
    assert "catalog OK: 3 exercises · sqlite · seed 9" in result.output


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    for command in ("list", "grade", "verify"):
        assert command in result.output


#: What a listing does not need; importing any of them is what made `ormgrade list` slow.
HEAVY_IMPORTS = ("sqlalchemy", "alembic", "nbformat", "celery", "grader.migrations")


@pytest.mark.parametrize("argv", [["list"], ["list", "--ids"], ["--help"], ["grade", "--help"]])
def test_listing_and_help_import_no_engine(argv: list[str]) -> None:
    # A fresh interpreter: this test process has long imported everything.
    script = (
        "import sys\n"
        "from grader.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY_IMPORTS!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout[-500:]
