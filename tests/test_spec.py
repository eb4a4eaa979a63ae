"""Spec loading: every rule broken gives a SpecError naming the file and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.checks import CHECK_KINDS
from grader.checks.base import UNKNOWN_KIND
from grader.checks.query import CLAUSES, NOT_ONE_OF
from grader.course.catalog import Catalog, discover
from grader.course.spec import (
    BOOLEAN,
    DATASET,
    DIALECTS,
    DIALECTS_WITHOUT_REASON,
    DID_YOU_MEAN,
    DUPLICATE_CHECK,
    EDITABLE,
    GATE_STARTER_FAIL,
    HOOKS,
    HOOKS_FILE,
    KINDS,
    MISSING_KEY,
    NOT_ON_DIALECT,
    POSITIVE_SECONDS,
    SPEC_KEYS,
    STARTER_FAILS,
    TABLE,
    UNKNOWN_HOOK,
    UNKNOWN_KEY,
    UNKNOWN_STARTER_FAIL,
    WRONG_VALUE,
    describe,
    load_spec,
    one_of,
)
from grader.errors import CatalogError, SpecError
from grader.rule import (
    OPTIONS_OF,
    POINTS,
    STRING,
    UNKNOWN_OPTION,
)

GOOD = """
id = "demo"
title = "Demo"
editable = ["task.py"]

[[checks]]
kind = "correct_result"
points = 3

[[checks]]
kind = "max_queries"
max = 1
points = 2
"""


def write_spec(tmp_path: Path, text: str, name: str = "demo") -> Path:
    folder = tmp_path / "exercises" / name
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(text, encoding="utf-8")
    return folder


def test_a_good_spec_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, GOOD))
    assert spec.id == "demo"
    assert spec.kind == "query"
    assert spec.entry == "run"
    assert spec.max_score == 5
    assert [c.name for c in spec.checks] == ["correct_result", "max_queries"]
    assert spec.checks[1].options == {"max": 1}


GOOD_WITH_CLAUSE = (
    GOOD
    + """
