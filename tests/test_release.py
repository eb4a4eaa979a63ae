"""The student release: its layout, no solutions in it, and grading it as a student would.

The release is written once to a temporary folder; it is then graded with the
CLI (``ormgrade grade --catalog <release> --submission <release>``) and with
``python -m pytest`` inside it (the vendored engine, switched on by the
release's own pytest configuration).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from packaging.requirements import Requirement

from grader.authoring.release import (
    INSIDE_CATALOG_MESSAGE,
    INSTALL_COMMAND,
    NOT_EMPTY_MESSAGE,
    SOLUTION_LEAK_MESSAGE,
    TEST_COMMAND,
    WORKFLOW_FILE,
    ReleaseError,
    release,
)
from grader.cli import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, main
from grader.course.catalog import ORACLE_DIR, Catalog
from grader.course.manifest import (
    CHANGED_WARNING,
    MANIFEST_FILE,
    MISSING_WARNING,
    Manifest,
    file_digest,
)
from grader.course.schema_page import SCHEMA_PAGE, render_schema
from grader.databases.server import DRIVER_EXTRAS, DRIVER_PACKAGES, NO_DRIVER

IDS = ("filter_limit", "column_projection")
SEED = 7


@pytest.fixture(scope="module")
def released(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release") / "orm-assignment"
    result = CliRunner().invoke(main, ["release", str(out), *IDS, "--catalog", str(catalog.root)])
    assert result.exit_code == EXIT_OK, result.output
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def student_copy(released: Path, tmp_path: Path) -> Path:
    """A student's clone of the release."""
    return Path(shutil.copytree(released, tmp_path / "student"))


