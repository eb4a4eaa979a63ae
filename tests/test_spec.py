"""Spec loading: every rule broken gives a SpecError naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.catalog import Catalog, discover
from grader.errors import CatalogError, SpecError
from grader.spec import load_spec

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


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("id = ", "not valid TOML"),
        (GOOD.replace('id = "demo"', 'id = "other"'), "differs from its folder"),
        (GOOD.replace('editable = ["task.py"]', "editable = []"), "'editable' must list"),
        (GOOD.replace('editable = ["task.py"]', 'editable = ["../x.py"]'), "'editable' must list"),
        (GOOD.replace("points = 3", "points = 1.5"), "needs integer 'points'"),
        (
            GOOD.replace('kind = "max_queries"', 'kind = "max_querys"'),
            "unknown check kind 'max_querys'",
        ),
        (GOOD.replace("max = 1", "maximum = 1"), "needs option 'max'"),
        (GOOD.replace('title = "Demo"', 'title = "Demo"\nkind = "essay"'), "kind 'essay'"),
        (GOOD.replace('title = "Demo"', 'title = "Demo"\ntimeout = -1'), "'timeout' must be"),
        (GOOD.replace('kind = "max_queries"', 'kind = "correct_result"'), "two checks are called"),
        ('title = "x"\neditable = ["task.py"]\nchecks = []', "missing required key 'id'"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(
    tmp_path: Path, text: str, fragment: str
) -> None:
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(")):
        load_spec(write_spec(tmp_path, text))


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
