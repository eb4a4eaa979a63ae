"""Exercise specs: what to run and what to check, read from ``spec.toml``.

A spec names the files a student may edit, the function to call, the dataset
to seed, the parameters of the call and the checks with their points. Checks
are built by `grader.checks.build_check` from their ``kind``.

The format is declared once, next to the fields it fills: each key of
``spec.toml`` is a field of `ExerciseSpec` (or of `CheckSpec` inside
``[[checks]]``) whose metadata holds its `Rule`. The loader refuses unknown
keys, never coerces a value (``ordered = "yes"`` is refused, not made true)
and names in every error the file, the field's dotted path
(``checks[2].clause``), the expected and the found value. Adding a key is
adding one field with `spec_key`.
"""

from __future__ import annotations

import ast
import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from grader.checks.base import CheckSpec
from grader.errors import SpecError, SpecFieldError
from grader.rule import (
    BOOLEAN,
    DID_YOU_MEAN,
    IDENTIFIER,
    MISSING_KEY,
    NAME,
    POSITIVE_SECONDS,
    RULE,
    TABLE,
    UNKNOWN_KEY,
    WRONG_VALUE,
    Rule,
    _is_int,
    describe,
    one_of,
    rules_of,
    spec_key,
    suggestion,
)

SPEC_FILE = "spec.toml"
HOOKS_FILE = "grading.py"
KINDS = ("query", "migration")
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 1536

#: The hooks a ``grading.py`` may define, per exercise kind: name -> (signature,
#: what the grader does with it). ``ormgrade new`` writes them into a new
#: exercise's ``grading.py`` and ``ormgrade checks`` lists them.
HOOK_DOCS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "query": {
        "params": (
            "params(connection: Connection, rng: Random, spec: ExerciseSpec) -> dict[str, Any]",
            "the keyword arguments of the call for this seed, read from the seeded database "
            "(merged over the spec's [params]); draw them so that every part of a right "
            "answer changes the result",
        ),
        "prepare": (
            "prepare(engines: Mapping[str, Engine], module: ModuleType, job: Any) -> None",
            "runs in the grading process after the submission is imported and before the "
            "call (for example: create the indexes the submission's models declare)",
        ),
        "snapshot": (
            "snapshot(connection: Connection, job: Any) -> Any",
            "the state of the database after the call (write exercises); correct_result "
            "compares it with the starter's",
        ),
        "report": (
            "report(engines: Mapping[str, Engine], job: Any, log: QueryLog) -> dict[str, Any]",
            "further figures of the run, for the checks that read them",
        ),
        "fault_after_rows": (
            "fault_after_rows(params: Mapping[str, Any], rng: Random) -> int | None",
            "the written row at which the fault run fails (atomic_under_fault); None: "
            "the spec's fault_after_rows",
        ),
    },
    "migration": {
        "rows": (
            "rows(rng: Random) -> dict[str, list[dict[str, Any]]]",
            "the rows of each table of the starter's database, in insertion order, put "
            "in before the student's revision runs; make them awkward (NULLs, quotes, "
            "accents, empty strings)",
        ),
        "lookup": (
            "lookup(connection: Connection) -> tuple[str, dict[str, Any]]",
            "a statement and its parameters whose plan lookup_uses_index judges after the upgrade",
        ),
        "probe_row": (
            "probe_row() -> dict[str, Any]",
            "a row of default_for_new_rows's table as the code deployed before the migration "
            "writes it (without the new column), inserted after the upgrade and rolled back",
        ),
    },
}
#: The hooks a ``grading.py`` may define, per exercise kind (public names only;
#: helpers start with ``_``, constants are upper case).
HOOKS: Mapping[str, tuple[str, ...]] = {kind: tuple(h) for kind, h in HOOK_DOCS.items()}

#: A public function of ``grading.py`` that is no hook of the exercise's kind.
UNKNOWN_HOOK = (
    "{path}: unknown hook {name!r}{suggestion}; hooks of a {kind} exercise: {known} "
    "(helpers of the module start with '_')"
)
#: Two checks with the same name.
DUPLICATE_CHECK = "two checks are called {name!r}; give one a 'name'"


