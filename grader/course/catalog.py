"""The instructor's catalog: exercise specs, starters, hooks and solutions.

A catalog is a folder holding ``exercises/<id>/`` (and, in the instructor's
repository, ``solutions/<id>/``). The oracle for correctness is the starter:
``exercises/<id>/<file>`` in the instructor's repository, or the pristine copy
under ``.ormgrade/oracle/<id>/`` that a released student repository carries
(there students edit ``exercises/<id>/`` themselves).

In a clone of the instructor's repository the starter is also the file a
student would edit, and an edited oracle grades any answer as correct. So
each exercise records the SHA-256 of its starter files in
``exercises/<id>/starter.sha256`` (``sha256sum`` format), and the oracle is
used only while it matches (`Catalog.oracle_dir`); ``ormgrade
record-starters`` records a starter changed on purpose.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from grader.course.spec import SPEC_FILE, ExerciseSpec, load_spec
from grader.errors import CatalogError, UnknownExerciseError

CATALOG_ENV = "ORMGRADE_CATALOG"
ORACLE_DIR = Path(".ormgrade") / "oracle"
#: The file of an exercise folder recording the SHA-256 of its starter files.
STARTER_CHECKSUMS = "starter.sha256"

# -- how a catalog was found (`Catalog.origin`) ------------------------------------
FROM_OPTION = "--catalog"
FROM_CALLER = "the folder given"
FROM_ENV = f"${CATALOG_ENV}"
FROM_ROOTDIR = "the pytest rootdir"
FROM_CWD = "the current folder"
FROM_PACKAGE = "the folder of the installed grader package"
CATALOG_LINE = "catalog: {root} (found from {origin})"

# -- why an oracle cannot be trusted ------------------------------------------------
ORACLE_CHANGED = (
    "the starter {path} is the oracle every answer is compared with, and it differs from "
    "the starter recorded in {record} ({what}): grading against it would call wrong answers "
    "correct. Students: work in the student repository the course released (`ormgrade "
    "release`), not in a clone of the course repository. Course staff: if the starter was "
    "changed on purpose, run `ormgrade record-starters {exercise}`"
)
ORACLE_UNRECORDED = (
    "{exercise} has no {record}: its starter cannot be told from an edited copy. "
    "Course staff: run `ormgrade record-starters {exercise}`"
)


class OracleError(CatalogError):
    """The starter an exercise is graded against is not the recorded one."""


def _starter_files(folder: Path, editable: Iterable[str]) -> Iterator[str]:
    """The starter files of an exercise, relative POSIX paths under ``folder``, sorted."""
    names: list[str] = []
    for name in editable:
        path = folder / name.rstrip("/")
        if name.endswith("/"):
            if path.is_dir():
                names += [
                    p.relative_to(folder).as_posix()
                    for p in path.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
                ]
        elif path.is_file():
            names.append(name)
    yield from sorted(names)


def _digest(path: Path) -> str:
    # CRLF read as LF: a Windows checkout is not an edit (as in the release manifest).
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def starter_checksums(folder: Path, editable: Iterable[str]) -> dict[str, str]:
    """SHA-256 of each starter file under ``folder``, by relative POSIX path."""
    return {name: _digest(folder / name) for name in _starter_files(folder, editable)}


def read_checksums(path: Path) -> dict[str, str]:
    """The checksums of a ``sha256sum``-format file (``<hex>  <path>`` lines).

    Raises:
        CatalogError: A line that is not a checksum line.
    """
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise CatalogError(f"{path}:{number}: not a '<sha256>  <file>' line")
        found[name.lstrip("*")] = digest
    return found


def format_checksums(checksums: dict[str, str]) -> str:
    """``checksums`` in ``sha256sum`` format (``sha256sum -c`` reads it back)."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))


