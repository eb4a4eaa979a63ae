"""Self-check of the write, memory and routing exercises, and of their READMEs.

One verify run on SQLite grades the five reference solutions and the five
starters with one seed; the tests read that one report. The README tests are
plain file reads: each task README has its sections, three hints, a table that
names every check of the spec with its points, and its measured figure.
"""

from __future__ import annotations

import re

import pytest

from grader.catalog import Catalog
from grader.runner import GradeOptions
from grader.verify import GATE, VerifyReport, verify

WRITE_IDS = [
    "bulk_export",
    "bulk_insert",
    "bulk_update",
    "transaction_atomic",
    "read_replica_routing",
]
#: The seed of test_checks_write too: the seeded templates are built once.
SEED = 7

#: What each starter is slow at: the checks it must fail (every other one passes).
STARTER_FAILS = {
    "bulk_export": ["peak_memory"],
    "bulk_insert": ["insert_budget"],
    "bulk_update": ["update_budget"],
    "transaction_atomic": ["atomic"],
    "read_replica_routing": ["routing"],
}
SECTIONS = (
    "## The task",
    "## Why it matters",
    "## What the grader checks",
    "## Reading the feedback",
    "## Hints",
)


@pytest.fixture(scope="module")
def report(catalog: Catalog) -> VerifyReport:
    """Solutions and starters of the five exercises, graded once on SQLite."""
    return verify(catalog, WRITE_IDS, GradeOptions(seed=SEED))


def test_the_write_exercises_pass_their_self_check(report: VerifyReport) -> None:
    assert report.problems == ()
    assert report.ok


def test_every_reference_solution_earns_full_marks(report: VerifyReport) -> None:
    assert [(r.id, r.score) for r in report.solutions.exercises] == [
        (r.id, r.max_score) for r in report.solutions.exercises
    ]


def test_each_starter_is_correct_and_slow_where_the_exercise_teaches(
    report: VerifyReport,
) -> None:
    for result in report.starters.exercises:
        assert result.check(GATE).passed, result.id
        failed = [c.name for c in result.checks if not c.passed]
        assert failed == STARTER_FAILS[result.id], result.id


@pytest.mark.parametrize("exercise", WRITE_IDS)
def test_readme_has_the_sections_and_three_hints(catalog: Catalog, exercise: str) -> None:
    text = catalog.spec(exercise).readme.read_text(encoding="utf-8")
    positions = [text.find(heading) for heading in SECTIONS]
    assert -1 not in positions, f"{exercise}: missing {SECTIONS[positions.index(-1)]}"
    assert positions == sorted(positions), f"{exercise}: sections out of order"
    assert text.count("<details>") == text.count("</details>") == 3
    assert f"ormgrade grade {exercise}" in text


@pytest.mark.parametrize("exercise", WRITE_IDS)
def test_readme_lists_every_check_with_its_points(catalog: Catalog, exercise: str) -> None:
    spec = catalog.spec(exercise)
    text = spec.readme.read_text(encoding="utf-8")
    for check in spec.checks:
        row = re.search(rf"^\| `{re.escape(check.name)}` \| (\d+) \|", text, re.MULTILINE)
        assert row is not None, f"{exercise}: the README's table has no row for {check.name}"
        assert int(row.group(1)) == check.points, f"{exercise}: points of {check.name}"


@pytest.mark.parametrize("exercise", WRITE_IDS)
def test_readme_quotes_its_measured_figure(catalog: Catalog, exercise: str) -> None:
    text = catalog.spec(exercise).readme.read_text(encoding="utf-8")
    why = text[text.index("## Why it matters") : text.index("## What the grader checks")]
    assert re.search(r"\d+(\.\d+)?×", why), f"{exercise}: no figure in 'Why it matters'"
    assert "measured on SQLite" in " ".join(why.split())