def ormgrade(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ORMGRADE_CATALOG"}
    return subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


# -- what is in it ----------------------------------------------------------------------


def test_release_holds_the_exercises_engine_config_and_workflow(released: Path) -> None:
    names = set(files_of(released))
    for exercise_id in IDS:
        assert f"exercises/{exercise_id}/spec.toml" in names
        assert f"exercises/{exercise_id}/task.py" in names
        assert f"{ORACLE_DIR.as_posix()}/{exercise_id}/task.py" in names
    assert {"README.md", "pyproject.toml", ".gitignore", WORKFLOW_FILE} <= names
    assert {"grader/__init__.py", "grader/plugin.py", "grader/cli.py"} <= names
    assert MANIFEST_FILE.as_posix() in names
    assert {p.name for p in (released / "exercises").iterdir()} == set(IDS)
    assert not any(name.startswith(("solutions/", "tests/")) for name in names)


def test_no_file_of_solutions_is_in_the_release(released: Path, catalog: Catalog) -> None:
    released_files = files_of(released)
    contents = {data.strip() for data in released_files.values()}
    for path, data in files_of(catalog.solutions_dir).items():
        if data.strip():
            assert data.strip() not in contents, f"solutions/{path} is in the release"


def test_nothing_derived_from_a_solution_is_in_the_release(
    released: Path, catalog: Catalog
) -> None:
    # The lines a reference solution adds to its starter are the answer; none may appear.
    released_lines = {
        line.strip()
        for data in files_of(released).values()
        for line in data.decode("utf-8", "replace").splitlines()
    }
    checked = 0
    for exercise_id in IDS:
        solution = (catalog.solutions_dir / exercise_id / "task.py").read_text(encoding="utf-8")
        starter = (catalog.exercises_dir / exercise_id / "task.py").read_text(encoding="utf-8")
        starter_lines = {line.strip() for line in starter.splitlines()}
        answer = [
            line.strip()
            for line in solution.splitlines()
            if line.strip() not in starter_lines and len(re.sub(r"\W", "", line)) >= 8
        ]
        assert answer, f"{exercise_id}: the solution adds nothing to the starter"
        leaked = [line for line in answer if line in released_lines]
        assert not leaked, f"{exercise_id}: {leaked}"
        checked += len(answer)
    assert checked >= len(IDS)


def test_students_edit_the_pristine_starters(released: Path, catalog: Catalog) -> None:
    for exercise_id in IDS:
        starter = (catalog.exercises_dir / exercise_id / "task.py").read_bytes()
        assert (released / "exercises" / exercise_id / "task.py").read_bytes() == starter
        assert (released / ORACLE_DIR / exercise_id / "task.py").read_bytes() == starter


def test_release_is_reproducible(released: Path, catalog: Catalog, tmp_path: Path) -> None:
    again = release(catalog, tmp_path / "again", IDS)
    assert files_of(again.root) == files_of(released)


def test_pyproject_switches_the_plugin_on_and_vendors_the_engine(released: Path) -> None:
    config = tomllib.loads((released / "pyproject.toml").read_text(encoding="utf-8"))
    pytest_config = config["tool"]["pytest"]["ini_options"]
    assert pytest_config["ormgrade"] is True
    assert pytest_config["testpaths"] == ["exercises"]
    assert pytest_config["required_plugins"] == ["ormgrade"]
    assert config["project"]["entry-points"]["pytest11"] == {"ormgrade": "grader.plugin"}
    assert config["project"]["scripts"] == {"ormgrade": "grader.cli:main"}
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["grader*"]
    requirements = config["project"]["dependencies"]
    assert any(r.startswith("SQLAlchemy") for r in requirements)
    assert any(r.startswith("pytest") for r in requirements)


def test_student_readme_says_how_to_install_grade_and_submit(released: Path) -> None:
    readme = (released / "README.md").read_text(encoding="utf-8")
    assert f"```bash\n{INSTALL_COMMAND}\n{TEST_COMMAND}\n```" in readme
    for exercise_id in IDS:
        assert f"`exercises/{exercise_id}/task.py`" in readme
    assert "git push" in readme
    assert "Points X/20" in readme
    assert MANIFEST_FILE.as_posix() in readme


def test_workflow_installs_with_the_readme_command(released: Path) -> None:
    workflow = yaml.safe_load((released / WORKFLOW_FILE).read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    assert INSTALL_COMMAND in [step.get("run") for step in job["steps"]]


# -- the manifest ------------------------------------------------------------------------


def test_manifest_checksums_every_protected_file_and_no_editable_one(released: Path) -> None:
    manifest = Manifest.read(released)
    assert manifest is not None
    protected = set(manifest.files)
    assert {
        "pyproject.toml",
        WORKFLOW_FILE,
        "grader/cli.py",
        "exercises/filter_limit/spec.toml",
        "exercises/filter_limit/grading.py",
        ".ormgrade/oracle/filter_limit/task.py",
    } <= protected
    assert not {f"exercises/{i}/task.py" for i in IDS} & protected
    assert "README.md" not in protected and MANIFEST_FILE.as_posix() not in protected
    assert all(file_digest(released / name) == digest for name, digest in manifest.files.items())
    assert manifest.editable == tuple(f"exercises/{i}/task.py" for i in IDS)
    assert manifest.exercises == IDS


# -- grading the release as a student would ---------------------------------------------------


def test_student_grades_the_release_with_the_cli(released: Path) -> None:
    proc = ormgrade(
        "grade", "--catalog", str(released), "--submission", str(released), "--seed", str(SEED)
    )
    assert proc.returncode == EXIT_NOT_MET, proc.stderr
    total = re.search(r"Total: (\d+)/20 points", proc.stdout)
    assert total and 0 < int(total.group(1)) < 20
    assert "warning:" not in proc.stdout


def test_solved_copy_earns_full_points(released: Path, catalog: Catalog, tmp_path: Path) -> None:
    copy = student_copy(released, tmp_path)
    for exercise_id in IDS:
        shutil.copyfile(
            catalog.solutions_dir / exercise_id / "task.py",
            copy / "exercises" / exercise_id / "task.py",
        )
    out = tmp_path / "r.json"
    proc = ormgrade(
        "grade",
        "--catalog",
        str(copy),
        "--submission",
        str(copy),
        "--seed",
        str(SEED),
        "--json",
        str(out),
    )
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert (document["score"], document["max_score"], document["warnings"]) == (20, 20, [])


def test_edited_protected_files_are_warned_about_and_change_nothing(
    released: Path, tmp_path: Path
) -> None:
    copy = student_copy(released, tmp_path)
    spec = copy / "exercises" / "filter_limit" / "spec.toml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("points = 2", "points = 0"), "utf-8")
    (copy / ORACLE_DIR / "filter_limit" / "task.py").unlink()
    with (copy / "grader" / "report" / "terminal.py").open("a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    out = tmp_path / "r.json"
    # Regraded against the released copy, as the course staff (or Gradescope) would.
    proc = ormgrade(
        "grade",
        "filter_limit",
        "--catalog",
        str(released),
        "--submission",
        str(copy),
        "--seed",
        str(SEED),
        "--json",
        str(out),
    )
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["warnings"] == [
        MISSING_WARNING.format(path=".ormgrade/oracle/filter_limit/task.py"),
        CHANGED_WARNING.format(path="exercises/filter_limit/spec.toml"),
        CHANGED_WARNING.format(path="grader/report/terminal.py"),
    ]
    assert document["max_score"] == 10
    for warning in document["warnings"]:
        assert f"warning: {warning}" in proc.stdout


def test_crlf_checkout_is_not_an_edit(released: Path, tmp_path: Path) -> None:
    copy = student_copy(released, tmp_path)
    spec = copy / "exercises" / "filter_limit" / "spec.toml"
    spec.write_bytes(spec.read_bytes().replace(b"\n", b"\r\n"))
    manifest = Manifest.read(copy)
    assert manifest is not None
    assert file_digest(spec) == manifest.files["exercises/filter_limit/spec.toml"]


def test_pytest_in_the_release_grades_one_item_per_check(
    released: Path, catalog: Catalog, tmp_path: Path
) -> None:
    copy = student_copy(released, tmp_path)
    with (copy / WORKFLOW_FILE).open("a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORMGRADE_CATALOG", "PYTEST_"))}
    env["PYTHONPATH"] = str(copy)  # the vendored engine, as `pip install -e .` would make it
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*command, "--ormgrade-seed", str(SEED)],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the starters do not earn full points
    assert "configfile: pyproject.toml" in proc.stdout
    items = re.findall(r"^exercises/(\w+)/spec\.toml::(\w+) (PASSED|FAILED)", proc.stdout, re.M)
    expected = [(s.id, c.name) for s in catalog.select(IDS) for c in s.checks]
    assert sorted((i, n) for i, n, _ in items) == sorted(expected)
    assert "ormgrade score" in proc.stdout
    assert re.search(r"Total: \d+/20 points .* seed 7", proc.stdout)
    assert f"warning: {CHANGED_WARNING.format(path=WORKFLOW_FILE)}" in proc.stdout
    which = subprocess.run(
        [sys.executable, "-c", "import grader; print(grader.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(which.stdout.strip()).parent == copy / "grader"


def test_pytest_q_in_the_release_ends_with_the_score(released: Path, tmp_path: Path) -> None:
    copy = student_copy(released, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORMGRADE_CATALOG", "PYTEST_"))}
    env["PYTHONPATH"] = str(copy)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ormgrade-seed", "7"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert re.fullmatch(r"Total: \d+/20 points · .* · seed 7", lines[-1]), lines[-3:]
    after = lines[next(i for i, line in enumerate(lines) if "ormgrade score" in line) :]
    assert len(after) == 1 + len(IDS) + 1  # the title, one line per exercise, the total
    assert not any(line.startswith(("FAILED", "ERROR")) for line in after)
    assert re.search(r"\d+ failed, \d+ passed", "\n".join(lines[: -len(after)]))


def test_release_holds_the_data_model_page_and_links_it(released: Path) -> None:
    page = released / SCHEMA_PAGE
    assert page.read_text(encoding="utf-8") == render_schema()
    readme = (released / "README.md").read_text(encoding="utf-8")
    assert f"]({SCHEMA_PAGE})" in readme
    for exercise_id in IDS:
        text = (released / "exercises" / exercise_id / "README.md").read_text(encoding="utf-8")
        (link,) = re.findall(r"\]\(([^)]*schema\.md)\)", text)
        assert (released / "exercises" / exercise_id / link).resolve() == page.resolve()


# -- refusals -------------------------------------------------------------------------------


def test_release_refuses_a_folder_that_is_not_empty(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    result = CliRunner().invoke(main, ["release", str(tmp_path), "--catalog", str(catalog.root)])
    assert result.exit_code == EXIT_USAGE
    assert NOT_EMPTY_MESSAGE.format(path=tmp_path) in result.output
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_release_refuses_a_folder_inside_the_catalog(catalog: Catalog) -> None:
    target = catalog.solutions_dir / "release"
    result = CliRunner().invoke(main, ["release", str(target), "--catalog", str(catalog.root)])
    assert result.exit_code == EXIT_USAGE
    assert INSIDE_CATALOG_MESSAGE.format(path=target) in result.output
    assert not target.exists()


def test_release_of_an_unknown_exercise_is_a_usage_error(tmp_path: Path, catalog: Catalog) -> None:
    result = CliRunner().invoke(
        main, ["release", str(tmp_path / "out"), "no_such", "--catalog", str(catalog.root)]
    )
    assert result.exit_code == EXIT_USAGE
    assert "unknown exercise 'no_such'" in result.output
    assert not (tmp_path / "out").exists()


def test_release_refuses_a_starter_that_is_a_solution(tmp_path: Path, catalog: Catalog) -> None:
    broken = tmp_path / "catalog"
    shutil.copytree(catalog.exercises_dir / "filter_limit", broken / "exercises" / "filter_limit")
    (broken / "solutions" / "filter_limit").mkdir(parents=True)
    shutil.copyfile(
        catalog.solutions_dir / "filter_limit" / "task.py",
        broken / "exercises" / "filter_limit" / "task.py",
    )
    shutil.copyfile(
        catalog.solutions_dir / "filter_limit" / "task.py",
        broken / "solutions" / "filter_limit" / "task.py",
    )
    Catalog(broken).record_starter("filter_limit")  # even a starter recorded as it is
    out = tmp_path / "out"
    with pytest.raises(ReleaseError) as caught:
        release(Catalog(broken), out)
    assert str(caught.value) == SOLUTION_LEAK_MESSAGE.format(
        released=".ormgrade/oracle/filter_limit/task.py", solution="solutions/filter_limit/task.py"
    )
    assert not out.exists()


def test_the_release_carries_the_driver_extras_its_messages_name(released: Path) -> None:
    config = tomllib.loads((released / "pyproject.toml").read_text(encoding="utf-8"))
    extras = config["project"]["optional-dependencies"]
    for extra in DRIVER_EXTRAS.values():
        assert DRIVER_PACKAGES[extra] in extras[extra]
        assert Requirement(f"ormgrade[{extra}]").extras == {extra}
        assert all(Requirement(r).name for r in extras[extra])
        assert f'".[{extra}]"' in NO_DRIVER.format(
            url="u", problem="p", extra=extra, package=DRIVER_PACKAGES[extra], example="e"
        )
