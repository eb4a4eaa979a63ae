"""Migration exercises: run a submission's Alembic history on a populated database.

A migration exercise carries its own small Alembic environment: ``alembic.ini``,
``migrations/env.py``, a script template, the starter's revisions and
``models.py``. The student edits ``models.py`` and adds a revision under
``migrations/versions/``; the grader takes only those two from the submission
and everything else from the catalog.

Grading happens in one child process (the sandbox's time and memory limits
apply: revisions and models are student code). On a fresh database it builds
the starter's head with the starter's own history, fills it with the
exercise's rows (edge cases included), then reads the submission's history,
upgrades to its head, compares the models with the schema, downgrades to the
starter's head and upgrades again, taking a `DatabaseState` after each step.
The `MigrationReport` that comes back is judged by the checks of
`grader.checks.migration`; the student's revision is found by its parent (its
``down_revision`` is the starter's head), never by a fixed id.
"""

from __future__ import annotations

import ast
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import MetaData, Table, create_engine, insert, inspect, select, text
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError

from grader.analysis.plan import Plan, PlanError, explain
from grader.execution.capture import QueryLog, capture
from grader.execution.child import load_module, normalize
from grader.execution.guard import SEALED_MODULES, Seal, tampering
from grader.execution.run import Failure, FailureKind, Job, RunRecord

#: The models file of a migration exercise; it must define ``Base``.
MODELS_FILE = "models.py"
#: The Alembic configuration of a migration exercise.
ALEMBIC_INI = "alembic.ini"
#: The Alembic script folder (env.py, script.py.mako, versions/).
MIGRATIONS_DIR = "migrations"
#: The revisions folder, as the spec's ``editable`` names it.
VERSIONS = "migrations/versions/"
#: Modules besides the guard's whose objects the migration run relies on.
SEALED_HERE = ("grader.migrations.execute", "grader.analysis.plan")
#: Alembic's own bookkeeping table, left out of every comparison.
VERSION_TABLE = "alembic_version"

# Why ``upgrade head`` was not attempted; the checks show these to students.
NO_VERSIONS_FOLDER = "no migration written: the submission has no migrations/versions/ folder"
NO_MIGRATION = (
    "no migration written: no revision in migrations/versions/ has "
    "down_revision = {head!r} (the starter's head)"
)
MULTIPLE_HEADS = "the history has {count} heads ({heads}); `alembic upgrade head` needs exactly one"
HISTORY_BROKEN = "the migration history cannot be read: {error}"
STARTER_MISSING = "the starter's revision {revision} is missing from migrations/versions/"

# Why there is no lock feedback.
SQUAWK_MISSING = "squawk is not installed (pip install squawk-cli): no lock feedback"
NOT_RENDERED = "the upgrade could not be written out as PostgreSQL SQL ({error}): no lock feedback"
SQUAWK_FAILED = "squawk could not read the upgrade's SQL ({error}): no lock feedback"
#: Squawk rules left out of the feedback: they are about style or types, not about locks.
SQUAWK_EXCLUDED = (
    "prefer-robust-stmts",
    "require-lock-timeout",
    "require-statement-timeout",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-timestamptz",
)
#: Seconds squawk may take.
SQUAWK_TIMEOUT = 20.0


# -- what the database holds ------------------------------------------------------


@dataclass(frozen=True)
class ColumnState:
    """A column as the database reports it.

    Attributes:
        name: The column's name.
        type: Its type as the database prints it (``VARCHAR(100)``).
        kind: The generic SQLAlchemy type it reflects as (``String``, ``Integer``…).
        nullable: Whether it accepts NULL.
    """

    name: str
    type: str
    kind: str
    nullable: bool

    def describe(self) -> str:
        """``priority VARCHAR(10) NULL``."""
        return f"{self.name} {self.type} {'NULL' if self.nullable else 'NOT NULL'}"


@dataclass(frozen=True)
class IndexState:
    """An index as the database reports it.

    Attributes:
        name: The index's name.
        columns: The indexed columns, in index order.
        unique: Whether it is a unique index.
    """

    name: str
    columns: tuple[str, ...]
    unique: bool

    def describe(self) -> str:
        """``ix_users_email (email)``, with ``UNIQUE`` when it is."""
        unique = "UNIQUE " if self.unique else ""
        return f"{unique}{self.name} ({', '.join(self.columns)})"