def _is_relative_name(value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(value)
        and not value.startswith(("/", "\\"))
        and ".." not in Path(value).parts
    )


def _is_dataset(value: Any) -> bool:
    from grader.databases.dataset import SIZES

    return (isinstance(value, str) and value in SIZES) or isinstance(value, dict)


DATASET = Rule(
    "a dataset size name (tiny, small, medium, large, export…) or a table of counts",
    _is_dataset,
)
EDITABLE = Rule(
    'a non-empty array of relative file names (folders end in "/")',
    lambda v: isinstance(v, list) and bool(v) and all(_is_relative_name(e) for e in v),
    required=True,
)
CHECKS = Rule(
    "an array of [[checks]] tables",
    lambda v: isinstance(v, list) and all(isinstance(c, dict) for c in v),
    required=True,
)


@dataclass(frozen=True)
class EquivalentMutant:
    """A mutant of the reference solution that no dataset can tell apart from it.

    Attributes:
        mutant: The mutant's name as `grader.authoring.mutation` makes it
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


STARTER_FAILS = Rule(
    "an array of check names (the checks the starter must fail)",
    lambda v: isinstance(v, list) and all(isinstance(n, str) and n.strip() for n in v),
)
#: A ``starter_fails`` entry that names no check of the spec.
UNKNOWN_STARTER_FAIL = "no check of the spec is called {name!r}{suggestion}; checks: {known}"
#: A ``starter_fails`` entry that names a gate check (the starter, the oracle, passes it).
GATE_STARTER_FAIL = (
    "{name!r} is the gate: the starter is the oracle and always passes it; "
    "name the checks it is slow at"
)

#: The dialects an exercise may run on, and a mutant may be declared equivalent on.
DIALECTS = ("sqlite", "postgresql", "mysql")
#: The keys of one ``[[equivalent_mutants]]`` table.
EQUIVALENT_KEYS = ("mutant", "reason", "dialects")


ON_DIALECTS = Rule(
    f"a non-empty array of distinct dialects among {', '.join(DIALECTS)}",
    lambda v: (
        isinstance(v, list) and bool(v) and all(d in DIALECTS for d in v) and len(set(v)) == len(v)
    ),
)
DIALECTS_REASON = Rule(
    "a sentence of at least 20 characters saying why the other dialects cannot run it",
    lambda v: isinstance(v, str) and len(v.strip()) >= 20,
)
#: ``dialects`` without the reason the other dialects are left out, or the reverse.
DIALECTS_WITHOUT_REASON = "dialects and dialects_reason go together: give both or neither"
#: Why an exercise is left out on a dialect (a report warning, a pytest skip reason).
NOT_ON_DIALECT = "{id} is not graded on {dialect} (only on {dialects}): {reason}"

#: Problems of one ``[[equivalent_mutants]]`` table.
MUTANT_NAME_MISSING = "needs 'mutant', the mutant's name as verify --mutants prints it"
MUTANT_REASON_MISSING = "needs a 'reason' of at least 20 characters that explains the equivalence"
MUTANT_DIALECTS_WRONG = "'dialects' must list some of {dialects}, found {found}"
MUTANT_UNKNOWN_KEYS = "unknown keys: {keys} (known: mutant, reason, dialects)"
MUTANT_DECLARED_TWICE = "{mutant} is declared twice"

EQUIVALENT_MUTANTS = Rule(
    "an array of [[equivalent_mutants]] tables",
    lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v),
)


@dataclass(frozen=True)
class ExerciseSpec:
    """Everything the grader needs to know about one exercise.

    Attributes:
        id: The stable exercise id (the folder name).
        title: One line for tables and reports (defaults to the id).
        kind: ``query`` or ``migration``.
        directory: The exercise's folder in the catalog (not a spec key).
        editable: Files (or folders, ending in ``/``) a student may change.
        checks: The checks, in the order reported.
        entry: The function of ``task.py`` the grader calls.
        call: How the function is called (``session``: ``entry(session, **params)``).
        dataset: Name (or inline counts) of the dataset size to grade on.
        scaled_dataset: A second, larger size, for checks that compare growth.
        params: Keyword arguments of the call; the hooks module may add more.
        ordered: Whether the order of a returned sequence matters.
        timeout: Wall-clock seconds one run of the submission may take.
        memory_mb: Address-space limit of the process running the submission.
        fault_after_rows: The written row at which a fault run fails (atomicity checks).
        bench_dataset: The size ``bench/run.py`` times the exercise on.
        workers: Processes calling the submission at once (concurrency checks).
        calls_per_worker: Calls each of those workers makes.
        equivalent_mutants: Mutants of the reference solution declared
            equivalent to it, each with its reason (``[[equivalent_mutants]]``).
        dialects: The dialects the exercise runs on (empty: all of them).
        dialects_reason: Why the other dialects cannot express the exercise.
        starter_fails: The checks the starter must fail: what the exercise
            teaches. ``ormgrade verify`` fails when the starter passes one.
    """

    id: str = spec_key(Rule(IDENTIFIER.expected, IDENTIFIER.accepts, required=True))
    title: str = spec_key(NAME)
    kind: str = spec_key(one_of(*KINDS), default="query")
    directory: Path = Path(".")
    editable: tuple[str, ...] = spec_key(EDITABLE, default=())
    checks: tuple[CheckSpec, ...] = spec_key(CHECKS, default=())
    entry: str = spec_key(IDENTIFIER, default="run")
    call: str = spec_key(IDENTIFIER, default="session")
    dataset: Any = spec_key(DATASET, default="small")
    scaled_dataset: Any = spec_key(DATASET, default=None)
    params: Mapping[str, Any] = spec_key(TABLE, default_factory=dict)
    ordered: bool = spec_key(BOOLEAN, default=True)
    timeout: float = spec_key(POSITIVE_SECONDS, default=DEFAULT_TIMEOUT)
    memory_mb: int = spec_key(
        Rule("an integer >= 64 (MiB)", lambda v: _is_int(v) and v >= 64), default=DEFAULT_MEMORY_MB
    )
    fault_after_rows: int | None = spec_key(
        Rule("an integer >= 1", lambda v: _is_int(v) and v >= 1), default=None
    )
    bench_dataset: str = spec_key(DATASET, default="large")
    workers: int | None = spec_key(
        Rule("an integer >= 2", lambda v: _is_int(v) and v >= 2), default=None
    )
    calls_per_worker: int | None = spec_key(
        Rule("an integer >= 1", lambda v: _is_int(v) and v >= 1), default=None
    )
    equivalent_mutants: tuple[EquivalentMutant, ...] = spec_key(EQUIVALENT_MUTANTS, default=())
    dialects: tuple[str, ...] = spec_key(ON_DIALECTS, default=())
    dialects_reason: str = spec_key(DIALECTS_REASON, default="")

    def runs_on(self, dialect: str) -> bool:
        """Whether the exercise is graded on ``dialect`` (``sqlite``, ``postgresql``, ``mysql``)."""
        return not self.dialects or dialect in self.dialects

    def not_on(self, dialect: str) -> str:
        """Why the exercise is left out on ``dialect`` (`NOT_ON_DIALECT`)."""
        return NOT_ON_DIALECT.format(
            id=self.id,
            dialect=dialect,
            dialects=", ".join(self.dialects),
            reason=self.dialects_reason,
        )

    starter_fails: tuple[str, ...] = spec_key(STARTER_FAILS, default=())

    @property
    def max_score(self) -> int:
        """Points the exercise is worth."""
        return sum(c.points for c in self.checks)

    @property
    def options(self) -> Mapping[str, Any]:
        """The keys that only some exercise kinds read, as the runs receive them."""
        found: dict[str, Any] = {"bench_dataset": self.bench_dataset}
        for key in ("fault_after_rows", "workers", "calls_per_worker"):
            if getattr(self, key) is not None:
                found[key] = getattr(self, key)
        return found

    @property
    def hooks_path(self) -> Path | None:
        """The exercise's ``grading.py`` hooks module, if it has one."""
        path = self.directory / HOOKS_FILE
        return path if path.is_file() else None

    @property
    def readme(self) -> Path:
        """The exercise's README (the task as students read it)."""
        return self.directory / "README.md"