@dataclass(frozen=True)
class Catalog:
    """The exercises one grading run draws its specs and oracles from.

    Attributes:
        root: The folder that holds ``exercises/``.
        origin: How it was found (``--catalog``, the current folder, …).
    """

    root: Path
    origin: str = field(default=FROM_CALLER, compare=False)

    @property
    def description(self) -> str:
        """Which catalog this is and how it was found, in one line."""
        return CATALOG_LINE.format(root=self.root, origin=self.origin)

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
        """Where the pristine starter of ``exercise_id`` is, checked against its record.

        Raises:
            OracleError: The starter differs from ``starter.sha256`` (an edited
                copy must never serve as the oracle), or nothing is recorded.
        """
        pristine = self.root / ORACLE_DIR / exercise_id
        folder = pristine if pristine.is_dir() else self.exercises_dir / exercise_id
        problem = self.oracle_problem(exercise_id, folder)
        if problem is not None:
            raise OracleError(problem)
        return folder

    def oracle_problem(self, exercise_id: str, folder: Path) -> str | None:
        """Why the starter files in ``folder`` cannot serve as the oracle, or None."""
        spec = self.spec(exercise_id)
        record = spec.directory / STARTER_CHECKSUMS
        shown = record.relative_to(self.root).as_posix()
        if not record.is_file():
            return ORACLE_UNRECORDED.format(exercise=exercise_id, record=shown)
        recorded = read_checksums(record)
        actual = starter_checksums(folder, spec.editable)
        if actual == recorded:
            return None
        changed = sorted(n for n in recorded.keys() & actual.keys() if recorded[n] != actual[n])
        added = sorted(actual.keys() - recorded.keys())
        gone = sorted(recorded.keys() - actual.keys())
        first = (changed or added or gone)[0]
        what = "edited" if changed else "added" if added else "missing"
        path = (folder / first).relative_to(self.root).as_posix()
        return ORACLE_CHANGED.format(
            path=path, record=shown, what=f"{first} {what}", exercise=exercise_id
        )

    def record_starter(self, exercise_id: str) -> Path:
        """Write ``starter.sha256`` of ``exercise_id`` from its starter files as they are."""
        spec = self.spec(exercise_id)
        pristine = self.root / ORACLE_DIR / exercise_id
        folder = pristine if pristine.is_dir() else spec.directory
        target = spec.directory / STARTER_CHECKSUMS
        target.write_text(format_checksums(starter_checksums(folder, spec.editable)), "utf-8")
        return target


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
    its parents (the pytest plugin passes its rootdir); the current folder and
    its parents; last, the folder holding the installed ``grader`` package (an
    editable install of a course repository). The folder a command runs in
    always wins over the installed package, so a command run in one checkout
    never grades against another one; `Catalog.origin` says which was used.

    Raises:
        CatalogError: None of these holds an ``exercises/`` folder with specs.
    """
    if explicit is not None:
        root = Path(explicit).resolve()
        if root.name == "exercises" and _has_exercises(root.parent):
            root = root.parent
        if not _has_exercises(root):
            raise CatalogError(f"{root}: not a catalog (no exercises/<id>/{SPEC_FILE})")
        return Catalog(root, FROM_OPTION)
    env = os.environ.get(CATALOG_ENV)
    if env:
        root = Path(env).resolve()
        if not _has_exercises(root):
            raise CatalogError(
                f"{CATALOG_ENV}={env}: not a catalog (no exercises/<id>/{SPEC_FILE})"
            )
        return Catalog(root, FROM_ENV)
    if start is not None:
        for candidate in (start.resolve(), *start.resolve().parents):
            if _has_exercises(candidate):
                return Catalog(candidate, FROM_ROOTDIR)
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _has_exercises(candidate):
            return Catalog(candidate, FROM_CWD)
    package_parent = Path(__file__).resolve().parents[2]  # grader/course/catalog.py
    if _has_exercises(package_parent):
        return Catalog(package_parent, FROM_PACKAGE)
    raise CatalogError(
        "no exercise catalog found: run inside the course repository, "
        f"or pass --catalog DIR (or set {CATALOG_ENV})"
    )
