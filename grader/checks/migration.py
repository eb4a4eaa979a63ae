"""Checks on a migration exercise: the revision a student wrote, run on real rows.

Each check judges the `grader.migrations.execute.MigrationReport` of one run (found in
``evaluation.extra["migration"]``): the submission's history read against the
starter's, and the database after upgrade, downgrade and a second upgrade.
Message templates are module constants, so that tests and reporters refer to
them instead of retyping them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grader.checks.base import Check, Evaluation, Verdict, register
from grader.checks.query import IndexUsed
from grader.errors import SpecFieldError
from grader.results import Evidence
from grader.rule import MISSING_KEY

if TYPE_CHECKING:
    from grader.migrations.execute import MigrationReport
    from grader.migrations.state import DatabaseState, TableState

# -- why a step could not be judged -------------------------------------------------
NOT_RUN = "not judged: {reason}"
UPGRADE_DID_NOT_APPLY = "upgrade head did not apply (see upgrade_applies)"
NOT_RUN_HINT = "Make new_revision pass first: this check judges the database after your upgrade."
NOT_RUN_UPGRADE_HINT = "Make upgrade_applies pass first."

# -- messages -------------------------------------------------------------------------
HISTORY_OK = "the starter's migrations are intact (head {head}) and the history reads"
STARTER_EDITED = (
    "the starter's revision {revision} was edited ({what} changed): a migration that has "
    "been applied must never change; put changes in a new revision"
)
NEW_REVISION_OK = "{revisions} follows the starter's head {head}; the history has one head"
EMPTY_BODY = "the {function} of revision {revision} ({file}) does nothing"
UPGRADE_OK = "upgrade head applies on the starter's database holding {rows} rows"
UPGRADE_FAILS = "upgrade head fails on the starter's database holding {rows} rows: {error}"
SCHEMA_CHANGE_OK = "after upgrade, {table} has {what}"
SCHEMA_CHANGE_MISSING = "after upgrade, {table} is not what the task asks: {problems}"
#: The index is there but UNIQUE where the task wants a plain one (or the other way round).
INDEX_UNIQUENESS_WRONG = "the index on ({columns}) is {found}; a {wanted} index was wanted"
MODELS_MATCH = "after upgrade the database matches models.py (columns, types, NULLs, indexes)"
MODELS_DIFFER = "after upgrade the database and models.py differ in {count} way(s): {first}"
MODELS_AHEAD = "{reason}, and models.py differs from the database in {count} way(s): {first}"
ROUND_TRIP_OK = (
    "downgrade to {head} restores the schema{rows}, and upgrade head applies again "
    "with the same data"
)
DOWNGRADE_FAILS = "downgrade to {head} fails: {error}"
DOWNGRADE_LEAVES_TRACE = (
    "after downgrade to {head} the schema differs from before the upgrade in {count} "
    "way(s): {first}"
)
DOWNGRADE_LOSES_ROWS = (
    "after downgrade to {head} the schema is back, but {count} row(s) of {table} differ "
    "from before the upgrade: {example}"
)
#: The hint when the values a downgrade could not restore were already gone after upgrade.
LOST_IN_UPGRADE_HINT = (
    "The values were already lost in upgrade(), before any downgrade ran: after the upgrade, "
    "{count} of these rows hold NULL or nothing where they held a value. A drop + add deletes "
    "a column's values, and no downgrade can bring back what upgrade() threw away: change "
    "upgrade() so that it keeps them (alter the column in place), and undo exactly that in "
    "downgrade()."
)
REUPGRADE_FAILS = "upgrade head fails again after the downgrade: {error}"
REUPGRADE_DIFFERS = (
    "after the downgrade and a second upgrade, {count} row(s) of {table} differ from "
    "after the first upgrade: {example}"
)
DATA_OK = "all {total} rows of {table} kept their values{how}"
ROWS_GONE = "{count} of {total} row(s) of {table} are gone after upgrade (e.g. {key})"
ROWS_NEW = "{count} row(s) of {table} appeared during the upgrade (e.g. {key})"
COLUMN_GONE = "after upgrade {table} has no column {column}: its values cannot be checked"
UNTOUCHED_CHANGED = (
    "{count} row(s) of {table} changed in columns the task does not touch: {example}"
)
RENAME_LOST = (
    "{count} of {total} rows of {table} lost their value in the rename {source} -> {column}: "
    "{example}. A rename is not a drop and an add: dropping {source} deletes its values and "
    "the new {column} starts empty (or with a default), even though the schema looks right. "
    "alter_column(..., new_column_name=...) renames in place and keeps every value"
)
CONVERSION_WRONG = (
    "{count} of {total} rows of {table} were not converted by the README's mapping: {example}"
)
LEFT_NULL = "{count} of {total} rows of {table} are left NULL in {column} after upgrade"
LEFT_NULL_HINT = (
    "Look at the rows listed: what does your backfill give them? A comparison with NULL "
    "is NULL, not false."
)
BACKFILL_WRONG = "{count} of {total} rows of {table} were backfilled wrongly: {example}"

LOCK_FEEDBACK = (
    "feedback only, not graded: on a large PostgreSQL table squawk would flag {rules} "
    "(-v shows why)"
)
LOCK_FEEDBACK_CLEAN = "feedback only, not graded: squawk flags nothing in the upgrade on PostgreSQL"
LOCK_FEEDBACK_NONE = "feedback only, not graded: {reason}"
#: Without the squawk linter (a student's install does not have it), nothing is said about it.
LOCK_FEEDBACK_SQL_ONLY = "feedback only, not graded: the upgrade as PostgreSQL SQL (-v shows it)"

LOCKS_OK = (
    "the upgrade holds no long lock on {table}: at most {largest} rows written in one "
    "transaction (limit {limit}), over {transactions} transaction(s){index}"
)
LOCKS_INDEX_CONCURRENT = "; its index built CONCURRENTLY"
LOCKS_HELD = "the upgrade would lock {table} for long ({count} finding(s)): {first}"
DEFAULT_OK = (
    "a row of {table} inserted without {column}, as the code already deployed does, gets {value}"
)
DEFAULT_WRONG = (
    "a row of {table} inserted without {column}, as the code already deployed does, "
    "gets {found}, not the default {value}"
)
DEFAULT_REFUSED = (
    "a row of {table} inserted without {column}, as the code already deployed does, is "
    "refused: {error}"
)

#: How many differing rows are shown as evidence.
ROW_EVIDENCE = 5
#: Stands for a column a row no longer has.
_MISSING = object()


def migration_report(evaluation: Evaluation) -> MigrationReport:
    """The migration run an evaluation holds.

    Raises:
        RuntimeError: The evaluation is not a migration exercise's (a grader bug).
    """
    report = evaluation.extra.get("migration")
    if report is None:
        raise RuntimeError("migration checks judge the run of a migration exercise")
    return report


def not_run_reason(report: MigrationReport) -> str:
    """Why there is no database after upgrade, or empty when there is."""
    if report.history.blocked:
        return report.history.blocked
    if not report.upgraded:
        return UPGRADE_DID_NOT_APPLY
    return ""


def not_run(reason: str) -> Verdict:
    """The verdict of a check with nothing to judge, pointing at what comes first."""
    first = NOT_RUN_UPGRADE_HINT if reason == UPGRADE_DID_NOT_APPLY else NOT_RUN_HINT
    return Verdict(False, NOT_RUN.format(reason=reason), hint=first)


def _not_run(report: MigrationReport) -> Verdict | None:
    reason = not_run_reason(report)
    return not_run(reason) if reason else None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key_text(key: tuple[Any, ...], columns: Sequence[str]) -> str:
    return ", ".join(f"{c} = {_short(v)}" for c, v in zip(columns, key, strict=True))


def _by_key(
    rows: Sequence[Mapping[str, Any]], key: Sequence[str]
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return {tuple(r.get(k) for k in key): r for r in rows}


def _primary_key(table: TableState | None, rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    if table is not None and table.primary_key:
        return table.primary_key
    return tuple(rows[0]) if rows else ()


def row_differences(
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    columns: Sequence[str] | None = None,
) -> list[str]:
    """Rows of ``after`` that differ from ``before`` (matched by ``key``), one sentence each.

    Only ``columns`` are compared (all columns of ``before`` when None); rows
    missing on either side count too.
    """
    old, new = _by_key(before, key), _by_key(after, key)
    found = []
    for k, row in old.items():
        now = new.get(k)
        label = _key_text(k, key)
        if now is None:
            found.append(f"row {label} is gone")
            continue
        for column in columns if columns is not None else list(row):
            if column in key:
                continue
            if row.get(column) != now.get(column, _MISSING):
                got = now.get(column, _MISSING)
                shown = "gone" if got is _MISSING else _short(got)
                found.append(f"row {label}: {column} was {_short(row.get(column))}, is {shown}")
                break
    for k in new.keys() - old.keys():
        found.append(f"row {_key_text(k, key)} is new")
    return found


def _rows_evidence(lines: Sequence[str]) -> tuple[Evidence, ...]:
    if not lines:
        return ()
    shown = "\n".join(lines[:ROW_EVIDENCE])
    if len(lines) > ROW_EVIDENCE:
        shown += f"\n… and {len(lines) - ROW_EVIDENCE} more"
    return (Evidence("rows", shown),)


def _table_evidence(state: DatabaseState, name: str) -> tuple[Evidence, ...]:
    table = state.table(name)
    if table is None:
        return (Evidence("tables after upgrade", ", ".join(t.name for t in state.tables)),)
    lines = [c.describe() for c in table.columns]
    lines += [f"index {i.describe()}" for i in table.indexes]
    return (Evidence(f"{name} after upgrade", "\n".join(lines)),)


@register
class HistoryIntact(Check):
    """The starter's migrations are still there, unchanged, and the history reads.

    The starter's revisions stand for migrations already applied to every
    database of the course: editing one changes nothing on those databases
    and makes the history lie about them. A circular chain or a dangling
    ``down_revision`` leaves Alembic unable to read the history at all. This
    is the gate of a migration exercise (its spec names it
    ``correct_result``): nothing else is judged until it passes.
    """

    kind = "history_intact"
    gate = True
    default_hint = (
        "Leave the starter's revision files as they are and put every change in a new "
        "revision whose down_revision is the starter's head."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        from grader.migrations.history import HISTORY_BROKEN, STARTER_MISSING

        history = migration_report(evaluation).history
        if history.broken:
            return Verdict(
                False,
                HISTORY_BROKEN.format(error=history.broken),
                hint="Each revision's down_revision must name an existing revision, and "
                "following down_revision from any revision must end at the first one.",
            )
        if history.missing:
            return Verdict(False, STARTER_MISSING.format(revision=", ".join(history.missing)))
        if history.edited:
            revision, what = history.edited[0]
            return Verdict(False, STARTER_EDITED.format(revision=revision, what=what))
        return Verdict(True, HISTORY_OK.format(head=history.starter_head))


@register
class NewRevision(Check):
    """A new revision follows the starter's head; one head; both directions do something.

    Alembic finds the revision to run from ``down_revision`` links, so the
    new revision must name the starter's head as its parent, and the history
    must end in one head for ``upgrade head`` to know where to go. A revision
    with an empty ``downgrade()`` cannot be rolled back when a deployment goes
    wrong.
    """

    kind = "new_revision"
    default_hint = (
        'Change models.py, then run `alembic revision --autogenerate -m "..."` in the '
        "exercise folder (or write the revision by hand) and read what it wrote."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        from grader.migrations.history import MULTIPLE_HEADS

        history = migration_report(evaluation).history
        evidence = tuple(
            Evidence(
                r.file, f"revision {r.id}, down_revision {', '.join(r.down_revisions) or 'None'}"
            )
            for r in history.new_revisions
        )
        if history.broken or not history.written:
            return Verdict(False, history.blocked, evidence)
        if len(history.heads) > 1:
            return Verdict(
                False,
                MULTIPLE_HEADS.format(count=len(history.heads), heads=", ".join(history.heads)),
                evidence,
                hint="Make one revision follow the other (its down_revision), or join the "
                "heads with `alembic merge heads`.",
            )
        for revision in history.new_revisions:
            for function, empty in (
                ("upgrade()", revision.empty_upgrade),
                ("downgrade()", revision.empty_downgrade),
            ):
                if empty:
                    return Verdict(
                        False,
                        EMPTY_BODY.format(
                            function=function, revision=revision.id, file=revision.file
                        ),
                        evidence,
                        hint="downgrade() undoes upgrade(), step by step in reverse order, so "
                        "that a release can be rolled back.",
                    )
        revisions = ", ".join(f"revision {r.id}" for r in history.written)
        return Verdict(True, NEW_REVISION_OK.format(revisions=revisions, head=history.starter_head))


@register
class UpgradeApplies(Check):
    """``alembic upgrade head`` runs on a database that already holds rows.

    A migration that passes on an empty development database can fail on
    the populated production one: a NOT NULL column added without a value
    for the existing rows is the classic case. The database here is built at
    the starter's head and filled with rows, edge cases included.
    """

    kind = "upgrade_applies"
    default_hint = (
        "An existing row needs a value for every NOT NULL column: add the column nullable, "
        "fill it, then make it NOT NULL."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        rows = report.before.row_count
        if report.history.blocked or report.upgrade is None:
            return not_run(report.history.blocked or "upgrade head was not run")
        if report.upgrade.ok:
            return Verdict(True, UPGRADE_OK.format(rows=rows))
        evidence = []
        if report.upgrade.where:
            evidence.append(Evidence("where", report.upgrade.where))
        if report.upgrade.statement:
            evidence.append(Evidence("statement", report.upgrade.statement))
        return Verdict(
            False, UPGRADE_FAILS.format(rows=rows, error=report.upgrade.error), tuple(evidence)
        )


@register
class SchemaChange(Check):
    """After upgrade the schema has the change the task asks for.

    Options: ``table``; ``column`` with its ``type`` (a generic SQLAlchemy
    type: ``Date``, ``Integer``, ``String``, ``Boolean``…) and ``nullable``;
    ``gone`` (columns that must no longer exist); ``index`` (columns an index
    must cover, in order, whatever its name) and ``unique``.
    """

    kind = "schema_change"
    default_hint = "Read the task again: which table, which column, which type, NULL or not?"

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.column: str | None = self.option("column", str, None)
        self.type: str | None = self.option("type", str, None)
        self.nullable: bool | None = self.option("nullable", bool, None)
        self.gone: list[str] = self.option("gone", list, [])
        self.index: list[str] | None = self.option("index", list, None)
        self.unique: bool | None = self.option("unique", bool, None)
        if self.column is None and self.index is None and not self.gone:
            raise SpecFieldError(
                "column", MISSING_KEY.format(expected="a column name (or give 'index' or 'gone')")
            )

    def expected(self) -> str:
        """What the task asks for, in words."""
        parts = []
        if self.column is not None:
            what = f"column {self.column}"
            if self.type:
                what += f" of type {self.type}"
            if self.nullable is not None:
                what += " (NULL allowed)" if self.nullable else " (NOT NULL)"
            parts.append(what)
        if self.index is not None:
            kind = "a unique index" if self.unique else "an index"
            parts.append(f"{kind} on ({', '.join(self.index)})")
        parts += [f"no column {c}" for c in self.gone]
        return ", ".join(parts)

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        blocked = _not_run(report)
        if blocked is not None or report.after_upgrade is None:
            return blocked or not_run(UPGRADE_DID_NOT_APPLY)
        state = report.after_upgrade
        table = state.table(self.table)
        evidence = _table_evidence(state, self.table)
        if table is None:
            return Verdict(
                False,
                SCHEMA_CHANGE_MISSING.format(table=self.table, problems="the table is gone"),
                evidence,
            )
        problems = []
        if self.column is not None:
            column = table.column(self.column)
            if column is None:
                problems.append(f"there is no column {self.column}")
            else:
                if self.type and column.kind.lower() != self.type.lower():
                    problems.append(
                        f"{self.column} is {column.type} ({column.kind}), not {self.type}"
                    )
                if self.nullable is not None and column.nullable != self.nullable:
                    problems.append(
                        f"{self.column} is {'NULL' if column.nullable else 'NOT NULL'}, "
                        f"expected {'NULL' if self.nullable else 'NOT NULL'}"
                    )
        problems += [f"column {c} is still there" for c in self.gone if table.column(c) is not None]
        if self.index is not None:
            wanted = tuple(self.index)
            covering = [i for i in table.indexes if i.columns == wanted]
            if not covering:
                problems.append(
                    f"no {'unique ' if self.unique else ''}index on ({', '.join(wanted)})"
                )
            elif self.unique is not None and all(i.unique != self.unique for i in covering):
                problems.append(
                    INDEX_UNIQUENESS_WRONG.format(
                        columns=", ".join(wanted),
                        found="unique" if covering[0].unique else "not unique",
                        wanted="unique" if self.unique else "non-unique",
                    )
                )
        if problems:
            return Verdict(
                False,
                SCHEMA_CHANGE_MISSING.format(table=self.table, problems="; ".join(problems)),
                evidence,
            )
        return Verdict(
            True, SCHEMA_CHANGE_OK.format(table=self.table, what=self.expected()), evidence
        )


@register
class ModelsMatch(Check):
    """After upgrade, the database is exactly what models.py describes.

    Alembic's ``compare_metadata`` (what ``--autogenerate`` and ``alembic
    check`` run) compares tables, columns, types, NULLs and indexes, an index
    by its columns as well as its name. A revision that forgot part of the
    model change fails, and so does a model change with no revision: the
    application would then query columns the database does not have.
    """

    kind = "models_match"
    default_hint = (
        "After `alembic upgrade head`, `alembic check` must find nothing: models.py and "
        "the revision must describe the same change."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        differences = report.model_differences
        evidence = (Evidence("differences", "\n".join(differences)),) if differences else ()
        reason = not_run_reason(report)
        if reason:
            if report.models_compared and differences:
                return Verdict(
                    False,
                    MODELS_AHEAD.format(
                        reason=reason, count=len(differences), first=differences[0]
                    ),
                    evidence,
                )
            return not_run(reason)
        if differences:
            return Verdict(
                False, MODELS_DIFFER.format(count=len(differences), first=differences[0]), evidence
            )
        return Verdict(True, MODELS_MATCH)


@register
class DowngradeRoundTrip(Check):
    """Downgrade leaves no trace, and upgrade applies again after it.

    Rolling a release back runs ``downgrade``; it must bring the schema back
    to what it was (a downgrade that does nothing fails) and, with
    ``rows = true`` (the default), every value too. Upgrading once more must
    work and give the same data as the first upgrade.
    """

    kind = "downgrade_round_trip"
    default_hint = "downgrade() must undo each step of upgrade(), in reverse order."

    def configure(self) -> None:
        self.rows: bool = self.option("rows", bool, True)

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        blocked = _not_run(report)
        if blocked is not None:
            return blocked
        head = report.history.starter_head
        if report.downgrade is None or not report.downgrade.ok or report.after_downgrade is None:
            error = report.downgrade.error if report.downgrade else "not run"
            evidence = (
                (Evidence("where", report.downgrade.where),)
                if report.downgrade and report.downgrade.where
                else ()
            )
            return Verdict(False, DOWNGRADE_FAILS.format(head=head, error=error), evidence)
        trace = report.before.differences(report.after_downgrade)
        if trace:
            return Verdict(
                False,
                DOWNGRADE_LEAVES_TRACE.format(head=head, count=len(trace), first=trace[0]),
                (Evidence("differences", "\n".join(trace)),),
            )
        if self.rows:
            verdict = _compare_tables(
                report.before, report.after_downgrade, DOWNGRADE_LOSES_ROWS, head=head
            )
            if verdict is not None:
                emptied = _emptied_by_upgrade(report.before, report.after_upgrade)
                if emptied:
                    return replace(verdict, hint=LOST_IN_UPGRADE_HINT.format(count=emptied))
                return verdict
        if report.reupgrade is None or not report.reupgrade.ok or report.after_reupgrade is None:
            error = report.reupgrade.error if report.reupgrade else "not run"
            return Verdict(False, REUPGRADE_FAILS.format(error=error))
        assert report.after_upgrade is not None
        verdict = _compare_tables(report.after_upgrade, report.after_reupgrade, REUPGRADE_DIFFERS)
        if verdict is not None:
            return verdict
        return Verdict(
            True, ROUND_TRIP_OK.format(head=head, rows=" and every row" if self.rows else "")
        )


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _emptied_by_upgrade(before: DatabaseState, after: DatabaseState | None) -> int:
    """How many rows hold fewer values after the upgrade than before it (or are gone).

    A rename or a type change keeps one value per column; a drop + add
    leaves the new column NULL (or its default ''): the row has lost a value.
    """
    if after is None:
        return 0
    count = 0
    for table in before.tables:
        rows = before.rows.get(table.name, ())
        key = _primary_key(table, rows)
        now = _by_key(after.rows.get(table.name, ()), key)
        for k, row in _by_key(rows, key).items():
            later = now.get(k)
            if later is None or sum(not _empty(v) for v in later.values()) < sum(
                not _empty(v) for v in row.values()
            ):
                count += 1
    return count


def _compare_tables(
    expected: DatabaseState, got: DatabaseState, template: str, **extra: Any
) -> Verdict | None:
    for table in expected.tables:
        before = expected.rows.get(table.name, ())
        key = _primary_key(table, before)
        lines = row_differences(before, got.rows.get(table.name, ()), key)
        if lines:
            return Verdict(
                False,
                template.format(count=len(lines), table=table.name, example=lines[0], **extra),
                _rows_evidence(lines),
            )
    return None


@register
class DataPreserved(Check):
    """Every row survives the upgrade with the values the task asks for.

    Schema checks cannot see data: a rename written as drop + add, or a type
    change that casts what it cannot convert, passes them all and loses
    values. Options: ``table`` (without it, every table's rows must be
    intact); ``column``, the column the task changes, and ``source``, the
    column its values come from (the old name of a rename; ``column`` itself
    by default); ``mapping`` (old value to new value; ``fold`` compares old
    values trimmed and lower-cased) with ``default`` for values not in it
    (NULL when not given); ``not_null`` (no row may be left NULL). Every
    other column must keep its values.
    """

    kind = "data_preserved"
    default_hint = (
        "Compare a few rows before and after `alembic upgrade head`: every value must still "
        "be there, converted as the README says."
    )

    def configure(self) -> None:
        self.table: str | None = self.option("table", str, None)
        self.column: str | None = self.option("column", str, None)
        self.source: str | None = self.option("source", str, None)
        self.mapping: Mapping[str, Any] | None = self.option("mapping", dict, None)
        self.fold: bool = self.option("fold", bool, False)
        self.default: Any = self.option("default", (str, int, float, bool), None)
        self.not_null: bool = self.option("not_null", bool, False)
        if self.column is not None and self.table is None:
            raise SpecFieldError(
                "table", MISSING_KEY.format(expected="the table of 'column' (a string)")
            )

    def expected_value(self, old: Any) -> Any:
        """What the judged column should hold for a row whose source held ``old``."""
        if self.mapping is None:
            return old
        key = old.strip().lower() if self.fold and isinstance(old, str) else old
        if isinstance(key, str) and key in self.mapping:
            return self.mapping[key]
        return self.default

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        blocked = _not_run(report)
        if blocked is not None or report.after_upgrade is None:
            return blocked or not_run(UPGRADE_DID_NOT_APPLY)
        if self.table is None:
            verdict = _compare_tables(report.before, report.after_upgrade, UNTOUCHED_CHANGED)
            return verdict or Verdict(
                True, DATA_OK.format(total=report.before.row_count, table="every table", how="")
            )
        return self._judge_table(report.before, report.after_upgrade, self.table)

    def _judge_table(
        self, before_state: DatabaseState, after_state: DatabaseState, name: str
    ) -> Verdict:
        before = before_state.rows.get(name, ())
        after = after_state.rows.get(name, ())
        key = _primary_key(before_state.table(name), before)
        total = len(before)
        old, new = _by_key(before, key), _by_key(after, key)
        gone = [k for k in old if k not in new]
        if gone:
            return Verdict(
                False,
                ROWS_GONE.format(
                    count=len(gone), total=total, table=name, key=_key_text(gone[0], key)
                ),
            )
        added = [k for k in new if k not in old]
        if added:
            return Verdict(
                False, ROWS_NEW.format(count=len(added), table=name, key=_key_text(added[0], key))
            )
        column = self.column
        source = self.source or column
        judged = {c for c in (column, source) if c is not None}
        untouched = [c for c in (before[0] if before else {}) if c not in judged]
        lines = row_differences(before, after, key, untouched)
        if lines:
            return Verdict(
                False,
                UNTOUCHED_CHANGED.format(count=len(lines), table=name, example=lines[0]),
                _rows_evidence(lines),
            )
        if column is None or source is None:
            return Verdict(True, DATA_OK.format(total=total, table=name, how=""))
        if after and column not in after[0]:
            return Verdict(False, COLUMN_GONE.format(table=name, column=column))
        nulls = [k for k, row in new.items() if row.get(column) is None]
        if self.not_null and nulls:
            lines = [
                f"row {_key_text(k, key)}: {source} = {_short(old[k].get(source))}" for k in nulls
            ]
            return Verdict(
                False,
                LEFT_NULL.format(count=len(nulls), total=total, table=name, column=column),
                _rows_evidence(lines),
                hint=LEFT_NULL_HINT,
            )
        wrong = []
        for k, row in old.items():
            want, got = self.expected_value(row.get(source)), new[k].get(column)
            if want != got:
                wrong.append(
                    f"row {_key_text(k, key)}: {source} held {_short(row.get(source))}, "
                    f"so {column} should be {_short(want)}, not {_short(got)}"
                )
        if not wrong:
            how = f": {column} holds what {source} held" if source != column else ""
            if self.mapping is not None:
                how = f": every {column} follows the mapping" + (
                    f" from {source}" if source != column else ""
                )
            return Verdict(True, DATA_OK.format(total=total, table=name, how=how))
        if self.mapping is None and source != column:
            template = RENAME_LOST
        elif self.not_null:
            template = BACKFILL_WRONG
        else:
            template = CONVERSION_WRONG
        return Verdict(
            False,
            template.format(
                count=len(wrong),
                total=total,
                table=name,
                source=source,
                column=column,
                example=wrong[0],
            ),
            _rows_evidence(wrong),
        )


@register
class LookupUsesIndex(IndexUsed):
    """After upgrade, the exercise's lookup is answered from an index.

    The point of an index migration is the plan it changes: the lookup of
    index_lookup (users by email) is run after the upgrade and judged from
    the database's own EXPLAIN. Options as for ``index_used``.
    """

    kind = "lookup_uses_index"
    default_hint = (
        "The lookup filters users by email: after your revision the plan should search an "
        "index on email instead of scanning the users table."
    )

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        if report.lookup is None:
            return not_run(not_run_reason(report) or "the lookup did not run")
        return super().judge(evaluation)


@register
class LockFeedback(Check):
    """What the upgrade locks on a large table: feedback, or a grade when given a table.

    Without options it is feedback and never a grade (give it 0 points): on
    a big production table some operations hold a lock that blocks writes
    (or reads) for as long as they take — a plain CREATE INDEX, a type change
    that rewrites the table, a NOT NULL column without a default. The upgrade
    is written out as PostgreSQL SQL and read by the squawk linter; what it
    flags is shown to the student.

    With ``table`` it is graded on the upgrade that really ran, on the run's
    own database (`grader.migrations.locks`): no transaction may write more
    than ``batch_rows`` rows of the table (a backfill goes in batches, each
    committed), and on PostgreSQL an index on the table must be built
    CONCURRENTLY. What else locks (SET NOT NULL's scan, SQLite's table copy)
    is shown as notes.
    """

    kind = "lock_feedback"

    def configure(self) -> None:
        self.table: str | None = self.option("table", str, None)
        self.batch_rows: int = self.option("batch_rows", int, 1000)
        if self.batch_rows < 1:
            raise SpecFieldError(
                "batch_rows", f"must be at least 1 (a number of rows), not {self.batch_rows}"
            )
        if self.table is None and self.spec.points > 0:
            raise SpecFieldError(
                "table",
                MISSING_KEY.format(
                    expected="the table whose locks are graded (a string): lock_feedback "
                    "without one is feedback and must have 0 points"
                ),
            )

    @property
    def graded(self) -> bool:
        """Judged on the recorded upgrade (a table given) rather than squawk's feedback."""
        return self.table is not None

    def judge(self, evaluation: Evaluation) -> Verdict:
        if self.graded:
            return self._judge_locks(evaluation)
        from grader.migrations.lint import SQUAWK_MISSING

        report = migration_report(evaluation)
        if not report.postgresql_sql:
            reason = not_run_reason(report) or report.lint_note or "no upgrade was written out"
            return Verdict(True, LOCK_FEEDBACK_NONE.format(reason=report.lint_note or reason))
        evidence = [Evidence(f.rule, f.message) for f in report.lint]
        evidence.append(Evidence("the upgrade as PostgreSQL SQL", report.postgresql_sql.strip()))
        if report.lint_note == SQUAWK_MISSING:
            return Verdict(True, LOCK_FEEDBACK_SQL_ONLY, tuple(evidence))
        if report.lint_note:
            return Verdict(
                True, LOCK_FEEDBACK_NONE.format(reason=report.lint_note), tuple(evidence)
            )
        if not report.lint:
            return Verdict(True, LOCK_FEEDBACK_CLEAN, tuple(evidence))
        rules = ", ".join(dict.fromkeys(f.rule for f in report.lint))
        return Verdict(True, LOCK_FEEDBACK.format(rules=rules), tuple(evidence))

    def _judge_locks(self, evaluation: Evaluation) -> Verdict:
        from grader.migrations.locks import describe, lock_findings

        assert self.table is not None
        report = migration_report(evaluation)
        blocked = _not_run(report)
        if blocked is not None or report.upgrade is None:
            return blocked or not_run(UPGRADE_DID_NOT_APPLY)
        if not report.upgraded:
            return not_run(UPGRADE_DID_NOT_APPLY)
        dialect = report.dialect
        changed = rows_changed(report, self.table)
        reading = lock_findings(
            report.upgrade_statements, dialect, self.table, self.batch_rows, changed
        )
        evidence = [Evidence("note", note) for note in reading.notes]
        evidence.append(Evidence("the upgrade's statements", describe(report.upgrade_statements)))
        if reading.findings:
            first = reading.findings[0]
            message = LOCKS_HELD.format(
                table=self.table, count=len(reading.findings), first=first.message
            )
            hints = " ".join(dict.fromkeys(f.hint for f in reading.findings))
            evidence = [Evidence(f.rule, f.message) for f in reading.findings] + evidence
            return Verdict(False, message, tuple(evidence), hint=hints)
        index = LOCKS_INDEX_CONCURRENT if dialect == "postgresql" else ""
        return Verdict(
            True,
            LOCKS_OK.format(
                table=self.table,
                largest=reading.largest,
                limit=self.batch_rows,
                transactions=reading.transactions,
                index=index,
            ),
            tuple(evidence),
        )


