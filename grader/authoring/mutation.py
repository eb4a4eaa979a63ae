"""Mutation analysis of the catalog: every wrong variant of a reference must be caught.

A mutant is the reference solution with one small, plausible mistake made by
rewriting its code with `ast`: a filter predicate dropped, a comparison
flipped, an ORDER BY term dropped, an outer join made inner (or back), LIMIT
or OFFSET off by one, DISTINCT dropped, ``and_`` for ``or_``, one aggregate
function for another; in a migration revision the data step dropped, a
rename turned into a drop and an add, the downgrade emptied, an index made
unique (or not). Each mutant is graded like a submission, against the
starter as oracle, on several seeds. A mutant that earns full marks on every
seed survives: the data (or the checks) cannot tell that mistake from the
right answer. An exercise passes when every mutant is killed or is declared
equivalent in its spec (``[[equivalent_mutants]]``) with a reason.
"""

from __future__ import annotations

import ast
import difflib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from grader.course.catalog import Catalog
from grader.course.spec import ExerciseSpec
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import ExerciseResult

#: Seeds every mutant is graded on (until it is killed).
DEFAULT_SEEDS = (20241125, 7, 424242)
#: Mutants graded at once (each grading runs its own child processes).
MUTANT_WORKERS = 2

#: Query methods whose arguments are conditions joined by AND.
FILTER_METHODS = frozenset({"where", "filter", "having"})
#: Condition helpers whose arguments are conditions.
CONDITION_FUNCTIONS = frozenset({"and_", "or_"})
#: The comparison each comparison is flipped to.
FLIPPED = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
#: The aggregate each aggregate function is swapped for.
SWAPPED_AGGREGATE = {"count": "sum", "sum": "count", "avg": "sum", "min": "max", "max": "min"}


@dataclass(frozen=True)
class Mutant:
    """One rewritten reference solution.

    Attributes:
        exercise_id: The exercise.
        name: ``operator@L<line>`` (``.2``, ``.3`` … when one line gives several);
            the name an ``[[equivalent_mutants]]`` entry refers to.
        operator: The kind of mistake (``drop_predicate``, ``flip_comparison`` …).
        description: The change, in words.
        path: The rewritten file, relative to the solution's folder.
        source: The rewritten file's text.
        diff: A unified diff from the reference to the mutant.
    """

    exercise_id: str
    name: str
    operator: str
    description: str
    path: str
    source: str
    diff: str


# -- making mutants ----------------------------------------------------------------------


@dataclass
class _Edit:
    operator: str
    description: str
    line: int
    apply: Callable[[], None]
    undo: Callable[[], None]


