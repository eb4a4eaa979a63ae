"""The child's side of a migration exercise: run a submission's history on a populated database.

A migration exercise is a small Alembic project (`grader.migrations.project`:
the shared scaffold, the exercise's models and starter history). The student
edits ``models.py`` and adds a revision under ``migrations/versions/``; the
grader takes only those two from the submission and everything else from the
catalog and the scaffold.

Grading happens in one child process (the sandbox's time and memory limits
apply: revisions and models are student code). On a fresh database it builds
the starter's head with the starter's own history, fills it with the
exercise's rows (edge cases included), then reads the submission's history,
upgrades to its head, compares the models with the schema, downgrades to the
starter's head and upgrades again, taking a `DatabaseState` after each step.
The `MigrationReport` that comes back is judged by the checks of
`grader.checks.migration`.

The stages live apart: `grader.migrations.state` (snapshots of the database
and their differences), `grader.migrations.history` (the submission's history
read against the starter's; the student's revision is found by its parent),
`grader.migrations.comparison` (models against schema),
`grader.migrations.lint` (lock feedback) and `grader.migrations.failure` (the
submission's own failures); this module runs the Alembic commands in order and
is the child's entry (`execute`).
"""

from __future__ import annotations

import random
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from grader.analysis.plan import Plan, PlanError, explain
from grader.databases.connect import make_engine
from grader.execution.capture import QueryLog, capture
from grader.execution.child import load_module, normalize
from grader.execution.guard import SEALED_MODULES, Seal, tampering
from grader.execution.run import Failure, FailureKind, Job, RunRecord
from grader.migrations.comparison import compare_models
from grader.migrations.failure import SubmissionFailed, one_line, where_in_submission
from grader.migrations.history import History, read_history
from grader.migrations.lint import LintFinding, lint_upgrade
from grader.migrations.locks import LockRecorder, RecordedStatement
from grader.migrations.project import MODELS_FILE, alembic_config
from grader.migrations.state import VERSION_TABLE, DatabaseState, populate, snapshot

#: Modules besides the guard's whose objects the migration run relies on.
SEALED_HERE = (
    "grader.migrations.execute",
    "grader.migrations.state",
    "grader.migrations.history",
    "grader.migrations.comparison",
    "grader.migrations.lint",
    "grader.migrations.locks",
    "grader.migrations.failure",
    "grader.migrations.project",
    "grader.analysis.plan",
)


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
class Probe:
    """A row written after the upgrade by code that does not know the new column.

    Attributes:
        table: The table it went into.
        column: The new column.
        value: What the column holds for it (when the insert worked).
        error: Why the insert failed, in one line.
    """

    table: str
    column: str
    value: object = None
    error: str = ""


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
        upgrade_statements: What the first ``upgrade head`` ran, with the rows each
            statement wrote and its transaction, when locks are judged.
        probe: A row inserted after the upgrade without the new column, as read
            back (the column's value), when the exercise asks for its default.
        dialect: The database it ran on (``sqlite``, ``postgresql``, ``mysql``).
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
    upgrade_statements: tuple[RecordedStatement, ...] = ()
    probe: Probe | None = None
    dialect: str = ""

    @property
    def upgraded(self) -> bool:
        """``upgrade head`` ran to the end."""
        return self.upgrade is not None and self.upgrade.ok


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
                f"importing {label} raised {one_line(exc)}",
                where_in_submission(exc, path.parent),
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


def run_command(engine: Engine, config: Config, verb: str, target: str, project: Path) -> Step:
    """Run ``alembic <verb> <target>`` on a connection of ``engine``, committed if it ends.

    Raises:
        SubmissionFailed: The submission's code tried to end the process.
    """
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
            error=one_line(exc),
            statement=(statement or "").strip(),
            where=where_in_submission(exc, project),
            seconds=time.perf_counter() - started,
        )
    finally:
        config.attributes.pop("connection", None)
    return Step(label, True, seconds=time.perf_counter() - started)