def rows_changed(report: MigrationReport, name: str) -> int:
    """Rows of table ``name`` that some statement of the upgrade must have written.

    A row counts when a column it had before the upgrade holds another value
    after it, or when the probed new column holds anything but what a row
    inserted without it gets (the probe's value: a new column's default is no
    write; other new columns are not read). Rows that appeared count too.
    """
    before = report.before.rows.get(name, ())
    after = report.after_upgrade.rows.get(name, ()) if report.after_upgrade else ()
    key = _primary_key(report.before.table(name), before)
    if not key:
        return 0
    old = _by_key(before, key)
    probe = report.probe if report.probe is not None and report.probe.table == name else None
    changed = 0
    for k, row in _by_key(after, key).items():
        was = old.get(k)
        if was is None:
            changed += 1
            continue
        for column, value in row.items():
            if column in was:
                if was[column] != value:
                    changed += 1
                    break
            elif probe is not None and column == probe.column and value != probe.value:
                changed += 1
                break
    return changed


@register
class DefaultForNewRows(Check):
    """A row inserted after the upgrade by code that does not know the new column gets its default.

    While a migration rolls out, the application still deployed writes rows
    without the new column: a NOT NULL column must give them its default
    instead of refusing them. The grader inserts the exercise's probe row
    (``probe_row()`` of grading.py) after the upgrade, reads the column back
    and rolls back. Options: ``table``, ``column``, ``value`` (the default).
    """

    kind = "default_for_new_rows"
    default_hint = (
        "Keep a server default on the column (server_default=... in add_column or "
        "alter_column): the code already deployed inserts rows without it."
    )

    def configure(self) -> None:
        self.table: str = self.option("table", str)
        self.column: str = self.option("column", str)
        self.value: Any = self.option("value", (str, int, float, bool))

    def judge(self, evaluation: Evaluation) -> Verdict:
        report = migration_report(evaluation)
        blocked = _not_run(report)
        if blocked is not None or report.after_upgrade is None:
            return blocked or not_run(UPGRADE_DID_NOT_APPLY)
        probe = report.probe
        if probe is None:
            return not_run("the exercise's grading.py has no probe_row()")
        if probe.error:
            return Verdict(
                False,
                DEFAULT_REFUSED.format(table=self.table, column=self.column, error=probe.error),
            )
        if probe.value != self.value:
            return Verdict(
                False,
                DEFAULT_WRONG.format(
                    table=self.table,
                    column=self.column,
                    found="NULL" if probe.value is None else repr(probe.value),
                    value=repr(self.value),
                ),
            )
        return Verdict(
            True, DEFAULT_OK.format(table=self.table, column=self.column, value=repr(self.value))
        )