@dataclass(frozen=True)
class TableState:
    """A table's schema as the database reports it.

    Attributes:
        name: The table's name.
        columns: Its columns, by name.
        primary_key: The primary-key columns.
        indexes: Its indexes, by name.
        foreign_keys: Each foreign key as ``column -> table(column)``.
    """

    name: str
    columns: tuple[ColumnState, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[IndexState, ...] = ()
    foreign_keys: tuple[str, ...] = ()

    def column(self, name: str) -> ColumnState | None:
        """The column called ``name``, if the table has one."""
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class DatabaseState:
    """The schema and the rows of every table but Alembic's own.

    Attributes:
        tables: Every table's schema, by name.
        rows: Every table's rows in primary-key order, each a column-to-value
            mapping of plain values (dates as ISO text).
    """

    tables: tuple[TableState, ...]
    rows: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def table(self, name: str) -> TableState | None:
        """The table called ``name``, if there is one."""
        return next((t for t in self.tables if t.name == name), None)

    @property
    def row_count(self) -> int:
        """Rows over all tables."""
        return sum(len(r) for r in self.rows.values())

    def differences(self, other: DatabaseState) -> list[str]:
        """How the schema of ``other`` differs from this one (`schema_differences`)."""
        return schema_differences(self, other)


def schema_differences(expected: DatabaseState, got: DatabaseState) -> list[str]:
    """How the schema of ``got`` differs from ``expected``, one sentence each.

    Columns are compared by name, type and nullability (not by position);
    indexes by name, columns and uniqueness.
    """
    found: list[str] = []
    names = {t.name for t in expected.tables} | {t.name for t in got.tables}
    for name in sorted(names):
        before, after = expected.table(name), got.table(name)
        if before is None:
            found.append(f"table {name} is new")
            continue
        if after is None:
            found.append(f"table {name} is gone")
            continue
        for column in before.columns:
            now = after.column(column.name)
            if now is None:
                found.append(f"column {name}.{column.name} is gone")
            elif now != column:
                found.append(f"column {name}.{column.describe()} is now {now.describe()}")
        for column in after.columns:
            if before.column(column.name) is None:
                found.append(f"column {name}.{column.describe()} is new")
        if before.primary_key != after.primary_key:
            found.append(
                f"the primary key of {name} was ({', '.join(before.primary_key)}), "
                f"is ({', '.join(after.primary_key)})"
            )
        old_ix = {i.name: i for i in before.indexes}
        new_ix = {i.name: i for i in after.indexes}
        for ix_name in sorted(old_ix.keys() | new_ix.keys()):
            was, now_ix = old_ix.get(ix_name), new_ix.get(ix_name)
            if now_ix is None and was is not None:
                found.append(f"index {was.describe()} on {name} is gone")
            elif was is None and now_ix is not None:
                found.append(f"index {now_ix.describe()} on {name} is new")
            elif was != now_ix and was is not None and now_ix is not None:
                found.append(f"index {was.describe()} on {name} is now {now_ix.describe()}")
        for fk in sorted(set(before.foreign_keys) - set(after.foreign_keys)):
            found.append(f"foreign key {name}.{fk} is gone")
        for fk in sorted(set(after.foreign_keys) - set(before.foreign_keys)):
            found.append(f"foreign key {name}.{fk} is new")
    return found


# -- the submission's history ---------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """One revision the submission adds to the starter's history.

    Attributes:
        id: Its revision id.
        down_revisions: The revisions it follows (its ``down_revision``).
        file: Its file, relative to the exercise folder.
        empty_upgrade: Its ``upgrade()`` does nothing (only ``pass`` or a docstring).
        empty_downgrade: Its ``downgrade()`` does nothing.
    """

    id: str
    down_revisions: tuple[str, ...]
    file: str
    empty_upgrade: bool = False
    empty_downgrade: bool = False


@dataclass(frozen=True)
class History:
    """The submission's migration history, read against the starter's.

    Attributes:
        starter_head: The head of the starter's history.
        starter_revisions: Every revision of the starter's history.
        versions_present: Whether the submission has a migrations/versions/ folder.
        heads: The heads of the submission's history.
        new_revisions: Revisions the starter does not have, newest first.
        missing: Starter revisions the submission's history lacks.
        edited: Starter revisions whose code the submission changed, each with
            what differs (``upgrade()``).
        broken: Why the history cannot be read (a cycle, a dangling
            down_revision), or empty.
    """

    starter_head: str
    starter_revisions: tuple[str, ...] = ()
    versions_present: bool = True
    heads: tuple[str, ...] = ()
    new_revisions: tuple[Revision, ...] = ()
    missing: tuple[str, ...] = ()
    edited: tuple[tuple[str, str], ...] = ()
    broken: str = ""

    @property
    def written(self) -> tuple[Revision, ...]:
        """The new revisions that follow the starter's head directly."""
        return tuple(r for r in self.new_revisions if self.starter_head in r.down_revisions)

    @property
    def blocked(self) -> str:
        """Why ``upgrade head`` cannot be attempted, or empty when it can."""
        if self.broken:
            return HISTORY_BROKEN.format(error=self.broken)
        if self.starter_head in self.missing:
            return STARTER_MISSING.format(revision=self.starter_head)
        if not self.written:
            if not self.versions_present:
                return NO_VERSIONS_FOLDER
            return NO_MIGRATION.format(head=self.starter_head)
        if len(self.heads) > 1:
            return MULTIPLE_HEADS.format(count=len(self.heads), heads=", ".join(self.heads))
        return ""


@dataclass(frozen=True)
class Step:
    """One Alembic command run on the grading database.

    Attributes:
        command: ``upgrade head``, ``downgrade <rev>``…
        ok: It ran to the end.
        error: What went wrong, in one line (the database's own message).
        statement: The SQL statement that failed, when the database refused one.
        where: The place in the submission's files where it failed.
        seconds: How long it took.
    """

    command: str
    ok: bool
    error: str = ""
    statement: str = ""
    where: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class LintFinding:
    """One warning of the squawk linter on the upgrade's PostgreSQL SQL.

    Attributes:
        rule: Squawk's rule (``require-concurrent-index-creation``).
        message: What it says, with its suggestion.
    """

    rule: str
    message: str


@dataclass(frozen=True)
class MigrationReport:
    """What one run of a submission's migrations did to a populated database.

    Attributes:
        history: The submission's history, read against the starter's.
        before: The database at the starter's head, filled with the exercise's rows.
        upgrade: ``upgrade head`` (None when not attempted: see ``history.blocked``).
        after_upgrade: The database after a successful upgrade.
        models_compared: Whether the models were compared with the schema: after
            a successful upgrade, or at the starter's head when none was attempted.
        model_differences: What ``compare_metadata`` found, one sentence each.
        downgrade: ``downgrade <starter head>`` after a successful upgrade.
        after_downgrade: The database after a successful downgrade.
        reupgrade: ``upgrade head`` once more, after a successful downgrade.
        after_reupgrade: The database after the second upgrade.
        lookup: The statements of the exercise's lookup, when it has one.
        lookup_plans: The plan of each lookup statement, by statement index.
        postgresql_sql: The upgrade written out as PostgreSQL SQL (offline mode),
            when lock feedback was asked for.
        lint: What squawk says about that SQL.
        lint_note: Why there is no lint, when there is none.
    """

    history: History
    before: DatabaseState
    upgrade: Step | None = None
    after_upgrade: DatabaseState | None = None
    models_compared: bool = False
    model_differences: tuple[str, ...] = ()
    downgrade: Step | None = None
    after_downgrade: DatabaseState | None = None
    reupgrade: Step | None = None
    after_reupgrade: DatabaseState | None = None
    lookup: QueryLog | None = None
    lookup_plans: Mapping[int, Plan | str] = field(default_factory=dict)
    postgresql_sql: str = ""
    lint: tuple[LintFinding, ...] = ()
    lint_note: str = ""

    @property
    def upgraded(self) -> bool:
        """``upgrade head`` ran to the end."""
        return self.upgrade is not None and self.upgrade.ok


# -- reading revision files ---------------------------------------------------------


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _statements(function: ast.FunctionDef | None) -> list[ast.stmt]:
    """The statements of a function that do something (no docstring, pass or ``...``)."""
    if function is None:
        return []
    return [
        s
        for s in function.body
        if not isinstance(s, ast.Pass)
        and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]


def body_is_empty(path: Path, name: str) -> bool:
    """Whether the function ``name`` of the revision file at ``path`` does nothing."""
    return not _statements(_functions(path).get(name))


def code_fingerprint(path: Path) -> dict[str, str]:
    """The code of ``upgrade()`` and ``downgrade()``, layout and comments left out."""
    functions = _functions(path)
    return {
        f"{name}()": ast.dump(ast.Module(body=_statements(functions.get(name)), type_ignores=[]))
        for name in ("upgrade", "downgrade")
    }


def _down_revisions(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    if down is None:
        return ()
    return (str(down),) if isinstance(down, str) else tuple(str(d) for d in down)


# -- running in the child ---------------------------------------------------------


class SubmissionFailed(Exception):
    """The submission's own code failed in a way that ends the run (a `Failure`)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def alembic_config(project: Path, metadata: MetaData) -> Config:
    """A Config for the exercise folder ``project``, handing env.py the models' metadata."""
    config = Config()
    config.set_main_option("script_location", str(project / MIGRATIONS_DIR))
    config.attributes["target_metadata"] = metadata
    return config


def _relative(path: str | Path, roots: Iterable[Path]) -> str:
    text_path = str(path)
    for root in roots:
        prefix = str(root).rstrip("/" + os.sep) + os.sep
        if text_path.startswith(prefix):
            return text_path[len(prefix) :]
    return text_path


def _student_frame(exc: BaseException, project: Path) -> traceback.FrameSummary | None:
    root = str(project).rstrip("/" + os.sep) + os.sep

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
    return frames[-1] if frames else None


def _where(exc: BaseException, project: Path) -> str:
    frame = _student_frame(exc, project)
    if frame is None:
        return ""
    where = f"{_relative(frame.filename, [project])}, line {frame.lineno}, in {frame.name}"
    return f"{where}: {frame.line}" if frame.line else where


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}"
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__


def load_models(path: Path, name: str) -> MetaData:
    """Import ``models.py`` and return ``Base.metadata``.

    Raises:
        SubmissionFailed: The file does not compile, raises or defines no ``Base``.
    """
    label = path.name
    try:
        module = load_module(str(path), name)
    except SyntaxError as exc:
        raise SubmissionFailed(
            Failure(FailureKind.SYNTAX, f"{label} does not compile (line {exc.lineno}): {exc.msg}")
        ) from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise SubmissionFailed(
            Failure(FailureKind.EXIT, f"{label} called exit while being imported ({exc!r})")
        ) from None
    except Exception as exc:
        raise SubmissionFailed(
            Failure(
                FailureKind.IMPORT,
                f"importing {label} raised {_one_line(exc)}",
                _where(exc, path.parent),
            )
        ) from None
    metadata = getattr(getattr(module, "Base", None), "metadata", None)
    if not isinstance(metadata, MetaData):
        raise SubmissionFailed(
            Failure(
                FailureKind.MISSING_ENTRY,
                f"{label} defines no Base (the declarative base whose metadata holds the models)",
            )
        )
    return metadata


def read_history(
    project: Path, metadata: MetaData, starter: ScriptDirectory, versions_present: bool
) -> History:
    """Read the history of ``project`` against the ``starter``'s.

    Raises:
        SubmissionFailed: A revision file does not compile or raises on import.
    """
    starter_scripts = {s.revision: s for s in starter.walk_revisions()}
    starter_head = starter.get_current_head()
    assert starter_head is not None
    base = History(
        starter_head=starter_head,
        starter_revisions=tuple(starter_scripts),
        versions_present=versions_present,
    )
    script = ScriptDirectory.from_config(alembic_config(project, metadata))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scripts = list(script.walk_revisions())
            heads = tuple(script.get_heads())
    except SyntaxError as exc:
        where = _relative(exc.filename or "a revision", [project])
        raise SubmissionFailed(
            Failure(FailureKind.SYNTAX, f"{where} does not compile (line {exc.lineno}): {exc.msg}")
        ) from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise SubmissionFailed(
            Failure(FailureKind.EXIT, f"a revision called exit while being imported ({exc!r})")
        ) from None
    except Exception as exc:
        frame = _student_frame(exc, project)
        if frame is not None:
            raise SubmissionFailed(
                Failure(
                    FailureKind.IMPORT,
                    f"importing {_relative(frame.filename, [project])} raised {_one_line(exc)}",
                    _where(exc, project),
                )
            ) from None
        if not isinstance(exc, CommandError | RevisionError | KeyError):
            raise
        notes = [str(w.message) for w in caught]
        detail = str(exc).strip("'\"")
        if isinstance(exc, KeyError):
            detail = f"revision {detail} is named as a down_revision but no file defines it"
        return replace(base, broken="; ".join([detail, *notes]))
    by_id = {s.revision: s for s in scripts}
    missing = tuple(r for r in starter_scripts if r not in by_id)
    edited = []
    for revision, original in starter_scripts.items():
        mine = by_id.get(revision)
        if mine is None:
            continue
        what = [
            part
            for part, code in code_fingerprint(Path(original.path)).items()
            if code_fingerprint(Path(mine.path))[part] != code
        ]
        if _down_revisions(mine) != _down_revisions(original):
            what.append("down_revision")
        if what:
            edited.append((revision, ", ".join(what)))
    new = tuple(
        Revision(
            id=str(s.revision),
            down_revisions=_down_revisions(s),
            file=_relative(s.path, [project]),
            empty_upgrade=body_is_empty(Path(s.path), "upgrade"),
            empty_downgrade=body_is_empty(Path(s.path), "downgrade"),
        )
        for s in scripts
        if s.revision not in starter_scripts
    )
    return replace(
        base,
        heads=tuple(str(h) for h in heads),
        new_revisions=new,
        missing=missing,
        edited=tuple(edited),
    )


def _type_text(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render: its Python name will do
        return type(type_).__name__.upper()


#: Generic kinds a reflected type is reported as, most specific first.
TYPE_KINDS: tuple[type[sqltypes.TypeEngine[Any]], ...] = (
    sqltypes.Boolean,
    sqltypes.DateTime,
    sqltypes.Date,
    sqltypes.Time,
    sqltypes.Interval,
    sqltypes.Integer,
    sqltypes.Float,
    sqltypes.Numeric,
    sqltypes.Enum,
    sqltypes.Text,
    sqltypes.String,
    sqltypes.LargeBinary,
    sqltypes.JSON,
)


def type_kind(type_: Any) -> str:
    """The generic SQLAlchemy type a reflected type is an instance of (``Integer``)."""
    # MySQL and MariaDB store BOOLEAN as TINYINT(1) and reflect it so.
    if isinstance(type_, mysql.TINYINT) and getattr(type_, "display_width", None) == 1:
        return sqltypes.Boolean.__name__
    for kind in TYPE_KINDS:
        if isinstance(type_, kind):
            return kind.__name__
    return type(type_).__name__


def snapshot(connection: Connection) -> DatabaseState:
    """The schema and rows of every table on ``connection`` but Alembic's own."""
    inspector = inspect(connection)
    dialect = connection.dialect
    tables = []
    rows: dict[str, tuple[Mapping[str, Any], ...]] = {}
    metadata = MetaData()
    for name in sorted(inspector.get_table_names()):
        if name == VERSION_TABLE:
            continue
        columns = tuple(
            sorted(
                (
                    ColumnState(
                        str(c["name"]),
                        _type_text(c["type"], dialect),
                        type_kind(c["type"]),
                        bool(c["nullable"]),
                    )
                    for c in inspector.get_columns(name)
                ),
                key=lambda c: c.name,
            )
        )
        primary_key = tuple(
            str(c) for c in inspector.get_pk_constraint(name).get("constrained_columns") or ()
        )
        indexes = tuple(
            sorted(
                (
                    IndexState(
                        str(i["name"]),
                        tuple(
                            str(c) if c is not None else "<expression>" for c in i["column_names"]
                        ),
                        bool(i["unique"]),
                    )
                    for i in inspector.get_indexes(name)
                ),
                key=lambda i: i.name,
            )
        )
        foreign_keys = tuple(
            sorted(
                f"{', '.join(fk['constrained_columns'])} -> "
                f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"
                for fk in inspector.get_foreign_keys(name)
            )
        )
        tables.append(TableState(str(name), columns, primary_key, indexes, foreign_keys))
        table = Table(name, metadata, autoload_with=connection)
        order = [table.c[c] for c in primary_key] or list(table.c)
        rows[str(name)] = tuple(
            {str(key): normalize(value) for key, value in row._mapping.items()}
            for row in connection.execute(select(table).order_by(*order))
        )
    return DatabaseState(tuple(tables), rows)


def populate(connection: Connection, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Insert the exercise's rows into the tables as the database has them."""
    metadata = MetaData()
    metadata.reflect(connection)
    for name, rows in data.items():
        if rows:
            connection.execute(insert(metadata.tables[name]), [dict(r) for r in rows])


def _run_command(engine: Engine, config: Config, verb: str, target: str, project: Path) -> Step:
    label = f"{verb} {target}"
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            getattr(command, verb)(config, target)
            connection.commit()
    except (SystemExit, KeyboardInterrupt) as exc:
        raise SubmissionFailed(
            Failure(FailureKind.EXIT, f"`alembic {label}` tried to end the process ({exc!r})")
        ) from None
    except MemoryError:
        raise
    except Exception as exc:
        statement = exc.statement if isinstance(exc, DBAPIError) else ""
        return Step(
            label,
            False,
            error=_one_line(exc),
            statement=(statement or "").strip(),
            where=_where(exc, project),
            seconds=time.perf_counter() - started,
        )
    finally:
        config.attributes.pop("connection", None)
    return Step(label, True, seconds=time.perf_counter() - started)


def _null_text(nullable: Any) -> str:
    return "NULL" if nullable else "NOT NULL"


def describe_model_differences(diffs: Sequence[Any], dialect: Dialect) -> list[str]:
    """``compare_metadata``'s findings as sentences; an index is described by its columns."""
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    added = {d[1].name: d[1] for d in flat if d[0] == "add_index"}
    removed = {d[1].name: d[1] for d in flat if d[0] == "remove_index"}

    def columns(index: Any) -> str:
        return ", ".join(getattr(c, "name", str(c)) for c in index.expressions)

    # An index the database has under another name, on the same columns.
    renamed: dict[str, str] = {}
    for name, index in added.items():
        if name in removed:
            continue
        for old_name, old in removed.items():
            if old_name not in added and old_name not in renamed and columns(old) == columns(index):
                renamed[old_name] = name
                break
    old_names = {new: old for old, new in renamed.items()}

    def type_text(type_: Any) -> str:
        return _type_text(type_, dialect)

    found: list[str] = []
    for diff in flat:
        kind = diff[0]
        if kind == "add_table":
            found.append(f"models.py has table {diff[1].name}; the database has not")
        elif kind == "remove_table":
            found.append(f"the database has table {diff[1].name}; models.py has not")
        elif kind == "add_column":
            column = diff[3]
            found.append(
                f"models.py has column {diff[2]}.{column.name} ({type_text(column.type)}); "
                "the database has not"
            )
        elif kind == "remove_column":
            column = diff[3]
            found.append(
                f"the database has column {diff[2]}.{column.name} ({type_text(column.type)}); "
                "models.py has not"
            )
        elif kind == "add_index":
            index = diff[1]
            table = index.table.name
            if index.name in removed:
                found.append(
                    f"index {index.name} is on {table} ({columns(removed[index.name])}) in the "
                    f"database, on ({columns(index)}) in models.py"
                )
            elif index.name in old_names:
                found.append(
                    f"the index on {table} ({columns(index)}) is called "
                    f"{old_names[index.name]} in the database, {index.name} in models.py"
                )
            else:
                found.append(
                    f"models.py has index {index.name} on {table} ({columns(index)}); "
                    "the database has not"
                )
        elif kind == "remove_index":
            index = diff[1]
            if index.name in added or index.name in renamed:
                continue  # told with its add_index counterpart
            found.append(
                f"the database has index {index.name} on {index.table.name} ({columns(index)}); "
                "models.py has not"
            )
        elif kind == "modify_type":
            found.append(
                f"{diff[2]}.{diff[3]} is {type_text(diff[5])} in the database, "
                f"{type_text(diff[6])} in models.py"
            )
        elif kind == "modify_nullable":
            was, wanted = _null_text(diff[5]), _null_text(diff[6])
            found.append(f"{diff[2]}.{diff[3]} is {was} in the database, {wanted} in models.py")
        elif kind in ("add_fk", "remove_fk", "add_constraint", "remove_constraint"):
            constraint = diff[1]
            where = "models.py" if kind.startswith("add") else "the database"
            other = "the database" if kind.startswith("add") else "models.py"
            found.append(
                f"{where} has {type(constraint).__name__} {constraint.name} on "
                f"{constraint.table.name}; {other} has not"
            )
        else:
            found.append(f"{kind}: {diff[1:]!r}")
    return found


def compare_models(connection: Connection, metadata: MetaData) -> list[str]:
    """How the schema on ``connection`` differs from ``metadata`` (types and indexes included)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": metadata}
    )
    return describe_model_differences(compare_metadata(context, metadata), connection.dialect)


def analyze(connection: Connection) -> None:
    """Refresh the planner's statistics, as a production database keeps them fresh."""
    if connection.dialect.name == "mysql":
        tables = [t for t in inspect(connection).get_table_names() if t != VERSION_TABLE]
        if tables:
            quote = connection.dialect.identifier_preparer.quote
            connection.exec_driver_sql("ANALYZE TABLE " + ", ".join(quote(t) for t in tables))
    else:
        connection.exec_driver_sql("ANALYZE")


def run_lookup(engine: Engine, hooks: ModuleType) -> tuple[QueryLog, dict[int, Plan | str]]:
    """Run the exercise's lookup on fresh statistics and explain its statements."""
    with engine.connect() as connection:
        analyze(connection)
        connection.commit()
        sql, params = hooks.lookup(connection)
    with capture(engine) as live, engine.connect() as connection:
        connection.execute(text(sql), dict(params)).all()
    log = live.result if live.result is not None else QueryLog()
    plans: dict[int, Plan | str] = {}
    with engine.connect() as connection:
        for statement in log.statements:
            if statement.verb not in ("SELECT", "WITH"):
                continue
            params = statement.params
            try:
                plans[statement.index] = explain(
                    connection, statement.sql, tuple(params) if isinstance(params, list) else params
                )
            except PlanError as exc:
                plans[statement.index] = f"no plan: {exc}"
    return log, plans


def render_postgresql(project: Path, metadata: MetaData, start: str) -> str:
    """The upgrade from ``start`` to head as PostgreSQL SQL (Alembic's offline mode)."""
    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(project / MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", "postgresql://")
    config.attributes["target_metadata"] = metadata
    command.upgrade(config, f"{start}:head", sql=True)
    return buffer.getvalue()


def squawk_binary() -> str | None:
    """The squawk executable: next to this Python's, or on the PATH."""
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.is_file() else shutil.which("squawk")


def lint_postgresql(sql: str) -> tuple[tuple[LintFinding, ...], str]:
    """Squawk's findings on ``sql``, and a note when there are none to be had."""
    binary = squawk_binary()
    if binary is None:
        return (), SQUAWK_MISSING
    try:
        done = subprocess.run(
            [binary, "--reporter", "gitlab", "--exclude", ",".join(SQUAWK_EXCLUDED)],
            input=sql,
            capture_output=True,
            text=True,
            timeout=SQUAWK_TIMEOUT,
            check=False,
        )
        found = json.loads(done.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return (), SQUAWK_FAILED.format(error=_one_line(exc))
    findings: dict[tuple[str, str], None] = {}
    for item in found if isinstance(found, list) else []:
        if isinstance(item, dict):
            findings[(str(item.get("check_name", "")), str(item.get("description", "")))] = None
    return tuple(LintFinding(rule, message) for rule, message in findings), ""


def _lint(project: Path, metadata: MetaData, start: str) -> dict[str, Any]:
    try:
        sql = render_postgresql(project, metadata, start)
    except (SystemExit, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        return {"lint_note": NOT_RENDERED.format(error=_one_line(exc))}
    findings, note = lint_postgresql(sql)
    return {"postgresql_sql": sql, "lint": findings, "lint_note": note}


def migrate(job: Job) -> MigrationReport:
    """Everything the child does for one migration exercise (see the module docstring).

    Raises:
        SubmissionFailed: The submission's code ended the run.
        Exception: Anything else is the grader's or the catalog's fault.
    """
    project = Path(job.workdir)
    starter_dir = Path(job.params["starter"])
    hooks = load_module(str(job.hooks_path), f"ormgrade_hooks_{job.exercise_id}")
    engine = create_engine(job.databases["main"])
    try:
        starter_metadata = load_module(
            str(starter_dir / MODELS_FILE), f"ormgrade_starter_models_{job.exercise_id}"
        ).Base.metadata
        starter_config = alembic_config(starter_dir, starter_metadata)
        starter = ScriptDirectory.from_config(starter_config)
        starter_step = _run_command(engine, starter_config, "upgrade", "head", starter_dir)
        if not starter_step.ok:
            raise RuntimeError(f"the starter's history does not apply: {starter_step.error}")
        with engine.begin() as connection:
            populate(connection, hooks.rows(random.Random(job.params["seed"])))
        with engine.connect() as connection:
            before = snapshot(connection)

        # From here on student code runs in this process: what it changes of
        # the grader's own modules is tampering, reported instead of the report.
        seal = Seal((*SEALED_MODULES, *SEALED_HERE))
        report = _run_submission(job, engine, hooks, project, starter, before)
        problems = seal.broken()
        if problems:
            raise SubmissionFailed(Failure(FailureKind.TAMPERING, tampering("; ".join(problems))))
        return report
    finally:
        engine.dispose()


def _run_submission(
    job: Job,
    engine: Engine,
    hooks: ModuleType,
    project: Path,
    starter: ScriptDirectory,
    before: DatabaseState,
) -> MigrationReport:
    """Read the submission's history and run it on the populated database."""
    # As alembic.ini's prepend_sys_path = . does by hand: revisions may import models.
    sys.path.insert(0, str(project))
    metadata = load_models(project / MODELS_FILE, f"ormgrade_submission_models_{job.exercise_id}")
    history = read_history(project, metadata, starter, bool(job.params["versions_present"]))
    report = MigrationReport(history=history, before=before)
    config = alembic_config(project, metadata)
    if not history.blocked:
        if job.params.get("lint"):
            report = replace(report, **_lint(project, metadata, history.starter_head))
        step = _run_command(engine, config, "upgrade", "head", project)
        report = replace(report, upgrade=step)
        if not step.ok:
            return report
        with engine.connect() as connection:
            report = replace(report, after_upgrade=snapshot(connection))
    with engine.connect() as connection:
        report = replace(
            report,
            models_compared=True,
            model_differences=tuple(compare_models(connection, metadata)),
        )
    if hasattr(hooks, "lookup"):
        log, plans = run_lookup(engine, hooks)
        report = replace(report, lookup=log, lookup_plans=plans)
    if not report.upgraded:
        return report
    step = _run_command(engine, config, "downgrade", history.starter_head, project)
    report = replace(report, downgrade=step)
    if not step.ok:
        return report
    with engine.connect() as connection:
        report = replace(report, after_downgrade=snapshot(connection))
    step = _run_command(engine, config, "upgrade", "head", project)
    report = replace(report, reupgrade=step)
    if step.ok:
        with engine.connect() as connection:
            report = replace(report, after_reupgrade=snapshot(connection))
    return report


def execute(job: Job) -> RunRecord:
    """Run ``job`` in this (child) process; never raises.

    The `MigrationReport` is the record's ``value``; the lookup's statements
    are its ``log``.
    """
    started = time.perf_counter()

    def failed(failure: Failure) -> RunRecord:
        return RunRecord(role=job.role, purpose=job.purpose, failure=failure)

    try:
        report = migrate(job)
    except SubmissionFailed as exc:
        return failed(exc.failure)
    except MemoryError:
        return failed(Failure(FailureKind.MEMORY, "ran out of memory (the run's memory limit)"))
    except (SystemExit, KeyboardInterrupt) as exc:
        return failed(
            Failure(FailureKind.EXIT, f"the migration tried to end the process ({exc!r})")
        )
    except BaseException as exc:  # the grader's or the catalog's fault
        tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
        return failed(
            Failure(FailureKind.GRADER, f"the migration run failed: {_one_line(exc)}", tail)
        )
    return RunRecord(
        role=job.role,
        purpose=job.purpose,
        value=report,
        log=report.lookup or QueryLog(),
        duration=time.perf_counter() - started,
    )


def starter_copy(exercise: Path, oracle: Path, into: Path) -> Path:
    """A private copy of the starter: its Alembic environment, revisions and models.

    The environment (``alembic.ini``, ``env.py``, the script template) comes
    from the exercise's folder in the catalog; the revisions and ``models.py``
    from the pristine starter (``oracle``, the same folder in the instructor's
    repository), as they are editable. The submission's editable files are
    laid over such a copy (`stage`); the starter's history is run from a copy
    too, as Alembic writes bytecode next to what it loads.
    """
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(exercise / ALEMBIC_INI, into / ALEMBIC_INI)
    skipped = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(
        exercise / MIGRATIONS_DIR,
        into / MIGRATIONS_DIR,
        ignore=lambda folder, names: [
            *skipped(folder, names),
            *(["versions"] if Path(folder) == exercise / MIGRATIONS_DIR else []),
        ],
    )
    shutil.copytree(oracle / VERSIONS, into / VERSIONS, ignore=skipped)
    shutil.copyfile(oracle / MODELS_FILE, into / MODELS_FILE)
    return into