#: The top-level keys of ``spec.toml``.
SPEC_KEYS = tuple(f.name for f in fields(ExerciseSpec) if RULE in f.metadata)


# -- reading --------------------------------------------------------------------


def _read_table(
    data: Mapping[str, Any],
    rules: Mapping[str, Rule],
    path: str,
    errors: list[str],
    others: Sequence[str] = (),
) -> dict[str, Any]:
    """The values of ``data`` that ``rules`` accept; each problem appended to ``errors``.

    ``others`` are keys of the same table read elsewhere (a check's options):
    a missing key close to one of them is reported as its misspelling.
    """
    values: dict[str, Any] = {}
    for key, value in data.items():
        rule = rules.get(key)
        if rule is None:
            problem = UNKNOWN_KEY.format(
                key=key, suggestion=suggestion(key, list(rules)), known=", ".join(rules)
            )
            errors.append(f"{path}{key}: {problem}")
        elif not rule.accepts(value):
            problem = WRONG_VALUE.format(expected=rule.expected, found=describe(value))
            errors.append(f"{path}{key}: {problem}")
        else:
            values[key] = value
    for key, rule in rules.items():
        if rule.required and key not in data:
            problem = MISSING_KEY.format(expected=rule.expected)
            close = difflib.get_close_matches(key, others, n=1, cutoff=0.6)
            if close:
                problem += f"; found {close[0]!r}" + DID_YOU_MEAN.format(match=key)
            errors.append(f"{path}{key}: {problem}")
    return values