def _method(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _function_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _replace_in_parent(
    parent: ast.AST, child: ast.AST, new: ast.AST
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Functions that put ``new`` where ``child`` is in ``parent``, and back."""
    for name, value in ast.iter_fields(parent):
        if value is child:

            def apply(name: str = name) -> None:
                setattr(parent, name, new)

            def undo(name: str = name) -> None:
                setattr(parent, name, child)

            return apply, undo
        if isinstance(value, list) and any(v is child for v in value):
            index = next(i for i, v in enumerate(value) if v is child)

            def apply_item(value: list[ast.AST] = value, index: int = index) -> None:
                value[index] = new

            def undo_item(value: list[ast.AST] = value, index: int = index) -> None:
                value[index] = child

            return apply_item, undo_item
    raise ValueError("child not found in parent")


def _remove_arg(call: ast.Call, index: int) -> tuple[Callable[[], None], Callable[[], None]]:
    original = list(call.args)

    def apply() -> None:
        call.args = original[:index] + original[index + 1 :]

    def undo() -> None:
        call.args = list(original)

    return apply, undo


def _set_attr(
    node: ast.AST, name: str, value: object
) -> tuple[Callable[[], None], Callable[[], None]]:
    original = getattr(node, name)

    def apply() -> None:
        setattr(node, name, value)

    def undo() -> None:
        setattr(node, name, original)

    return apply, undo


def _code(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _query_edits(tree: ast.Module) -> Iterator[_Edit]:
    """The edits of the query operators, in source order."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    annotations = {
        id(inner)
        for node in ast.walk(tree)
        for annotation in (getattr(node, "returns", None), getattr(node, "annotation", None))
        if annotation is not None
        for inner in ast.walk(annotation)
    }
    for node in ast.walk(tree):
        if id(node) in annotations:
            continue
        line = getattr(node, "lineno", 0)
        method = _method(node)
        function = _function_name(node)
        if isinstance(node, ast.Call) and (
            method in FILTER_METHODS or function in CONDITION_FUNCTIONS
        ):
            assert isinstance(node, ast.Call)
            if len(node.args) >= 2:
                for i, arg in enumerate(node.args):
                    apply, undo = _remove_arg(node, i)
                    yield _Edit("drop_predicate", f"drop `{_code(arg)}`", line, apply, undo)
            elif len(node.args) == 1 and method in FILTER_METHODS:
                assert isinstance(node.func, ast.Attribute)
                apply, undo = _replace_in_parent(parents[node], node, node.func.value)
                yield _Edit(
                    "drop_predicate", f"drop `.{method}({_code(node.args[0])})`", line, apply, undo
                )
        if isinstance(node, ast.Call) and method == "any" and len(node.args) == 1:
            apply, undo = _remove_arg(node, 0)
            yield _Edit(
                "drop_predicate", f"drop `{_code(node.args[0])}` of .any()", line, apply, undo
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
            for kept in (node.left, node.right):
                dropped = node.right if kept is node.left else node.left
                apply, undo = _replace_in_parent(parents[node], node, kept)
                yield _Edit("drop_predicate", f"drop `{_code(dropped)}`", line, apply, undo)
            other = ast.BitOr() if isinstance(node.op, ast.BitAnd) else ast.BitAnd()
            apply, undo = _set_attr(node, "op", other)
            yield _Edit("swap_and_or", "swap `&` and `|`", line, apply, undo)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            flipped = FLIPPED.get(type(node.ops[0]))
            if flipped is not None:
                apply, undo = _set_attr(node, "ops", [flipped()])
                before = _code(node)
                yield _Edit("flip_comparison", f"flip `{before}`", line, apply, undo)
        if isinstance(node, ast.Call) and method == "order_by":
            assert isinstance(node.func, ast.Attribute)
            if len(node.args) >= 2:
                for i, arg in enumerate(node.args):
                    apply, undo = _remove_arg(node, i)
                    yield _Edit(
                        "drop_order_term", f"drop ORDER BY `{_code(arg)}`", line, apply, undo
                    )
            elif node.args:
                apply, undo = _replace_in_parent(parents[node], node, node.func.value)
                yield _Edit("drop_order_term", "drop the ORDER BY", line, apply, undo)
        if isinstance(node, ast.Call) and method in ("join", "outerjoin"):
            assert isinstance(node.func, ast.Attribute)
            other_method = "join" if method == "outerjoin" else "outerjoin"
            isouter = [k for k in node.keywords if k.arg in ("isouter", "full")]
            if isouter:
                inner = [k for k in node.keywords if k not in isouter]
                apply, undo = _set_attr(node, "keywords", inner)
                yield _Edit("swap_join_kind", "outer join made inner", line, apply, undo)
            elif not _is_string_join(node):
                apply, undo = _set_attr(node.func, "attr", other_method)
                yield _Edit(
                    "swap_join_kind", f"`.{method}` made `.{other_method}`", line, apply, undo
                )
        if isinstance(node, ast.Call) and method in ("limit", "offset") and len(node.args) == 1:
            for delta, op in ((1, ast.Add()), (-1, ast.Sub())):
                bumped = ast.BinOp(left=node.args[0], op=op, right=ast.Constant(1))
                apply, undo = _set_attr(node, "args", [bumped])
                yield _Edit(
                    f"{method}_off_by_one", f"{method.upper()} {delta:+d}", line, apply, undo
                )
        if isinstance(node, ast.Call) and method == "distinct" and not node.args:
            assert isinstance(node.func, ast.Attribute)
            apply, undo = _replace_in_parent(parents[node], node, node.func.value)
            yield _Edit("drop_distinct", "drop DISTINCT", line, apply, undo)
        if isinstance(node, ast.Call) and function == "distinct" and len(node.args) == 1:
            apply, undo = _replace_in_parent(parents[node], node, node.args[0])
            yield _Edit("drop_distinct", "drop DISTINCT", line, apply, undo)
        if isinstance(node, ast.Name) and node.id in ("and_", "or_"):
            other_name = "or_" if node.id == "and_" else "and_"
            apply, undo = _set_attr(node, "id", other_name)
            yield _Edit("swap_and_or", f"`{node.id}` made `{other_name}`", line, apply, undo)
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SWAPPED_AGGREGATE
            and isinstance(node.value, ast.Name)
            and node.value.id == "func"
        ):
            swapped = SWAPPED_AGGREGATE[node.attr]
            apply, undo = _set_attr(node, "attr", swapped)
            yield _Edit(
                "swap_aggregate", f"func.{node.attr} made func.{swapped}", line, apply, undo
            )


def _is_string_join(node: ast.Call) -> bool:
    """``", ".join(...)``: Python's str.join, not a SQL join."""
    assert isinstance(node.func, ast.Attribute)
    return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _call_statements(body: list[ast.stmt]) -> Iterator[tuple[list[ast.stmt], int, ast.Call]]:
    """Every statement of ``body`` that is a call (also inside ``with``, ``for``, ``if``)."""
    for i, statement in enumerate(body):
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            yield body, i, statement.value
        if isinstance(statement, ast.With | ast.For | ast.If):
            yield from _call_statements(statement.body)
        if isinstance(statement, ast.For | ast.If):
            yield from _call_statements(statement.orelse)


def _with_statements(body: list[ast.stmt]) -> Iterator[tuple[list[ast.stmt], int, ast.With]]:
    """Every ``with`` statement of ``body``, nested ones included."""
    for i, statement in enumerate(body):
        if isinstance(statement, ast.With):
            yield body, i, statement
        if isinstance(statement, ast.With | ast.For | ast.If):
            yield from _with_statements(statement.body)


def _replace_statements(
    body: list[ast.stmt], index: int, new: list[ast.stmt]
) -> tuple[Callable[[], None], Callable[[], None]]:
    original = list(body)

    def apply() -> None:
        body[:] = original[:index] + new + original[index + 1 :]

    def undo() -> None:
        body[:] = original

    return apply, undo


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _migration_edits(tree: ast.Module) -> Iterator[_Edit]:
    """The edits of the migration operators."""
    upgrade = _function(tree, "upgrade")
    downgrade = _function(tree, "downgrade")
    if upgrade is not None:
        for body, index, block in list(_with_statements(upgrade.body)):
            if any(_method(item.context_expr) == "autocommit_block" for item in block.items):
                apply, undo = _replace_statements(body, index, list(block.body))
                yield _Edit(
                    "drop_autocommit_block",
                    "autocommit block dropped: its statements join the migration's transaction",
                    block.lineno,
                    apply,
                    undo,
                )
        for body, index, call in list(_call_statements(upgrade.body)):
            method = _method(call)
            line = call.lineno
            if method == "execute":
                apply, undo = _replace_statements(body, index, [ast.Pass()])
                yield _Edit("drop_data_step", "drop the data step of upgrade()", line, apply, undo)
            if method == "alter_column" and _keyword(call, "new_column_name") is not None:
                assert isinstance(call.func, ast.Attribute)
                old_name = call.args[0]
                new_name = _keyword(call, "new_column_name")
                assert new_name is not None
                existing = _keyword(call, "existing_type")
                column_type = "sa.String()" if existing is None else ast.unparse(existing)
                receiver = ast.unparse(call.func.value)
                drop_add = ast.parse(
                    f"{receiver}.drop_column({ast.unparse(old_name)})\n"
                    f"{receiver}.add_column(sa.Column({ast.unparse(new_name)}, "
                    f"{column_type}, nullable=True))"
                ).body
                apply, undo = _replace_statements(body, index, drop_add)
                yield _Edit(
                    "rename_as_drop_add", "rename made a drop and an add", line, apply, undo
                )
            if method == "alter_column" and isinstance(_keyword(call, "nullable"), ast.Constant):
                apply, undo = _replace_statements(body, index, [ast.Pass()])
                yield _Edit("drop_not_null_step", "drop the SET NOT NULL step", line, apply, undo)
            if method == "create_index":
                unique = _keyword(call, "unique")
                was_unique = isinstance(unique, ast.Constant) and bool(unique.value)
                kept = [k for k in call.keywords if k.arg != "unique"]
                flipped = [*kept, ast.keyword(arg="unique", value=ast.Constant(not was_unique))]
                apply, undo = _set_attr(call, "keywords", flipped)
                wanted = "non-unique" if was_unique else "unique"
                yield _Edit("swap_index_unique", f"index made {wanted}", line, apply, undo)
                if _keyword(call, "postgresql_concurrently") is not None:
                    plain = [k for k in call.keywords if k.arg != "postgresql_concurrently"]
                    apply, undo = _set_attr(call, "keywords", plain)
                    yield _Edit(
                        "drop_concurrently", "index built without CONCURRENTLY", line, apply, undo
                    )
            if method == "add_column":
                for column in call.args:
                    if isinstance(column, ast.Call) and _keyword(column, "server_default"):
                        kept = [k for k in column.keywords if k.arg != "server_default"]
                        apply, undo = _set_attr(column, "keywords", kept)
                        yield _Edit(
                            "drop_server_default", "server default dropped", line, apply, undo
                        )
    if downgrade is not None:
        apply, undo = _set_attr(downgrade, "body", [ast.Pass()])
        yield _Edit("empty_downgrade", "downgrade() made `pass`", downgrade.lineno, apply, undo)


def _editable_files(spec: ExerciseSpec, solution: Path) -> list[Path]:
    """The reference's editable Python files that mutants are made of."""
    if spec.kind == "migration":
        return sorted((solution / "migrations" / "versions").glob("*.py"))
    return [solution / e for e in spec.editable if e.endswith(".py") and (solution / e).is_file()]


def mutants_of(spec: ExerciseSpec, solution: Path) -> list[Mutant]:
    """Every mutant of the reference solution in ``solution`` (``solutions/<id>``)."""
    found: list[Mutant] = []
    for path in _editable_files(spec, solution):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        reference = ast.unparse(tree)
        edits = _migration_edits(tree) if spec.kind == "migration" else _query_edits(tree)
        relative = path.relative_to(solution).as_posix()
        seen: dict[str, int] = {}
        sources: set[str] = set()
        for edit in list(edits):
            edit.apply()
            try:
                source = ast.unparse(ast.fix_missing_locations(tree)) + "\n"
            finally:
                edit.undo()
            if source.strip() == reference.strip() or source in sources:
                continue
            sources.add(source)
            base = f"{edit.operator}@L{edit.line}"
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base}.{seen[base]}"
            diff = "".join(
                difflib.unified_diff(
                    (reference + "\n").splitlines(keepends=True),
                    source.splitlines(keepends=True),
                    f"reference/{relative}",
                    f"mutant/{relative}",
                )
            )
            found.append(
                Mutant(spec.id, name, edit.operator, edit.description, relative, source, diff)
            )
    return found