def analyze(connection: Connection) -> None:
    """Refresh the planner's statistics, as a production database keeps them fresh."""
    if connection.dialect.name == "mysql":
        tables = [t for t in inspect(connection).get_table_names() if t != VERSION_TABLE]
        if tables:
            quote = connection.dialect.identifier_preparer.quote
            connection.exec_driver_sql("ANALYZE TABLE " + ", ".join(quote(t) for t in tables))
    else:
        connection.exec_driver_sql("ANALYZE")


def insert_probe(engine: Engine, hooks: ModuleType, table: str, column: str) -> Probe:
    """Insert the exercise's probe row without ``column``, read ``column`` back, roll back.

    The row stands for the application code still deployed while the
    migration runs: it knows nothing of the new column.
    """
    row = dict(hooks.probe_row())
    with engine.connect() as connection:
        reflected = Table(table, MetaData(), autoload_with=connection)
        key = [c for c in reflected.primary_key.columns]
        try:
            connection.execute(insert(reflected).values(**row))
            where = [c == row[c.name] for c in key]
            value = connection.execute(select(reflected.c[column]).where(*where)).scalar_one()
        except (SystemExit, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            return Probe(table, column, error=one_line(exc))
        finally:
            connection.rollback()
    return Probe(table, column, value=normalize(value))


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


def migrate(job: Job) -> MigrationReport:
    """Everything the child does for one migration exercise (see the module docstring).

    Raises:
        SubmissionFailed: The submission's code ended the run.
        Exception: Anything else is the grader's or the catalog's fault.
    """
    project = Path(job.workdir)
    starter_dir = Path(job.params["starter"])
    hooks = load_module(str(job.hooks_path), f"ormgrade_hooks_{job.exercise_id}")
    engine = make_engine(job.databases["main"])
    try:
        starter_metadata = load_module(
            str(starter_dir / MODELS_FILE), f"ormgrade_starter_models_{job.exercise_id}"
        ).Base.metadata
        starter_config = alembic_config(starter_dir, starter_metadata)
        starter = ScriptDirectory.from_config(starter_config)
        starter_step = run_command(engine, starter_config, "upgrade", "head", starter_dir)
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
    report = MigrationReport(history=history, before=before, dialect=engine.dialect.name)
    config = alembic_config(project, metadata)
    if not history.blocked:
        if job.params.get("lint"):
            report = replace(report, **lint_upgrade(project, metadata, history.starter_head))
        if job.params.get("locks"):
            with LockRecorder(engine) as recorder:
                step = run_command(engine, config, "upgrade", "head", project)
                if not recorder.intact():
                    raise SubmissionFailed(
                        Failure(
                            FailureKind.TAMPERING,
                            tampering("the upgrade removed the grader's statement listeners"),
                        )
                    )
            report = replace(report, upgrade_statements=tuple(recorder.statements))
        else:
            step = run_command(engine, config, "upgrade", "head", project)
        report = replace(report, upgrade=step)
        if not step.ok:
            return report
        with engine.connect() as connection:
            report = replace(report, after_upgrade=snapshot(connection))
        probe = job.params.get("probe")
        if probe and hasattr(hooks, "probe_row"):
            report = replace(report, probe=insert_probe(engine, hooks, *probe))
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
    step = run_command(engine, config, "downgrade", history.starter_head, project)
    report = replace(report, downgrade=step)
    if not step.ok:
        return report
    with engine.connect() as connection:
        report = replace(report, after_downgrade=snapshot(connection))
    step = run_command(engine, config, "upgrade", "head", project)
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
            Failure(FailureKind.GRADER, f"the migration run failed: {one_line(exc)}", tail)
        )
    return RunRecord(
        role=job.role,
        purpose=job.purpose,
        value=report,
        log=report.lookup or QueryLog(),
        duration=time.perf_counter() - started,
    )