[[checks]]
name = "where_in_sql"
kind = "clause"
clause = "where"
table = "users"
points = 2
"""
)


def _problem(field: str, problem: str) -> str:
    """The line of a spec error about ``field``, after the file name."""
    return f": {field}: {problem}"


def _wrong(field: str, expected: str, found: object) -> str:
    return _problem(field, WRONG_VALUE.format(expected=expected, found=describe(found)))


def _where_in_sql(field: str, problem: str) -> str:
    return f": checks[2].{field} (check 'where_in_sql'): {problem}"


# Each refused spec: the text, and the line its error must hold after the file name.
REFUSED = {
    "not TOML": ("id = ", ": not valid TOML"),
    "id of another folder": (
        GOOD.replace('id = "demo"', 'id = "other"'),
        _problem("id", "'other' differs from its folder 'demo'"),
    ),
    "missing id": (
        'title = "x"\neditable = ["task.py"]\nchecks = []',
        _problem("id", MISSING_KEY.format(expected="a Python name")),
    ),
    "unknown top-level key": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\ncolour = "red"'),
        _problem(
            "colour", UNKNOWN_KEY.format(key="colour", suggestion="", known=", ".join(SPEC_KEYS))
        ),
    ),
    "misspelt top-level key": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\norderd = false'),
        _problem(
            "orderd",
            UNKNOWN_KEY.format(
                key="orderd",
                suggestion=DID_YOU_MEAN.format(match="ordered"),
                known=", ".join(SPEC_KEYS),
            ),
        ),
    ),
    "ordered yes": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nordered = "yes"'),
        _wrong("ordered", BOOLEAN.expected, "yes"),
    ),
    "ordered false as a string": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nordered = "false"'),
        _wrong("ordered", BOOLEAN.expected, "false"),
    ),
    "ordered as a number": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nordered = 0'),
        _wrong("ordered", BOOLEAN.expected, 0),
    ),
    "empty editable": (
        GOOD.replace('editable = ["task.py"]', "editable = []"),
        _wrong("editable", EDITABLE.expected, []),
    ),
    "editable outside the exercise": (
        GOOD.replace('editable = ["task.py"]', 'editable = ["../x.py"]'),
        _wrong("editable", EDITABLE.expected, ["../x.py"]),
    ),
    "unknown exercise kind": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nkind = "essay"'),
        _wrong("kind", one_of(*KINDS).expected, "essay"),
    ),
    "negative timeout": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\ntimeout = -1'),
        _wrong("timeout", POSITIVE_SECONDS.expected, -1),
    ),
    "timeout as a string": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\ntimeout = "30"'),
        _wrong("timeout", POSITIVE_SECONDS.expected, "30"),
    ),
    "memory as a float": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nmemory_mb = 512.5'),
        _wrong("memory_mb", "an integer >= 64 (MiB)", 512.5),
    ),
    "unknown dataset size": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\ndataset = "huge"'),
        _wrong("dataset", DATASET.expected, "huge"),
    ),
    "params not a table": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nparams = 3'),
        _wrong("params", TABLE.expected, 3),
    ),
    "fault row zero": (
        GOOD.replace('title = "Demo"', 'title = "Demo"\nfault_after_rows = 0'),
        _wrong("fault_after_rows", "an integer >= 1", 0),
    ),
    "fractional points": (
        GOOD.replace("points = 3", "points = 1.5"),
        _wrong("checks[0].points", POINTS.expected, 1.5),
    ),
    "points as a boolean": (
        GOOD.replace("points = 3", "points = true"),
        _wrong("checks[0].points", POINTS.expected, True),
    ),
    "misspelt points": (
        GOOD.replace("points = 3", "pionts = 3"),
        _problem(
            "checks[0].points",
            MISSING_KEY.format(expected=POINTS.expected)
            + "; found 'pionts'"
            + DID_YOU_MEAN.format(match="points"),
        ),
    ),
    "hint not a string": (
        GOOD.replace("points = 3", 'points = 3\nhint = ["a", "b"]'),
        _wrong("checks[0].hint", STRING.expected, ["a", "b"]),
    ),
    "unknown check kind": (
        GOOD.replace('kind = "max_queries"', 'kind = "max_querys"'),
        ": checks[1].kind (check 'max_querys'): "
        + UNKNOWN_KIND.format(
            kind="max_querys",
            suggestion=DID_YOU_MEAN.format(match="max_queries"),
            known=", ".join(sorted(CHECK_KINDS)),
        ),
    ),
    "missing check option": (
        GOOD.replace("max = 1\n", ""),
        ": checks[1].max (check 'max_queries'): " + MISSING_KEY.format(expected="an integer"),
    ),
    "misspelt required option": (
        GOOD.replace("max = 1", "maximum = 1"),
        ": checks[1].maximum (check 'max_queries'): "
        + UNKNOWN_OPTION.format(key="maximum", suggestion=DID_YOU_MEAN.format(match="max")),
    ),
    "misspelt clause": (
        GOOD_WITH_CLAUSE.replace('clause = "where"', 'claus = "where"'),
        _where_in_sql(
            "claus",
            UNKNOWN_OPTION.format(key="claus", suggestion=DID_YOU_MEAN.format(match="clause")),
        ),
    ),
    "misspelt optional option": (
        GOOD_WITH_CLAUSE.replace('table = "users"', 'table = "users"\npresnt = false'),
        _where_in_sql(
            "presnt",
            UNKNOWN_OPTION.format(key="presnt", suggestion=DID_YOU_MEAN.format(match="present"))
            + OPTIONS_OF.format(kind="clause", known="clause, table, join_kind, present"),
        ),
    ),
    "option of the wrong type": (
        GOOD.replace("max = 1", 'max = "1"'),
        ": checks[1].max (check 'max_queries'): "
        + WRONG_VALUE.format(expected="an integer", found=describe("1")),
    ),
    "boolean option as a string": (
        GOOD_WITH_CLAUSE.replace('table = "users"', 'table = "users"\npresent = "false"'),
        _where_in_sql(
            "present", WRONG_VALUE.format(expected="true or false", found=describe("false"))
        ),
    ),
    "integer option as a boolean": (
        GOOD.replace("max = 1", "max = true"),
        ": checks[1].max (check 'max_queries'): "
        + WRONG_VALUE.format(expected="an integer", found=describe(True)),
    ),
    "two checks of one name": (
        GOOD.replace('kind = "max_queries"', 'kind = "correct_result"'),
        _problem("checks[1].name", DUPLICATE_CHECK.format(name="correct_result")),
    ),
    "starter_fails naming no check": (
        GOOD.replace(
            'editable = ["task.py"]', 'editable = ["task.py"]\nstarter_fails = ["max_query"]'
        ),
        _problem(
            "starter_fails[0]",
            UNKNOWN_STARTER_FAIL.format(
                name="max_query",
                suggestion=DID_YOU_MEAN.format(match="max_queries"),
                known="correct_result, max_queries",
            ),
        ),
    ),
    "starter_fails naming the gate": (
        GOOD.replace(
            'editable = ["task.py"]',
            'editable = ["task.py"]\nstarter_fails = ["max_queries", "correct_result"]',
        ),
        _problem("starter_fails[1]", GATE_STARTER_FAIL.format(name="correct_result")),
    ),
    "starter_fails not an array of names": (
        GOOD.replace(
            'editable = ["task.py"]', 'editable = ["task.py"]\nstarter_fails = "max_queries"'
        ),
        _wrong("starter_fails", STARTER_FAILS.expected, "max_queries"),
    ),
    "a clause check with a clause it does not know": (
        GOOD + '\n[[checks]]\nkind = "clause"\nclause = "unique"\ntable = "users"\npoints = 1\n',
        ": checks[2].clause (check 'clause'): "
        + NOT_ONE_OF.format(known=", ".join(repr(c) for c in CLAUSES), found=describe("unique")),
    ),
}


@pytest.mark.parametrize(("text", "line"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_specs_are_refused_naming_file_field_expected_and_found(
    tmp_path: Path, text: str, line: str
) -> None:
    folder = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as refused:
        load_spec(folder)
    message = str(refused.value)
    assert message.startswith(str(folder / "spec.toml") + ": "), message
    assert str(folder / "spec.toml") + line in message


def test_every_problem_of_a_spec_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('title = "Demo"', 'title = "Demo"\nordered = "no"\ncolour = 1')
    text = text.replace("points = 3", "points = -3")
    path = write_spec(tmp_path, text) / "spec.toml"
    with pytest.raises(SpecError) as refused:
        load_spec(path.parent)
    lines = str(refused.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["ordered", "colour", "checks[0].points"]
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_the_atomicity_and_bench_keys_reach_the_runs(tmp_path: Path) -> None:
    text = GOOD.replace(
        'title = "Demo"', 'title = "Demo"\nfault_after_rows = 7\nbench_dataset = "medium"'
    )
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.options == {"fault_after_rows": 7, "bench_dataset": "medium"}
    plain = GOOD.replace('id = "demo"', 'id = "plain"')
    assert load_spec(write_spec(tmp_path, plain, "plain")).options == {"bench_dataset": "large"}


HOOKS_WITH_A_HELPER = """
from typing import Any