# -- grading mutants ---------------------------------------------------------------------


@dataclass(frozen=True)
class MutantVerdict:
    """How one mutant fared.

    Attributes:
        mutant: The mutant.
        killed_on: The seed whose grade was below full marks, or None.
        failed_checks: The checks it failed on that seed.
        equivalent: The declared reason, when the spec lists it as equivalent.
    """

    mutant: Mutant
    killed_on: int | None
    failed_checks: tuple[str, ...] = ()
    equivalent: str | None = None

    @property
    def survived(self) -> bool:
        """Full marks on every seed, and not declared equivalent."""
        return self.killed_on is None and self.equivalent is None


@dataclass(frozen=True)
class ExerciseMutation:
    """The mutation analysis of one exercise on one dialect.

    Attributes:
        exercise_id: The exercise.
        verdicts: One per mutant made.
        stale_declarations: Declared equivalents that name no mutant, or that
            a seed killed (the declaration is wrong).
    """

    exercise_id: str
    verdicts: tuple[MutantVerdict, ...]
    stale_declarations: tuple[str, ...] = ()

    @property
    def made(self) -> int:
        """Mutants made."""
        return len(self.verdicts)

    @property
    def killed(self) -> int:
        """Mutants that lost points on some seed."""
        return sum(v.killed_on is not None for v in self.verdicts)

    @property
    def equivalent(self) -> int:
        """Surviving mutants declared equivalent in the spec."""
        return sum(v.killed_on is None and v.equivalent is not None for v in self.verdicts)

    @property
    def surviving(self) -> tuple[MutantVerdict, ...]:
        """Mutants that earned full marks and are not declared equivalent."""
        return tuple(v for v in self.verdicts if v.survived)

    @property
    def ok(self) -> bool:
        """Every mutant killed or declared equivalent, and no stale declaration."""
        return not self.surviving and not self.stale_declarations


