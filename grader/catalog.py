"""The instructor's catalog: exercise specs, starters, hooks and solutions.

A catalog is a folder holding ``exercises/<id>/`` (and, in the instructor's
repository, ``solutions/<id>/``). The oracle for correctness is the starter:
``exercises/<id>/<file>`` in the instructor's repository, or the pristine copy
under ``.ormgrade/oracle/<id>/`` that a released student repository carries
(there students edit ``exercises/<id>/`` themselves).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from grader.errors import CatalogError, UnknownExerciseError
from grader.spec import SPEC_FILE, ExerciseSpec, load_spec

CATALOG_ENV = "ORMGRADE_CATALOG"
ORACLE_DIR = Path(".ormgrade") / "oracle"


@dataclass(frozen=True)
class Catalog:
    """The exercises one grading run draws its specs and oracles from.

    Attributes:
        root: The folder that holds ``exercises/``.
    """

    root: Path

    @property
    def exercises_dir(self) -> Path:
        """Where the exercise folders are."""
        return self.root / "exercises"

    @property
    def solutions_dir(self) -> Path:
        """Where the reference solutions are (instructor repository only)."""
        return self.root / "solutions"

    @cached_property
    def specs(self) -> dict[str, ExerciseSpec]:
        """Every exercise's spec by id, in folder-name order."""
        if not self.exercises_dir.is_dir():
            raise CatalogError(f"{self.root}: no exercises/ folder")
        found = {}
        for child in sorted(self.exercises_dir.iterdir()):
            if (child / SPEC_FILE).is_file():
                found[child.name] = load_spec(child)
        return found

    @property
    def ids(self) -> list[str]:
        """Exercise ids in catalog order: query exercises, then migrations."""
        specs = self.specs
        return sorted(specs, key=lambda i: (specs[i].kind != "query", _ORDER.get(i, 99), i))

    def spec(self, exercise_id: str) -> ExerciseSpec:
        """The spec of ``exercise_id``.

        Raises:
            UnknownExerciseError: No such exercise; the message lists the known ids.
        """
        try:
            return self.specs[exercise_id]
        except KeyError:
            known = ", ".join(self.ids) or "none"
            raise UnknownExerciseError(
                f"unknown exercise {exercise_id!r} (known: {known})"
            ) from None

    def select(self, ids: Iterable[str] = ()) -> list[ExerciseSpec]:
        """The specs of ``ids`` (all when empty), each id once, in the order given."""
        chosen = list(dict.fromkeys(ids)) or self.ids
        return [self.spec(i) for i in chosen]

    def oracle_dir(self, exercise_id: str) -> Path:
        """Where the pristine starter of ``exercise_id`` is."""
        pristine = self.root / ORACLE_DIR / exercise_id
        return pristine if pristine.is_dir() else self.exercises_dir / exercise_id


# The catalog order of DESIGN.md, so listings read like the course.
_ORDER = {
    name: number
    for number, name in enumerate(
        [
            "filter_limit",
            "eager_loading",
            "column_projection",
            "pagination",
            "keyset_pagination",
            "index_lookup",
            "count_exists",
            "aggregate_report",
            "bulk_export",
            "bulk_insert",
            "bulk_update",
            "join_types",
            "window_report",
            "transaction_atomic",
            "read_replica_routing",
            "migration_add_column",
            "migration_add_index",
            "migration_rename_column",
            "migration_change_type",
            "migration_backfill_not_null",
        ]
    )
}


def _has_exercises(path: Path) -> bool:
    exercises = path / "exercises"
    return exercises.is_dir() and any(exercises.glob(f"*/{SPEC_FILE}"))


def discover(explicit: str | os.PathLike[str] | None = None, start: Path | None = None) -> Catalog:
    """Find the catalog.

    In order: ``explicit``; the ``ORMGRADE_CATALOG`` variable; ``start`` and
    its parents (the pytest plugin passes its rootdir); the folder holding the
    installed ``grader`` package (an editable install of this repository); the
    current folder and its parents.

    Raises:
        CatalogError: None of these holds an ``exercises/`` folder with specs.
    """
    if explicit is not None:
        root = Path(explicit).resolve()
        if root.name == "exercises" and _has_exercises(root.parent):
            root = root.parent
        if not _has_exercises(root):
            raise CatalogError(f"{root}: not a catalog (no exercises/<id>/{SPEC_FILE})")
        return Catalog(root)
    env = os.environ.get(CATALOG_ENV)
    if env:
        root = Path(env).resolve()
        if not _has_exercises(root):
            raise CatalogError(
                f"{CATALOG_ENV}={env}: not a catalog (no exercises/<id>/{SPEC_FILE})"
            )
        return Catalog(root)
    if start is not None:
        for candidate in (start.resolve(), *start.resolve().parents):
            if _has_exercises(candidate):
                return Catalog(candidate)
    package_parent = Path(__file__).resolve().parent.parent
    if _has_exercises(package_parent):
        return Catalog(package_parent)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _has_exercises(candidate):
            return Catalog(candidate)
    raise CatalogError(
        "no exercise catalog found: run inside the course repository, "
        f"or pass --catalog DIR (or set {CATALOG_ENV})"
    )
