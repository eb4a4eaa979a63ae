"""Mutation analysis: the mutants made of each reference, and the whole catalog's verdict.

The unit tests read the mutants `grader.authoring.mutation` makes of the references
(no grading). The catalog test grades every mutant of every exercise on
three seeds, once per dialect, and fails naming the exercise, the dialect and
each surviving mutant with its diff. Server dialects skip with the reason
when their server does not answer (fail under ``ORMGRADE_REQUIRE_SERVERS=1``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grader.authoring.mutation import DEFAULT_SEEDS, MutationReport, analyse, mutants_of
from grader.course.catalog import Catalog
from grader.course.spec import load_spec, parse_spec
from grader.errors import SpecError
from tests.conftest import ROOT

EXERCISES = Catalog(ROOT).ids
DIALECTS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mysql", marks=pytest.mark.mysql),
]
SERVER_FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url"}


def names(catalog: Catalog, exercise_id: str) -> dict[str, str]:
    spec = catalog.spec(exercise_id)
    return {m.name: m.description for m in mutants_of(spec, catalog.solutions_dir / exercise_id)}


def test_filter_limit_mutants_cover_each_operator(catalog: Catalog) -> None:
    made = names(catalog, "filter_limit")
    assert made == {
        "drop_predicate@L15": "drop `User.country == country`",
        "drop_predicate@L15.2": "drop `User.is_active.is_(True)`",
        "flip_comparison@L16": "flip `User.country == country`",
        "drop_order_term@L15": "drop ORDER BY `User.age`",
        "drop_order_term@L15.2": "drop ORDER BY `User.id`",
        "limit_off_by_one@L15": "LIMIT +1",
        "limit_off_by_one@L15.2": "LIMIT -1",
    }


def test_join_aggregate_and_boolean_operators(catalog: Catalog) -> None:
    join_types = names(catalog, "join_types")
    assert join_types["swap_join_kind@L19"] == "`.outerjoin` made `.join`"
    assert join_types["swap_and_or@L17"] == "`and_` made `or_`"
    assert join_types["swap_aggregate@L19"] == "func.count made func.sum"
    report = names(catalog, "aggregate_report")
    assert report["swap_join_kind@L18"] == "`.join` made `.outerjoin`"
    assert names(catalog, "bulk_update")["flip_comparison@L18.2"] == (
        "flip `Task.created_at < before`"
    )


def test_migration_mutants(catalog: Catalog) -> None:
    assert set(names(catalog, "migration_rename_column").values()) == {
        "rename made a drop and an add",
        "downgrade() made `pass`",
    }
    assert set(names(catalog, "migration_add_index").values()) == {
        "index made unique",
        "downgrade() made `pass`",
    }
    assert set(names(catalog, "migration_backfill_not_null").values()) == {
        "drop the data step of upgrade()",
        "drop the SET NOT NULL step",
        "downgrade() made `pass`",
    }
    # Steps nested in loops and autocommit blocks are found too.
    assert set(names(catalog, "migration_zero_downtime").values()) == {
        "autocommit block dropped: its statements join the migration's transaction",
        "server default dropped",
        "drop the data step of upgrade()",
        "index made unique",
        "index built without CONCURRENTLY",
        "downgrade() made `pass`",
    }


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_every_mutant_is_valid_python_and_differs(catalog: Catalog, exercise_id: str) -> None:
    spec = catalog.spec(exercise_id)
    mutants = mutants_of(spec, catalog.solutions_dir / exercise_id)
    assert len({m.name for m in mutants}) == len(mutants)
    assert len({m.source for m in mutants}) == len(mutants)
    for mutant in mutants:
        ast.parse(mutant.source)
        assert mutant.diff.startswith("--- reference/"), mutant.name
        assert "\n-" in mutant.diff and "\n+" in mutant.diff, mutant.name


def test_python_annotations_are_not_mutated(catalog: Catalog) -> None:
    # index_lookup returns `tuple[...] | None`: the `|` is a type, not a condition.
    assert all("None`" not in d for d in names(catalog, "index_lookup").values())


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"mutant": "drop_order_term@L1"}, r"equivalent_mutants\[0\]\.reason"),
        ({"mutant": "drop_order_term@L1", "reason": "same"}, "needs a 'reason'"),
        ({"reason": "x" * 30}, r"equivalent_mutants\[0\]\.mutant: needs 'mutant'"),
        (
            {"mutant": "m@L1", "reason": "x" * 30, "dialects": ["oracle"]},
            r"\.dialects \(m@L1\): 'dialects' must list",
        ),
        ({"mutant": "m@L1", "reason": "x" * 30, "why": 1}, "unknown keys: why"),
    ],
)
def test_bad_equivalent_declarations_are_refused(
    tmp_path: Path, entry: dict[str, object], problem: str
) -> None:
    folder = tmp_path / "ex"
    folder.mkdir()
    data = {
        "id": "ex",
        "editable": ["task.py"],
        "checks": [{"kind": "correct_result", "points": 1}],
        "equivalent_mutants": [entry],
    }
    with pytest.raises(SpecError, match=problem):
        parse_spec(data, folder)


def test_equivalent_declarations_are_read(catalog: Catalog) -> None:
    spec = load_spec(catalog.exercises_dir / "bulk_export")
    (declared,) = spec.equivalent_mutants
    assert declared.mutant == "drop_order_term@L29"
    assert declared.covers("sqlite") and not declared.covers("postgresql")


# -- the whole catalog, on every dialect ---------------------------------------------------


@pytest.fixture(scope="module")
def analysed(request: pytest.FixtureRequest, catalog: Catalog) -> MutationReport:
    """Every mutant of the catalog graded on one dialect (once per dialect)."""
    dialect: str = request.param
    url = None
    if dialect in SERVER_FIXTURES:
        url = request.getfixturevalue(SERVER_FIXTURES[dialect])
    report = analyse(catalog, seeds=DEFAULT_SEEDS, db_url=url)
    assert report.dialect == dialect
    return report


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", EXERCISES)
@pytest.mark.parametrize("analysed", DIALECTS, indirect=True)
def test_every_mutant_killed_or_declared_equivalent(
    analysed: MutationReport, exercise_id: str
) -> None:
    spec = Catalog(ROOT).spec(exercise_id)
    if not spec.runs_on(analysed.dialect):
        pytest.skip(spec.not_on(analysed.dialect))
    (analysis,) = [e for e in analysed.exercises if e.exercise_id == exercise_id]
    surviving = [
        f"{v.mutant.name}: {v.mutant.description}\n{v.mutant.diff}" for v in analysis.surviving
    ]
    assert surviving == [], f"seeds {analysed.seeds}"
    assert analysis.stale_declarations == ()
    assert analysis.killed + analysis.equivalent == analysis.made
