"""Exercise specs: what to run and what to check, read from ``spec.toml``.

A spec names the files a student may edit, the function to call, the dataset
to seed, the parameters of the call and the checks with their points. Checks
are built by `grader.checks.build_check` from their ``kind``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import SpecError

SPEC_FILE = "spec.toml"
HOOKS_FILE = "grading.py"
KINDS = ("query", "migration")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 1536


@dataclass(frozen=True)
class CheckSpec:
    """One ``[[checks]]`` table of a spec.

    Attributes:
        kind: The check kind (``max_queries``), a key of `grader.checks.CHECK_KINDS`.
        name: The name shown to students; defaults to the kind.
        points: Points the check is worth (a positive integer).
        hint: The instructor's hint shown when the check is not met.
        options: The kind's own settings (``max = 1``, ``table = "users"``).
    """

    kind: str
    name: str
    points: int
    hint: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EquivalentMutant:
    """A mutant of the reference solution that no dataset can tell apart from it.

    Attributes:
        mutant: The mutant's name as `grader.mutation` makes it
            (``drop_order_term@L17``).
        reason: Why it gives the reference's answer on every dataset.
        dialects: The dialects it is equivalent on (empty: all of them).
    """

    mutant: str
    reason: str
    dialects: tuple[str, ...] = ()

    def covers(self, dialect: str) -> bool:
        """Whether the declaration holds on ``dialect``."""
        return not self.dialects or dialect in self.dialects


@dataclass(frozen=True)
class ExerciseSpec:
    """Everything the grader needs to know about one exercise.

    Attributes:
        id: The stable exercise id (the folder name).
        title: One line for tables and reports.
        kind: ``query`` or ``migration``.
        directory: The exercise's folder in the catalog.
        editable: Files (or folders, ending in ``/``) a student may change.
        entry: The function of ``task.py`` the grader calls.
        call: How the function is called (``session``: ``entry(session, **params)``).
        dataset: Name (or inline counts) of the dataset size to grade on.
        scaled_dataset: A second, larger size, for checks that compare growth.
        params: Keyword arguments of the call; the hooks module may add more.
        ordered: Whether the order of a returned sequence matters.
        timeout: Wall-clock seconds one run of the submission may take.
        memory_mb: Address-space limit of the process running the submission.
        checks: The checks, in the order reported.
        options: Any other top-level keys (for exercise kinds that need more).
        equivalent_mutants: Mutants of the reference solution declared
            equivalent to it, each with its reason (``[[equivalent_mutants]]``).
    """

    id: str
    title: str
    kind: str
    directory: Path
    editable: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    entry: str = "run"
    call: str = "session"
    dataset: Any = "small"
    scaled_dataset: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    ordered: bool = True
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB
    options: Mapping[str, Any] = field(default_factory=dict)
    equivalent_mutants: tuple[EquivalentMutant, ...] = ()

    @property
    def max_score(self) -> int:
        """Points the exercise is worth."""
        return sum(c.points for c in self.checks)

    @property
    def hooks_path(self) -> Path | None:
        """The exercise's ``grading.py`` hooks module, if it has one."""
        path = self.directory / HOOKS_FILE
        return path if path.is_file() else None

    @property
    def readme(self) -> Path:
        """The exercise's README (the task as students read it)."""
        return self.directory / "README.md"


_KNOWN_TOP = {
    "id",
    "title",
    "kind",
    "editable",
    "entry",
    "call",
    "dataset",
    "scaled_dataset",
    "params",
    "ordered",
    "timeout",
    "memory_mb",
    "checks",
    "equivalent_mutants",
}


def load_spec(directory: Path) -> ExerciseSpec:
    """Read and validate ``directory/spec.toml``.

    Raises:
        SpecError: The file is missing, is not TOML, or breaks a rule; the
            message names the file and the field.
    """
    path = directory / SPEC_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no spec file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return parse_spec(data, directory, str(path))


