"""The database URL from a course repository's config file, and its precedence.

Command line > pytest option or ini key > ``ormgrade.toml`` / ``[tool.ormgrade]``
> SQLite. The file matters because GitHub Classroom's command grader runs
each command without the environment a course could set.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import EXIT_USAGE, main
from grader.config_file import (
    BAD_BROKER,
    BAD_DB,
    BAD_TOML,
    DB_NOT_TEXT,
    ProjectConfig,
    read_config,
    repository_root,
    resolve_broker_url,
    resolve_db_url,
)
from grader.course.catalog import ORACLE_DIR, Catalog
from grader.databases.server import UNREACHABLE
from grader.errors import UsageError

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: A server that never answers: port 9 (discard) refuses at once.
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:9/test"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_file_means_the_default(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert read_config(tmp_path) == ProjectConfig()
    assert resolve_db_url(None, tmp_path) is None


def test_ormgrade_toml_names_the_database(tmp_path: Path) -> None:
    path = write(tmp_path / "ormgrade.toml", f'db = "{PG}"\n')
    assert read_config(tmp_path) == ProjectConfig(path=path, db=PG)


def test_pyproject_tool_table_names_the_database(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pyproject.toml", f'[project]\nname = "course"\n\n[tool.ormgrade]\ndb = "{PG}"\n'
    )
    config = read_config(tmp_path)
    assert config == ProjectConfig(path=path, db=PG)
    assert config.where == f"{path} [tool.ormgrade]"


def test_ormgrade_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.ormgrade]\ndb = "sqlite"\n')
    write(tmp_path / "ormgrade.toml", f'db = "{PG}"\n')
    assert read_config(tmp_path).db == PG


def test_pyproject_without_the_table_is_no_setting(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.pytest.ini_options]\naddopts = "-q"\n')
    assert read_config(tmp_path) == ProjectConfig()


def test_found_from_a_folder_inside_the_repository(tmp_path: Path) -> None:
    write(tmp_path / "ormgrade.toml", f'db = "{PG}"\n')
    inner = tmp_path / "exercises" / "filter_limit"
    inner.mkdir(parents=True)
    assert repository_root(inner) == tmp_path.resolve()
    assert resolve_db_url(None, inner) == PG


def test_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write(tmp_path / "ormgrade.toml", f'db = "{PG}"\n')
    repository = tmp_path / "student"
    (repository / ".git").mkdir(parents=True)
    assert resolve_db_url(None, repository) is None


def test_given_url_wins_over_the_file(tmp_path: Path) -> None:
    write(tmp_path / "ormgrade.toml", f'db = "{PG}"\n')
    assert resolve_db_url("sqlite", tmp_path) == "sqlite"


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "ormgrade.toml", "db = \n")
    with pytest.raises(UsageError) as raised:
        read_config(tmp_path)
    assert str(raised.value).startswith(BAD_TOML.format(path=path, error=""))


def test_db_must_be_text(tmp_path: Path) -> None:
    path = write(tmp_path / "ormgrade.toml", "db = 5432\n")
    with pytest.raises(UsageError) as raised:
        read_config(tmp_path)
    assert str(raised.value) == DB_NOT_TEXT.format(where=str(path), kind="int")


def test_db_must_be_a_url(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[tool.ormgrade]\ndb = "not a url"\n')
    with pytest.raises(UsageError) as raised:
        read_config(tmp_path)
    prefix = BAD_DB.format(where=f"{path} [tool.ormgrade]", value="not a url", error="")
    assert str(raised.value).startswith(prefix)


# -- through the command line and the pytest plugin ------------------------------------


@pytest.fixture
def course(tmp_path: Path, catalog: Catalog) -> Path:
    """A student repository holding filter_limit, solved, whose config names a dead server."""
    source = catalog.exercises_dir / "filter_limit"
    target = tmp_path / "exercises" / "filter_limit"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    oracle = tmp_path / ORACLE_DIR / "filter_limit"
    oracle.mkdir(parents=True)
    shutil.copyfile(source / "task.py", oracle / "task.py")
    shutil.copyfile(catalog.solutions_dir / "filter_limit" / "task.py", target / "task.py")
    write(tmp_path / "ormgrade.toml", f'db = "{NOWHERE}"\n')
    write(tmp_path / "pytest.ini", "[pytest]\normgrade = true\n")
    return tmp_path


def unreachable_prefix() -> str:
    return UNREACHABLE.format(dialect="postgresql", url=NOWHERE, problem="").split(": .")[0]


def test_cli_grades_on_the_configured_database(course: Path) -> None:
    result = CliRunner().invoke(
        main, ["grade", "--catalog", str(course), "--submission", str(course)]
    )
    assert result.exit_code == EXIT_USAGE, result.output
    assert unreachable_prefix() in result.output


def test_cli_db_option_wins_over_the_config(course: Path) -> None:
    args = ["grade", "--catalog", str(course), "--submission", str(course), "--seed", "3"]
    result = CliRunner().invoke(main, [*args, "--db", "sqlite"])
    assert result.exit_code == 0, result.output
    assert "sqlite · seed 3" in result.output


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pytest_plugin_reads_the_config_and_reports_a_dead_server(course: Path) -> None:
    proc = run_pytest(course)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert unreachable_prefix() in proc.stderr


def test_pytest_option_and_ini_win_over_the_config(course: Path) -> None:
    from_option = run_pytest(course, "--ormgrade-db", "sqlite")
    assert from_option.returncode == 0, from_option.stdout + from_option.stderr
    assert "· sqlite · seed" in from_option.stdout
    write(course / "pytest.ini", "[pytest]\normgrade = true\normgrade_db = sqlite\n")
    from_ini = run_pytest(course)
    assert from_ini.returncode == 0, from_ini.stdout + from_ini.stderr
    assert "· sqlite · seed" in from_ini.stdout


def test_the_config_file_names_the_broker(tmp_path: Path) -> None:
    redis = "redis://broker.lan:6379/0"
    path = write(tmp_path / "ormgrade.toml", f'db = "{PG}"\nbroker = "{redis}"\n')
    assert read_config(tmp_path) == ProjectConfig(path=path, db=PG, broker=redis)
    assert resolve_broker_url(None, tmp_path) == redis
    assert resolve_broker_url("amqp://u:p@h//", tmp_path) == "amqp://u:p@h//"


@pytest.mark.parametrize("value", ['"http://broker.lan"', '"redis-host:6379"', "6379"])
def test_a_bad_broker_is_refused_naming_the_file(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "ormgrade.toml", f"broker = {value}\n")
    with pytest.raises(UsageError) as raised:
        read_config(tmp_path)
    parsed = {"6379": 6379}.get(value, value.strip('"'))
    assert str(raised.value) == BAD_BROKER.format(where=str(path), value=parsed)


def test_grade_all_says_when_the_broker_does_not_answer(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "class" / "alice").mkdir(parents=True)
    result = CliRunner().invoke(
        main,
        [
            "grade-all", str(tmp_path / "class"), "filter_limit", "--out", str(tmp_path / "out"),
            "--no-reference", "--catalog", str(catalog.root), "--broker", "redis://127.0.0.1:9/0",
        ],
    )  # fmt: skip
    assert result.exit_code == EXIT_USAGE, result.output
    assert "the broker at redis://127.0.0.1:9/0 does not answer" in result.output
