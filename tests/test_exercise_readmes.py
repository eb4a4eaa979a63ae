"""The READMEs of the query exercises: sections, hints, points and a measured figure.

Plain file reads: each task README has its sections in order, three hints, a
table that names every check of the spec with its points, and the figure that
shows why the exercise matters, with where it was measured. The catalog's
self-check (solutions full marks, starters correct but slow at exactly what
they teach) is tests/test_catalog.py.
"""

from __future__ import annotations

import re

import pytest

from grader.course.catalog import Catalog

#: Exercises whose figure comes from bench/run.py --teaching or a SQLite measurement.
READ_IDS = [
    "filter_limit",
    "eager_loading",
    "column_projection",
    "pagination",
    "keyset_pagination",
    "index_lookup",
    "count_exists",
    "aggregate_report",
    "join_types",
    "window_report",
    "partition_pruning",
]
#: Exercises whose figure was measured on SQLite (the README says so).
WRITE_IDS = [
    "bulk_export",
    "bulk_insert",
    "bulk_update",
    "transaction_atomic",
    "read_replica_routing",
]
#: Exercises beyond reads and writes whose figure comes from bench/run.py --teaching.
BENCHED_IDS = ["lost_update", "async_eager_loading"]
SECTIONS = (
    "## The task",
    "## Why it matters",
    "## What the grader checks",
    "## Reading the feedback",
    "## Hints",
)


@pytest.mark.parametrize("exercise", READ_IDS + WRITE_IDS + BENCHED_IDS)
def test_readme_has_the_sections_and_three_hints(catalog: Catalog, exercise: str) -> None:
    text = catalog.spec(exercise).readme.read_text(encoding="utf-8")
    positions = [text.find(heading) for heading in SECTIONS]
    assert -1 not in positions, f"{exercise}: missing {SECTIONS[positions.index(-1)]}"
    assert positions == sorted(positions), f"{exercise}: sections out of order"
    assert text.count("<details>") == text.count("</details>") == 3
    assert f"ormgrade grade {exercise}" in text


@pytest.mark.parametrize("exercise", READ_IDS + WRITE_IDS + BENCHED_IDS)
def test_readme_lists_every_check_with_its_points(catalog: Catalog, exercise: str) -> None:
    spec = catalog.spec(exercise)
    text = spec.readme.read_text(encoding="utf-8")
    for check in spec.checks:
        row = re.search(rf"^\| `{re.escape(check.name)}` \| (\d+) \|", text, re.MULTILINE)
        assert row is not None, f"{exercise}: the README's table has no row for {check.name}"
        assert int(row.group(1)) == check.points, f"{exercise}: points of {check.name}"


def why_it_matters(catalog: Catalog, exercise: str) -> str:
    """The 'Why it matters' section of an exercise's README."""
    text = catalog.spec(exercise).readme.read_text(encoding="utf-8")
    why = text[text.index("## Why it matters") : text.index("## What the grader checks")]
    assert re.search(r"\d+(\.\d+)?×", why), f"{exercise}: no figure in 'Why it matters'"
    return why


@pytest.mark.parametrize("exercise", READ_IDS + BENCHED_IDS)
def test_read_readme_quotes_its_measured_figure(catalog: Catalog, exercise: str) -> None:
    why = why_it_matters(catalog, exercise)
    assert "bench/run.py --teaching" in why or "measured on SQLite" in why


@pytest.mark.parametrize("exercise", WRITE_IDS)
def test_write_readme_quotes_its_measured_figure(catalog: Catalog, exercise: str) -> None:
    why = why_it_matters(catalog, exercise)
    assert "measured on SQLite" in " ".join(why.split())