def load_spec(directory: Path) -> ExerciseSpec:
    """Read and validate ``directory/spec.toml`` (and the hook names of its ``grading.py``).

    Raises:
        SpecError: The file is missing, is not TOML, or breaks a rule; the
            message names the file, the field, the expected and the found value.
    """
    path = directory / SPEC_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no spec file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    spec = parse_spec(data, directory, str(path))
    if spec.hooks_path is not None:
        check_hooks(spec.hooks_path, spec.kind)
    return spec


def parse_spec(data: Mapping[str, Any], directory: Path, where: str = "spec") -> ExerciseSpec:
    """Build an `ExerciseSpec` from the parsed TOML ``data``.

    Raises:
        SpecError: Every problem found, one line each, as ``where: field: problem``.
    """
    errors: list[str] = []
    values = _read_table(data, rules_of(ExerciseSpec), "", errors)
    if "id" in values and values["id"] != directory.name:
        errors.append(f"id: {values['id']!r} differs from its folder {directory.name!r}")
    for key in ("dataset", "scaled_dataset", "bench_dataset"):
        if isinstance(values.get(key), dict):
            from grader.databases.dataset import size_named

            try:
                size_named(values[key])
            except SpecError as exc:
                errors.append(f"{key}: {exc}")
    checks = tuple(_read_checks(values.get("checks", []), errors))
    if ("dialects" in values) != ("dialects_reason" in values):
        errors.append(f"dialects: {DIALECTS_WITHOUT_REASON}")
    if errors:
        raise SpecError("\n".join(f"{where}: {e}" for e in errors))
    values.update(directory=directory, checks=checks, editable=tuple(values["editable"]))
    values["starter_fails"] = tuple(values.get("starter_fails", ()))
    values["equivalent_mutants"] = _equivalent_mutants(values.get("equivalent_mutants", []), where)
    values.setdefault("title", values["id"])
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    if "dialects" in values:
        values["dialects"] = tuple(values["dialects"])
        values["dialects_reason"] = values["dialects_reason"].strip()
    spec = ExerciseSpec(**values)
    # Each check kind reads its own options: build them now, so a bad spec fails at load time.
    from grader.checks import build_check

    gates = set()
    for number, check in enumerate(spec.checks):
        try:
            if build_check(check).gate:
                gates.add(check.name)
        except SpecFieldError as exc:
            raise SpecError(
                f"{where}: checks[{number}].{exc.field} (check {check.name!r}): {exc.problem}"
            ) from None
        except SpecError as exc:
            raise SpecError(f"{where}: checks[{number}] (check {check.name!r}): {exc}") from None
    names = [c.name for c in spec.checks]
    for number, name in enumerate(spec.starter_fails):
        if name in gates:
            problem = GATE_STARTER_FAIL.format(name=name)
        elif name not in names:
            problem = UNKNOWN_STARTER_FAIL.format(
                name=name, suggestion=suggestion(name, names), known=", ".join(names)
            )
        else:
            continue
        raise SpecError(f"{where}: starter_fails[{number}]: {problem}")
    return spec