def parse_spec(data: Mapping[str, Any], directory: Path, where: str = "spec") -> ExerciseSpec:
    """Build an `ExerciseSpec` from the parsed TOML ``data``."""

    def need(key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in data:
            raise SpecError(f"{where}: missing required key {key!r}")
        value = data[key]
        if not isinstance(value, kind):
            raise SpecError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
        return value

    exercise_id = need("id", str)
    if exercise_id != directory.name:
        raise SpecError(f"{where}: id {exercise_id!r} differs from its folder {directory.name!r}")
    kind = data.get("kind", "query")
    if kind not in KINDS:
        raise SpecError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    editable = need("editable", list)
    if not editable or not all(isinstance(e, str) and e and ".." not in e for e in editable):
        raise SpecError(f"{where}: 'editable' must list relative file names")
    checks = []
    seen: set[str] = set()
    for number, raw in enumerate(need("checks", list), start=1):
        if not isinstance(raw, Mapping) or "kind" not in raw:
            raise SpecError(f"{where}: check #{number} has no 'kind'")
        raw = dict(raw)
        check_kind = str(raw.pop("kind"))
        name = str(raw.pop("name", check_kind))
        if name in seen:
            raise SpecError(f"{where}: two checks are called {name!r}; give one a 'name'")
        seen.add(name)
        points = raw.pop("points", None)
        if not isinstance(points, int) or isinstance(points, bool) or points < 0:
            raise SpecError(f"{where}: check {name!r} needs integer 'points' >= 0")
        hint = str(raw.pop("hint", ""))
        checks.append(CheckSpec(kind=check_kind, name=name, points=points, hint=hint, options=raw))
    timeout = data.get("timeout", DEFAULT_TIMEOUT)
    memory = data.get("memory_mb", DEFAULT_MEMORY_MB)
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise SpecError(f"{where}: 'timeout' must be a positive number of seconds")
    if not isinstance(memory, int) or memory < 64:
        raise SpecError(f"{where}: 'memory_mb' must be an integer >= 64")
    spec = ExerciseSpec(
        equivalent_mutants=_equivalent_mutants(data.get("equivalent_mutants", []), where),
        id=exercise_id,
        title=str(data.get("title", exercise_id)),
        kind=kind,
        directory=directory,
        editable=tuple(editable),
        checks=tuple(checks),
        entry=str(data.get("entry", "run")),
        call=str(data.get("call", "session")),
        dataset=data.get("dataset", "small"),
        scaled_dataset=data.get("scaled_dataset"),
        params=dict(data.get("params", {})),
        ordered=bool(data.get("ordered", True)),
        timeout=float(timeout),
        memory_mb=memory,
        options={k: v for k, v in data.items() if k not in _KNOWN_TOP},
    )
    # Validate check kinds and options now, so a bad spec fails at load time.
    from grader.checks import build_check

    for check in spec.checks:
        build_check(check)
    return spec


#: Dialects a mutant may be declared equivalent on.
DIALECTS = ("sqlite", "postgresql", "mysql")


def _equivalent_mutants(raw: Any, where: str) -> tuple[EquivalentMutant, ...]:
    """The ``[[equivalent_mutants]]`` tables: a mutant name and a reason each."""
    if not isinstance(raw, list):
        raise SpecError(f"{where}: 'equivalent_mutants' must be a list of tables")
    found: list[EquivalentMutant] = []
    for number, entry in enumerate(raw, start=1):
        label = f"{where}: equivalent_mutants #{number}"
        if not isinstance(entry, Mapping):
            raise SpecError(f"{label} is not a table")
        unknown = set(entry) - {"mutant", "reason", "dialects"}
        if unknown:
            raise SpecError(f"{label} has unknown keys: {', '.join(sorted(unknown))}")
        mutant, reason = entry.get("mutant"), entry.get("reason")
        if not isinstance(mutant, str) or not mutant.strip():
            raise SpecError(f"{label} needs 'mutant', the mutant's name")
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            raise SpecError(f"{label} ({mutant}) needs a 'reason' that explains the equivalence")
        dialects = entry.get("dialects", [])
        if not isinstance(dialects, list) or not all(d in DIALECTS for d in dialects):
            raise SpecError(f"{label} ({mutant}): 'dialects' must list some of {DIALECTS}")
        if any(e.mutant == mutant for e in found):
            raise SpecError(f"{label}: {mutant} is declared twice")
        found.append(EquivalentMutant(mutant, reason.strip(), tuple(dialects)))
    return tuple(found)
