"""``verify`` holds a starter to the checks its spec says it fails.

A copy of filter_limit in a catalog of its own: its starter reads users with
one SELECT, so it passes ``max_queries``. Declared in ``starter_fails``, that
check makes verify fail with a message that names it; the declaration as
shipped passes. A spec that declares nothing is told what to declare.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.authoring.verify import (
    NO_STARTER_FAILS,
    STARTER_PASSES,
    VerifyProblem,
    verify,
)
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions
from tests.conftest import ROOT

SHIPPED = 'starter_fails = ["where_in_sql", "limit_in_sql"]'


@pytest.fixture
def own_catalog(tmp_path: Path) -> Catalog:
    """A catalog holding filter_limit only, exercise and solution."""
    for part in ("exercises", "solutions"):
        shutil.copytree(ROOT / part / "filter_limit", tmp_path / part / "filter_limit")
    return Catalog(tmp_path)


def declare(catalog: Catalog, line: str) -> Catalog:
    """The catalog again, its spec declaring ``line`` instead of the shipped starter_fails."""
    spec = catalog.exercises_dir / "filter_limit" / "spec.toml"
    text = spec.read_text(encoding="utf-8")
    assert SHIPPED in text
    spec.write_text(text.replace(SHIPPED, line), encoding="utf-8")
    return Catalog(catalog.root)


def starter_problems_of(catalog: Catalog) -> list[VerifyProblem]:
    report = verify(catalog, ["filter_limit"], GradeOptions(seed=20241125))
    assert [p for p in report.problems if p.side != "starter"] == []
    return [p for p in report.problems if p.side == "starter"]


@pytest.mark.slow
def test_a_starter_passing_a_declared_failing_check_fails_verify(own_catalog: Catalog) -> None:
    assert starter_problems_of(own_catalog) == []
    changed = declare(
        own_catalog, 'starter_fails = ["where_in_sql", "max_queries", "limit_in_sql"]'
    )
    problems = starter_problems_of(changed)
    assert len(problems) == 1
    prefix = STARTER_PASSES.split("{message}")[0].format(name="max_queries")
    assert problems[0].message.startswith(prefix), problems[0].message
    assert "max_queries" in problems[0].message


@pytest.mark.slow
def test_a_spec_without_starter_fails_is_told_what_to_declare(own_catalog: Catalog) -> None:
    problems = starter_problems_of(declare(own_catalog, ""))
    assert [p.message for p in problems] == [
        NO_STARTER_FAILS.format(
            failing="where_in_sql, limit_in_sql", quoted='"where_in_sql", "limit_in_sql"'
        )
    ]
