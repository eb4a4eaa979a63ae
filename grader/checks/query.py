"""Checks on how a query exercise talks to the database.

Each check's docstring says what it teaches. Message templates are module
constants so that tests and reporters refer to them instead of retyping them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from grader.analysis.sqlshape import StatementShape
from grader.checks.base import (
    Check,
    Evaluation,
    Verdict,
    _repr_short,
    describe_difference,
    register,
    shorten,
)
from grader.errors import SpecFieldError
from grader.results import Evidence
from grader.rule import describe
from grader.wording import counted

if TYPE_CHECKING:
    from grader.analysis.plan import Plan
    from grader.execution.capture import CapturedStatement

# -- messages -----------------------------------------------------------------
CORRECT = "returns the same result as the starter on a freshly seeded dataset (seed {seed})"
WRONG_RESULT = "the result differs from the starter's on the same data: {difference}"
WRONG_STATE = "the database after the call differs from the starter's: {difference}"
QUERIES_OK = "queries emitted: {observed} (at most {bound} allowed)"
TOO_MANY_QUERIES = "queries emitted: {observed}; at most {bound} allowed"
# ``{small}`` and ``{large}`` are counts with their noun (`grader.wording.counted`).
CONSTANT_QUERIES = (
    "{small} at {small_size}, {large} at {large_size}: the count does not grow with the data"
)
GROWING_QUERIES = (
    "{small} at {small_size}, {large} at {large_size}: the number of queries grows "
    "with the data (N+1)"
)
CLAUSE_OK = "{clause} on {table} is done by the database"
CLAUSE_MISSING = "no statement reading {table} has a top-level {clause} ({reads} read {table})"
CLAUSE_FORBIDDEN = "{count} statement(s) reading {table} use {clause}; it should not be needed"
NO_READ = "no statement read {table} at all"
#: A clause check whose table only relationship loaders read.
ONLY_LOADERS_READ = (
    "no statement of the code itself reads {table}: only relationship loads do ({reads}, "
    "e.g. selectinload's follow-up), and this check judges the statement that returns "
    "the answer's rows"
)
#: An option (``clause``, ``statement``) with a value its check does not know.
NOT_ONE_OF = "expected one of {known}, found {found}"
PROJECTION_OK = "only the needed columns of {table} are selected ({columns})"
PROJECTION_EXTRA = "{count} statement(s) select columns of {table} that are not needed: {extra}"
INDEX_OK = "every read of {table} is answered from an index ({how})"
FULL_SCAN = (
    "{count} statement(s) scan the whole {table} table; expected an index or primary-key search"
)
NO_PLAN = "no plan could be read for the statements on {table}"

#: How many repeated statements are shown as evidence.
EVIDENCE_LIMIT = 3


def statement_evidence(
    statements: Sequence[CapturedStatement],
    shapes: Sequence[StatementShape],
    limit: int = EVIDENCE_LIMIT,
) -> tuple[Evidence, ...]:
    """The most repeated statements, each with its repeat count."""
    counts: Counter[str] = Counter()
    example: dict[str, CapturedStatement] = {}
    for statement in statements:
        key = (
            shapes[statement.index].fingerprint if statement.index < len(shapes) else statement.sql
        )
        counts[key] += 1
        example.setdefault(key, statement)
    evidence = []
    for key, count in counts.most_common(limit):
        statement = example[key]
        label = f"statement ×{count}"
        if statement.lazy_load:
            label += f" (lazy load of {statement.lazy_load})"
        if statement.source == "driver":
            label += " (raw driver cursor)"
        evidence.append(Evidence(label, shorten(statement.sql)))
    return tuple(evidence)


def _unordered(value: Any) -> Any:
    return sorted(value, key=repr) if isinstance(value, list) else value


@register
class CorrectResult(Check):
    """The submission returns what the starter returns, on the same fresh data.

    Speed is worth nothing for a wrong answer, so every other check earns
    points only when this one passes. The dataset is seeded afresh each run,
    so an answer copied from one run fails the next. Where the exercise's
    hooks take a snapshot of the database after the call (write exercises),
    the snapshots must be equal too.
    """

    kind = "correct_result"
    gate = True
    default_hint = (
        "Run the starter and your version on the same data and compare; check "
        "filters, ordering and edge cases (users without tasks, ties, NULLs)."
    )

    def configure(self) -> None:
        self.ordered = self.option("ordered", bool, None)

    def judge(self, evaluation: Evaluation) -> Verdict:
        ordered = evaluation.spec.ordered if self.ordered is None else self.ordered
        expected, got = evaluation.oracle.value, evaluation.main.value
        if not ordered:
            expected, got = _unordered(expected), _unordered(got)
        if expected != got:
            return Verdict(
                False,
                WRONG_RESULT.format(difference=describe_difference(expected, got)),
                (
                    Evidence("expected (starter)", _repr_short(expected, 400)),
                    Evidence("returned", _repr_short(got, 400)),
                ),
            )
        if evaluation.oracle.snapshot != evaluation.main.snapshot:
            return Verdict(
                False,
                WRONG_STATE.format(
                    difference=describe_difference(
                        evaluation.oracle.snapshot, evaluation.main.snapshot
                    )
                ),
                (
                    Evidence("expected state", _repr_short(evaluation.oracle.snapshot, 400)),
                    Evidence("state after your call", _repr_short(evaluation.main.snapshot, 400)),
                ),
            )
        return Verdict(True, CORRECT.format(seed=evaluation.seed))


@register
class MaxQueries(Check):
    """At most ``max`` statements reach the database.

    Every round trip costs latency; code that asks the database once for what
    it needs is faster than code that asks again and again. Options: ``max``
    (the bound) and ``verbs`` (count only these statement kinds).
    """

    kind = "max_queries"
    statement_based = True
    default_hint = "Look at the statements below: which of them could be one statement?"

    def configure(self) -> None:
        self.bound: int = self.option("max", int)
        self.verbs: list[str] = self.option("verbs", list, [])

    def judge(self, evaluation: Evaluation) -> Verdict:
        log = evaluation.main.log
        statements = log.of_verb(*self.verbs) if self.verbs else log.statements
        observed = len(statements)
        if observed <= self.bound:
            return Verdict(True, QUERIES_OK.format(observed=observed, bound=self.bound))
        return Verdict(
            False,
            TOO_MANY_QUERIES.format(observed=observed, bound=self.bound),
            statement_evidence(statements, evaluation.shapes),
        )


@register
class NoNPlusOne(Check):
    """The number of queries stays the same when the data grows.

    The N+1 pattern — one query for a list, then one more per item — looks
    harmless on a small table and collapses on a large one. The submission is
    run at two dataset sizes; its query count must not grow (``slack`` allows
    a few more at the larger size).
    """

    kind = "no_n_plus_one"
    statement_based = True
    needs = frozenset({"scaled"})
    default_hint = (
        "Watch for statements repeated once per parent row, often lazy loads of a "
        "relationship: load related rows together with the parents instead."
    )

    def configure(self) -> None:
        self.slack: int = self.option("slack", int, 0)

    def judge(self, evaluation: Evaluation) -> Verdict:
        scaled = evaluation.scaled
        if scaled is None or not scaled.ok:
            reason = scaled.failure.message if scaled is not None and scaled.failure else "no run"
            return Verdict(False, f"the run on the larger dataset failed: {reason}")
        small, large = len(evaluation.main.log), len(scaled.log)
        counts = {"small": counted(small, "query"), "large": counted(large, "query")}
        sizes = {
            "small_size": f"size {size_label(evaluation.spec.dataset)}",
            "large_size": f"size {size_label(evaluation.spec.scaled_dataset)}",
        }
        if large <= small + self.slack:
            return Verdict(True, CONSTANT_QUERIES.format(**counts, **sizes))
        evidence = statement_evidence(evaluation.main.log.statements, evaluation.shapes)
        return Verdict(False, GROWING_QUERIES.format(**counts, **sizes), evidence)


def size_label(size: Any) -> str:
    """A dataset size as a short label."""
    return size if isinstance(size, str) else "custom"


#: A named parameter as drivers spell it: ``%(name)s`` (psycopg, PyMySQL), ``:name``.
_NAMED_PARAM = re.compile(r"^(?:%\((?P<pyformat>[^)]+)\)s|:(?P<named>\w+))$")
#: Positional parameters: ``?`` (SQLite), ``%s`` (format style).
_POSITIONAL_PARAMS = frozenset({"?", "%s"})


def bound_value(statement: CapturedStatement, written: str | None, from_end: int) -> Any:
    """The value a LIMIT or OFFSET written as ``written`` was bound to, or None.

    A named parameter is looked up in the statement's parameters; a positional
    one is the ``from_end``-th parameter from the end (LIMIT and OFFSET close
    the statement). A literal is returned as an integer.
    """
    if written is None:
        return None
    params = statement.params
    match = _NAMED_PARAM.match(written)
    if match is not None:
        name = match.group("pyformat") or match.group("named")
        return params.get(name) if isinstance(params, dict) else None
    if written in _POSITIONAL_PARAMS:
        if isinstance(params, list | tuple) and len(params) >= from_end:
            return params[-from_end]
        return None
    try:
        return int(written)
    except ValueError:
        return None


def _trailing_params(statement: CapturedStatement, shape: StatementShape) -> tuple[Any, Any]:
    """The bound LIMIT and OFFSET values, whatever the driver's parameter style.

    Positional values are the last parameters: ``LIMIT ? OFFSET ?`` binds the
    limit before the offset, MySQL's ``LIMIT offset, count`` the other way round.
    """
    positional = [w for w in (shape.limit, shape.offset) if w in _POSITIONAL_PARAMS]
    limit_from_end = offset_from_end = 1
    if len(positional) == 2:
        mysql_order = bool(re.search(r"LIMIT\s+\S+\s*,", statement.sql, re.IGNORECASE))
        limit_from_end, offset_from_end = (1, 2) if mysql_order else (2, 1)
    return (
        bound_value(statement, shape.limit, limit_from_end),
        bound_value(statement, shape.offset, offset_from_end),
    )


def effective_limit(statement: CapturedStatement, shape: StatementShape) -> bool:
    """Whether the statement really limits its rows.

    SQLite renders ``.offset(n)`` alone as ``LIMIT ? OFFSET ?`` with the
    limit bound to -1 (no limit): the bound value decides, on every dialect.
    """
    if not shape.has_limit:
        return False
    limit, _ = _trailing_params(statement, shape)
    return not (isinstance(limit, int) and limit < 0)


def effective_offset(statement: CapturedStatement, shape: StatementShape) -> bool:
    """Whether the statement really skips rows with OFFSET.

    SQLite renders ``.limit(n)`` alone as ``LIMIT ? OFFSET ?`` with the
    offset bound to 0 (no offset), and an explicit ``.offset(0)`` binds 0 on
    every dialect: the bound value decides.
    """
    if not shape.has_offset:
        return False
    _, offset = _trailing_params(statement, shape)
    return not (isinstance(offset, int) and offset == 0)


CLAUSES = {
    "limit": ("LIMIT", None),
    "offset": ("OFFSET", None),
    "where": ("WHERE", None),
    "join": ("JOIN", None),
    "group_by": ("GROUP BY", lambda s: s.has_group_by),
    "order_by": ("ORDER BY", lambda s: s.has_order_by),
    "aggregate": ("aggregate (COUNT/SUM/…)", lambda s: bool(s.aggregates)),
    "distinct": ("DISTINCT (or GROUP BY)", lambda s: s.has_distinct or s.has_group_by),
}

#: Which statements a clause check judges, by its ``statement`` option.
STATEMENTS = {
    "answer": "the statements the code itself executed (not the ORM's relationship loads)",
    "any": "every statement reading the table, relationship loads included",
}


def _not_one_of(found: Any, known: Any) -> str:
    return NOT_ONE_OF.format(known=", ".join(repr(k) for k in known), found=describe(found))


def reads(shape: StatementShape, table: str) -> bool:
    """Whether a statement reads ``table`` (as a SELECT)."""
    return shape.kind == "SELECT" and table in shape.tables


@register
class Clause(Check):
    """A statement reading ``table`` does the work in SQL with ``clause``.

    Filtering, limiting, joining, grouping and removing duplicates in Python
    means fetching rows the answer does not need. Options: ``clause`` (limit,
    offset, where, join, group_by, order_by, aggregate, distinct: SELECT
    DISTINCT, COUNT(DISTINCT …) or GROUP BY), ``table``, ``join_kind`` (for
    joins, e.g. ``LEFT OUTER``), ``present`` (false: the clause must not be
    used, as OFFSET in keyset pagination), ``statement`` (``answer``, the
    default: only the statements the code itself executed are judged, so that
    a relationship loader's follow-up — selectinload's ``WHERE
    tasks.assignee_id IN (…)``, or its JOIN of the tags — never meets the
    check for the main query; ``any``: every statement reading the table).
    """

    kind = "clause"
    statement_based = True
    choices: ClassVar[Mapping[str, Sequence[str]]] = {
        "clause": tuple(CLAUSES),
        "statement": tuple(STATEMENTS),
    }
    default_hint = "Let the database do this part: it can skip rows you would throw away."

    def configure(self) -> None:
        self.clause: str = self.option("clause", str)
        if self.clause not in CLAUSES:
            raise SpecFieldError("clause", _not_one_of(self.clause, CLAUSES))
        self.table: str = self.option("table", str)
        self.join_kind: str | None = self.option("join_kind", str, None)
        self.present: bool = self.option("present", bool, True)
        self.statement: str = self.option("statement", str, "answer")
        if self.statement not in STATEMENTS:
            raise SpecFieldError("statement", _not_one_of(self.statement, STATEMENTS))

    def has(self, statement: CapturedStatement, shape: StatementShape) -> bool:
        if self.clause == "limit":
            return effective_limit(statement, shape)
        if self.clause == "offset":
            return effective_offset(statement, shape)
        if self.clause == "where":
            return shape.has_where and self.table in shape.where_tables
        if self.clause == "join":
            joined = [
                j for j in shape.joins if self.join_kind is None or j.kind == self.join_kind.upper()
            ]
            tables = {j.table for j in joined} | (shape.main_tables if joined else set())
            return self.table in tables
        test = CLAUSES[self.clause][1]
        assert test is not None
        return bool(test(shape))

    def judge(self, evaluation: Evaluation) -> Verdict:
        label = CLAUSES[self.clause][0]
        if self.join_kind:
            label = f"{self.join_kind.upper()} JOIN"
        every = [
            (s, sh)
            for s, sh in zip(evaluation.main.log.statements, evaluation.shapes, strict=True)
            if reads(sh, self.table)
        ]
        indexed = every
        if self.statement == "answer":
            indexed = [(s, sh) for s, sh in every if s.loader is None]
        if not indexed:
            if not self.present:
                return Verdict(True, NO_READ.format(table=self.table))
            if every:
                return Verdict(
                    False,
                    ONLY_LOADERS_READ.format(
                        table=self.table, reads=counted(len(every), "statement")
                    ),
                    statement_evidence([s for s, _ in every], evaluation.shapes),
                )
            return Verdict(False, NO_READ.format(table=self.table))
        matching = [(s, sh) for s, sh in indexed if self.has(s, sh)]
        statements = [s for s, _ in indexed]
        if self.present:
            if matching:
                return Verdict(True, CLAUSE_OK.format(clause=label, table=self.table))
            return Verdict(
                False,
                CLAUSE_MISSING.format(clause=label, table=self.table, reads=len(indexed)),
                statement_evidence(statements, evaluation.shapes),
            )
        if not matching:
            return Verdict(True, f"no statement on {self.table} uses {label}")
        return Verdict(
            False,
            CLAUSE_FORBIDDEN.format(count=len(matching), table=self.table, clause=label),
            statement_evidence([s for s, _ in matching], evaluation.shapes),
        )


@register
class ColumnProjection(Check):
    """Statements reading ``table`` select only the ``columns`` the task needs.

    Loading whole rows to use two fields moves every other column over the
    wire and builds objects nobody reads; wide text columns make it worse.
    Options: ``table`` and ``columns`` (the columns that may be selected).
    """

    kind = "column_projection"
    statement_based = True
    default_hint = "Ask for the columns you use, not for whole objects."

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.columns: frozenset[str] = frozenset(self.option("columns", list))

    def judge(self, evaluation: Evaluation) -> Verdict:
        table = evaluation.metadata.tables.get(self.table)
        every = frozenset(c.name for c in table.columns) if table is not None else frozenset()
        offenders: list[CapturedStatement] = []
        extra: set[str] = set()
        read = 0
        for statement, shape in zip(evaluation.main.log.statements, evaluation.shapes, strict=True):
            if not reads(shape, self.table):
                continue
            read += 1
            selected = set(shape.selected.get(self.table, frozenset()))
            if "*" in selected:
                selected = set(every) or {"*"}
            too_many = selected - self.columns
            if too_many:
                offenders.append(statement)
                extra |= too_many
        if read == 0:
            return Verdict(False, NO_READ.format(table=self.table))
        if not offenders:
            return Verdict(
                True,
                PROJECTION_OK.format(table=self.table, columns=", ".join(sorted(self.columns))),
            )
        return Verdict(
            False,
            PROJECTION_EXTRA.format(
                count=len(offenders), table=self.table, extra=", ".join(sorted(extra))
            ),
            statement_evidence(offenders, evaluation.shapes),
        )


def plan_lines(plans: Iterable[Plan | str]) -> str:
    """The distinct plans as text, for evidence."""
    seen: dict[str, None] = {}
    for plan in plans:
        seen[plan if isinstance(plan, str) else plan.render()] = None
    return "\n---\n".join(seen)


@register
class IndexUsed(Check):
    """Reads of ``table`` are answered from an index, never by a full scan.

    A full scan reads every row to find a few; an index finds them directly,
    and the gap grows with the table. The verdict comes from the database's
    own plan (EXPLAIN), not from guessing at the SQL. Options: ``table``,
    ``index`` (require this index by name, optional), ``allow_full_scan``
    (true: only require that some read uses an index).
    """

    kind = "index_used"
    statement_based = True
    needs = frozenset({"plans"})
    default_hint = (
        "Read the plan below: SCAN means every row is read. Which column does the "
        "lookup filter on, and is there an index the database can use for it?"
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.index: str | None = self.option("index", str, None)
        self.allow_full_scan: bool = self.option("allow_full_scan", bool, False)

    def judge(self, evaluation: Evaluation) -> Verdict:
        from grader.analysis.plan import Access

        relevant: list[tuple[CapturedStatement, Plan | str]] = []
        for statement, shape in zip(evaluation.main.log.statements, evaluation.shapes, strict=True):
            if reads(shape, self.table) and statement.index in evaluation.plans:
                relevant.append((statement, evaluation.plans[statement.index]))
        if not relevant:
            return Verdict(False, NO_READ.format(table=self.table))
        plans = [p for _, p in relevant if not isinstance(p, str)]
        if not plans:
            return Verdict(
                False,
                NO_PLAN.format(table=self.table),
                (Evidence("plan", plan_lines(p for _, p in relevant)),),
            )
        scans = [
            (s, p)
            for s, p in relevant
            if not isinstance(p, str)
            and any(n.access is Access.FULL_SCAN for n in p.for_table(self.table))
        ]
        searching = [
            n
            for p in plans
            for n in p.for_table(self.table)
            if n.access in (Access.INDEX_SEARCH, Access.COVERING_INDEX, Access.PRIMARY_KEY)
            and (self.index is None or (n.index or "").lower() == self.index.lower())
        ]
        if scans and not self.allow_full_scan:
            return Verdict(
                False,
                FULL_SCAN.format(count=len(scans), table=self.table),
                (
                    Evidence("statement", shorten(scans[0][0].sql)),
                    Evidence("plan", plan_lines(p for _, p in scans)),
                ),
            )
        if not searching:
            wanted = f" {self.index}" if self.index else ""
            return Verdict(
                False,
                f"no read of {self.table} uses the index{wanted}",
                (Evidence("plan", plan_lines(plans)),),
            )
        how = ", ".join(sorted({f"{n.access.value} {n.index or ''}".strip() for n in searching}))
        return Verdict(True, INDEX_OK.format(table=self.table, how=how))