@dataclass(frozen=True)
class MutationReport:
    """The mutation analysis of a selection of exercises on one dialect.

    Attributes:
        dialect: The grading database's dialect.
        seeds: The seeds a surviving mutant was graded on.
        exercises: One analysis per exercise, in catalog order.
    """

    dialect: str
    seeds: tuple[int, ...]
    exercises: tuple[ExerciseMutation, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Every exercise passes."""
        return all(e.ok for e in self.exercises)


def _full_marks(result: ExerciseResult) -> bool:
    return result.error is None and result.score == result.max_score


def _stage(mutant: Mutant, solution: Path, into: Path) -> Path:
    """A submission folder holding the reference with the mutant's file in place."""
    folder = into / mutant.name.replace("@", "_").replace(".", "_") / mutant.exercise_id
    shutil.copytree(solution, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / mutant.path).write_text(mutant.source, encoding="utf-8")
    return folder.parent


def _grade_mutant(
    catalog: Catalog, solution: Path, into: Path, session: GradingSession, mutant: Mutant
) -> tuple[Mutant, ExerciseResult]:
    folder = _stage(mutant, solution, into)
    report = grade(folder, catalog, [mutant.exercise_id], session=session)
    return mutant, report.exercises[0]


def analyse(
    catalog: Catalog,
    ids: Iterable[str] = (),
    seeds: Iterable[int] = DEFAULT_SEEDS,
    db_url: str | None = None,
    workers: int = MUTANT_WORKERS,
    progress: Callable[[ExerciseMutation], None] | None = None,
) -> MutationReport:
    """Make the mutants of ``ids`` (all when empty) and grade them on ``seeds``.

    A mutant stops being graded on the first seed that costs it a point; a
    mutant that earns full marks on every seed survives, unless the spec
    declares it equivalent on this dialect. An exercise whose spec leaves this
    dialect out is left out of the analysis too.
    """
    seeds = tuple(seeds)
    specs = catalog.select(ids)
    results: list[ExerciseMutation] = []
    dialect = ""
    with tempfile.TemporaryDirectory(prefix="ormgrade-mutants-") as scratch:
        sessions = [open_session(catalog, GradeOptions(seed=s, db_url=db_url)) for s in seeds]
        try:
            dialect = sessions[0].backend.dialect
            for spec in specs:
                if not spec.runs_on(dialect):
                    continue  # grading leaves it out on this dialect: nothing to kill
                solution = catalog.solutions_dir / spec.id
                mutants = mutants_of(spec, solution)
                killed: dict[str, tuple[int, tuple[str, ...]]] = {}
                for session in sessions:
                    alive = [m for m in mutants if m.name not in killed]
                    if not alive:
                        break

                    grade_one = partial(
                        _grade_mutant, catalog, solution, Path(scratch) / str(session.seed), session
                    )
                    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                        for mutant, result in pool.map(grade_one, alive):
                            if not _full_marks(result):
                                failed = tuple(c.name for c in result.checks if not c.passed)
                                killed[mutant.name] = (session.seed, failed)
                declared = {
                    e.mutant: e.reason for e in spec.equivalent_mutants if e.covers(dialect)
                }
                verdicts = tuple(
                    MutantVerdict(
                        m,
                        killed[m.name][0] if m.name in killed else None,
                        killed[m.name][1] if m.name in killed else (),
                        declared.get(m.name),
                    )
                    for m in mutants
                )
                names = {m.name for m in mutants}
                stale = tuple(
                    f"{name}: no such mutant"
                    if name not in names
                    else f"{name}: killed, not equivalent"
                    for name in declared
                    if name not in names or name in killed
                )
                analysis = ExerciseMutation(spec.id, verdicts, stale)
                results.append(analysis)
                if progress is not None:
                    progress(analysis)
        finally:
            for session in sessions:
                session.close()
    return MutationReport(dialect, seeds, tuple(results))