def _read_checks(tables: list[dict[str, Any]], errors: list[str]) -> list[CheckSpec]:
    rules = rules_of(CheckSpec)
    checks: list[CheckSpec] = []
    seen: set[str] = set()
    for number, table in enumerate(tables):
        path = f"checks[{number}]."
        common = {k: v for k, v in table.items() if k in rules}
        found = len(errors)
        options = {k: v for k, v in table.items() if k not in rules}
        values = _read_table(common, rules, path, errors, others=list(options))
        if len(errors) > found:
            continue
        values.setdefault("name", values["kind"])
        if values["name"] in seen:
            errors.append(f"{path}name: {DUPLICATE_CHECK.format(name=values['name'])}")
            continue
        seen.add(values["name"])
        checks.append(CheckSpec(**values, options=options))
    return checks


def check_hooks(path: Path, kind: str) -> None:
    """Refuse a public function of ``grading.py`` that is not a hook of ``kind``.

    The module is read, not run: a misspelt hook (``param`` for ``params``)
    would otherwise be ignored and the exercise graded without it.

    Raises:
        SpecError: The file is not Python, or defines an unknown hook.
    """
    known = HOOKS.get(kind, ())
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid Python: {exc}") from None
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        if node.name.startswith("_") or node.name in known:
            continue
        raise SpecError(
            UNKNOWN_HOOK.format(
                path=path,
                name=node.name,
                suggestion=suggestion(node.name, known),
                kind=kind,
                known=", ".join(known),
            )
        )


def _equivalent_mutants(tables: list[dict[str, Any]], where: str) -> tuple[EquivalentMutant, ...]:
    """The ``[[equivalent_mutants]]`` tables: a mutant's name and the reason it is equivalent.

    Raises:
        SpecError: Every table's problems, each naming ``equivalent_mutants[N]``.
    """
    errors: list[str] = []
    found: list[EquivalentMutant] = []
    for number, table in enumerate(tables):
        path = f"{where}: equivalent_mutants[{number}]"
        mutant, reason = table.get("mutant"), table.get("reason")
        dialects = table.get("dialects", [])
        unknown = sorted(set(table) - set(EQUIVALENT_KEYS))
        if unknown:
            errors.append(f"{path}: {MUTANT_UNKNOWN_KEYS.format(keys=', '.join(unknown))}")
        if not isinstance(mutant, str) or not mutant.strip():
            errors.append(f"{path}.mutant: {MUTANT_NAME_MISSING}")
            continue
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            errors.append(f"{path}.reason ({mutant}): {MUTANT_REASON_MISSING}")
        if not isinstance(dialects, list) or not all(d in DIALECTS for d in dialects):
            problem = MUTANT_DIALECTS_WRONG.format(
                dialects=", ".join(DIALECTS), found=describe(dialects)
            )
            errors.append(f"{path}.dialects ({mutant}): {problem}")
        if any(e.mutant == mutant for e in found):
            errors.append(f"{path}.mutant: {MUTANT_DECLARED_TWICE.format(mutant=mutant)}")
        if isinstance(reason, str) and isinstance(dialects, list):
            found.append(EquivalentMutant(mutant, reason.strip(), tuple(dialects)))
    if errors:
        raise SpecError("\n".join(errors))
    return tuple(found)