ROWS_PER_USER = 3


def _countries(connection: Any) -> list[str]:
    return []


def params(connection: Any, rng: Any, spec: Any) -> dict[str, Any]:
    return {}
"""


def test_hooks_with_private_helpers_and_constants_load(tmp_path: Path) -> None:
    folder = write_spec(tmp_path, GOOD)
    (folder / HOOKS_FILE).write_text(HOOKS_WITH_A_HELPER, encoding="utf-8")
    assert load_spec(folder).hooks_path == folder / HOOKS_FILE


@pytest.mark.parametrize(
    ("kind", "name", "match"),
    [
        ("query", "param", "params"),
        ("query", "snapshots", "snapshot"),
        ("query", "rows", None),  # a migration hook, never called on a query exercise
        ("migration", "row", "rows"),
        ("migration", "helper", None),
    ],
)
def test_an_unknown_hook_name_is_refused(
    tmp_path: Path, kind: str, name: str, match: str | None
) -> None:
    text = GOOD.replace('title = "Demo"', f'title = "Demo"\nkind = "{kind}"')
    folder = write_spec(tmp_path, text)
    hooks = folder / HOOKS_FILE
    hooks.write_text(f"def {name}(*args):\n    return {{}}\n", encoding="utf-8")
    with pytest.raises(SpecError) as refused:
        load_spec(folder)
    assert str(refused.value) == UNKNOWN_HOOK.format(
        path=hooks,
        name=name,
        suggestion=DID_YOU_MEAN.format(match=match) if match else "",
        kind=kind,
        known=", ".join(HOOKS[kind]),
    )


def test_a_hooks_file_that_is_not_python_is_refused(tmp_path: Path) -> None:
    folder = write_spec(tmp_path, GOOD)
    (folder / HOOKS_FILE).write_text("def params(:\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"grading\.py: not valid Python"):
        load_spec(folder)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no spec file"):
        load_spec(tmp_path)


def test_every_catalog_spec_loads(catalog: Catalog) -> None:
    assert {"filter_limit", "eager_loading", "column_projection"} <= set(catalog.ids)
    for spec in catalog.select():
        assert spec.max_score > 0
        assert (spec.directory / "README.md").is_file(), f"{spec.id} has no README"


def test_discover_prefers_an_explicit_folder(tmp_path: Path) -> None:
    write_spec(tmp_path, GOOD)
    assert discover(tmp_path).root == tmp_path.resolve()
    assert discover(tmp_path / "exercises").root == tmp_path.resolve()


def test_discover_refuses_a_folder_without_exercises(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a catalog"):
        discover(tmp_path)


def test_oracle_prefers_the_pristine_starter(tmp_path: Path) -> None:
    folder = write_spec(tmp_path, GOOD)
    (folder / "task.py").write_text("def run(session):\n    return 1\n", encoding="utf-8")
    catalog = Catalog(tmp_path)
    catalog.record_starter("demo")
    assert catalog.oracle_dir("demo") == tmp_path / "exercises" / "demo"
    pristine = tmp_path / ".ormgrade" / "oracle" / "demo"
    pristine.mkdir(parents=True)
    (pristine / "task.py").write_bytes((folder / "task.py").read_bytes())
    assert catalog.oracle_dir("demo") == pristine


ON_SERVERS = GOOD.replace(
    'title = "Demo"',
    'title = "Demo"\ndialects = ["postgresql", "mysql"]\n'
    'dialects_reason = "SQLite cannot partition a table."',
)


def test_dialects_name_where_an_exercise_runs_and_why_not_elsewhere(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, ON_SERVERS))
    assert spec.dialects == ("postgresql", "mysql")
    assert spec.runs_on("mysql") and not spec.runs_on("sqlite")
    assert spec.not_on("sqlite") == NOT_ON_DIALECT.format(
        id="demo",
        dialect="sqlite",
        dialects="postgresql, mysql",
        reason="SQLite cannot partition a table.",
    )
    plain = load_spec(write_spec(tmp_path, GOOD.replace('"demo"', '"plain"'), "plain"))
    assert plain.dialects == () and all(plain.runs_on(d) for d in DIALECTS)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('"postgresql", "mysql"', '"oracle"', "dialects: expected a non-empty array"),
        ('"postgresql", "mysql"', "", "dialects: expected a non-empty array"),
        ('"postgresql", "mysql"', '"mysql", "mysql"', "dialects: expected a non-empty array"),
        ("SQLite cannot partition a table.", "no", "dialects_reason: expected a sentence"),
        ('dialects_reason = "SQLite cannot partition a table."', "", DIALECTS_WITHOUT_REASON),
    ],
)
def test_bad_dialects_are_refused(tmp_path: Path, old: str, new: str, problem: str) -> None:
    with pytest.raises(SpecError, match=re.escape(problem)):
        load_spec(write_spec(tmp_path, ON_SERVERS.replace(old, new)))
