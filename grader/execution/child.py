"""The code that runs inside the child process: import, call, record.

Nothing here runs in the grading parent. `execute` never raises: whatever the
exercise code does becomes a `Failure` in the returned `RunRecord`. Before
anything of the exercise is imported, `execute` installs the connection guard
and seals the grader's objects (`grader.execution.guard`); a run whose recording was
tampered with comes back as a ``tampering`` failure, never with a better score.

Who is to blame decides the failure kind: what goes wrong before the
submission is imported is the grader's (or the catalog's) fault; what goes
wrong once it has run is the submission's, including an exercise hook that
cannot read the database after the call (the same hook worked for the starter).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import importlib.util
import inspect
import os
import sys
import time
import traceback
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from grader.databases.connect import make_engine
from grader.execution import audit
from grader.execution.capture import INTERNAL_OPTION, QueryLog, capture
from grader.execution.fault import inject_write_fault
from grader.execution.guard import CHANGED, UNACCOUNTED, Guard, Seal, explained_traces, tampering
from grader.execution.run import Failure, FailureKind, Job, RunRecord

#: Most items a returned iterable may yield before it is called endless.
MAX_ITEMS = 2_000_000
#: Lines of a traceback kept in a failure.
TRACEBACK_LINES = 14
#: The grader package: its frames are left out of a submission's traceback.
GRADER_DIR = Path(__file__).parents[1]
#: Characters of an exception's message kept in a failure.
MESSAGE_CHARS = 500

# -- messages ({exception} is "TypeName: message") ------------------------------
NOT_COMPILED = "{file} does not compile ({where}): {message}"
EXIT_AT_IMPORT = "{file} tried to end the process while being imported ({exception})"
IMPORT_FAILED = "importing {file} raised {exception}"
NO_ENTRY = "{file} defines no function {entry}()"
BAD_SIGNATURE = "{entry}() cannot be called as the exercise calls it ({call}): {reason}"
RAISED = "{entry}() raised {exception}"
EXIT_IN_CALL = (
    "{entry}() tried to end the process ({exception}); an exercise must return its result"
)
OUT_OF_MEMORY = "ran out of memory (the run's memory limit)"
HOOK_AFTER_CALL = (
    "the exercise's {hook} hook could not read the database after {entry}() ran "
    "({exception}): did it drop or change tables?"
)
HOOK_FAILED = "the exercise's {hook} hook failed: {exception}"
NOT_PREPARED = "cannot prepare the run: {exception}"
GRADER_FAILED = "the grader's code failed in the child: {exception}"
TOO_DEEP = "the returned value is nested more than {depth} levels deep"
ORM_OBJECT = (
    "returned an ORM object ({type}); return plain values "
    "(numbers, strings, tuples, lists, dicts) as the starter does"
)
TOO_MANY_ITEMS = "the returned iterable yields more than {limit} items"
NOT_COMPARABLE = "returned a {type}, which cannot be compared"


class BadReturn(Exception):
    """The entry function returned something that cannot be compared."""


def normalize(value: Any, _depth: int = 0) -> Any:
    """Make a return value comparable across processes and dialects.

    Rows and sequences become lists, sets sorted lists, numbers are rounded to
    six places, dates become ISO text. ORM objects are refused: exercises
    return plain values, as their starters do.
    """
    if _depth > 20:
        raise BadReturn(TOO_DEEP.format(depth=20))
    if value is None or isinstance(value, bool):
        return value
    # Subclasses (enums, str/int/float subclasses) become the exact builtin type.
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int):
        return value if type(value) is int else int.__int__(value)
    if isinstance(value, float):
        return _number(float.__float__(value))
    if isinstance(value, decimal.Decimal):
        return _number(float(value)) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return bytes.decode(value, "utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "_sa_instance_state"):
        raise BadReturn(ORM_OBJECT.format(type=type(value).__name__))
    if isinstance(value, Mapping):
        return {_text(str(k)): normalize(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((normalize(v, _depth + 1) for v in value), key=repr)
    if isinstance(value, Iterable):
        items = []
        for number, item in enumerate(value):
            if number >= MAX_ITEMS:
                raise BadReturn(TOO_MANY_ITEMS.format(limit=MAX_ITEMS))
            items.append(normalize(item, _depth + 1))
        return items
    raise BadReturn(NOT_COMPARABLE.format(type=type(value).__name__))


def _number(value: float) -> int | float:
    """``value`` rounded to six places, and a whole number as an int.

    PostgreSQL and MySQL answer AVG and SUM with exact decimals, SQLite and
    Python with floats: ``Decimal('2.0000')`` and ``2.0`` must come out the
    same, down to their repr (unordered results are sorted by it).
    """
    rounded = round(value, 6)
    return int(rounded) if rounded.is_integer() else rounded


def _text(value: str) -> str:
    return value if type(value) is str else str.__str__(value)


def describe(exc: BaseException) -> str:
    """``TypeName: message`` of ``exc``, capped; never raises, whatever ``exc`` is."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except BaseException:  # a hostile __str__
        message = "<the message could not be read>"
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    return f"{name}: {message}" if message else name


def shorten(text: str, roots: Iterable[str]) -> str:
    """Replace absolute paths of the work folders with short names."""
    for root in roots:
        if root:
            text = text.replace(root.rstrip("/" + os.sep) + os.sep, "")
    return text


def _path_roots(job: Job) -> list[str]:
    """Folders whose prefix is cut from paths in tracebacks, most specific first."""
    import sysconfig

    roots = [str(Path(job.module_path).parent)]
    roots += [sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")]
    return [*dict.fromkeys(roots), str(GRADER_DIR.parent)]


def _traceback_tail(exc: BaseException, job: Job, lines: int = TRACEBACK_LINES) -> str:
    """Where ``exc`` came from, in the submission's terms; never raises.

    Every frame of the submission is kept; the grader's own frames are left
    out; a run of library frames is cut down to a count, except the last frame
    (where the error was raised). Paths are shortened to the submission
    (``task.py``) or the library (``sqlalchemy/orm/session.py``). A compile
    error shows its line and caret instead. The exception itself is in the
    failure's message, not repeated here.
    """
    try:
        roots = _path_roots(job)
        if isinstance(exc, SyntaxError):
            shown = traceback.format_exception_only(type(exc), exc)[:-1]
            return shorten("".join(shown).rstrip("\n"), roots)
        grader_dir = str(GRADER_DIR) + os.sep
        submission_dir = str(Path(job.module_path).parent) + os.sep
        stack = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if not frame.filename.startswith(grader_dir)
        ]
        ours = [i for i, frame in enumerate(stack) if frame.filename.startswith(submission_dir)]
        first = ours[0] if ours else len(stack) - 1
        kept: list[traceback.FrameSummary | int] = []
        skipped = 0
        for number in range(max(first, 0), len(stack)):
            if number in ours or number == len(stack) - 1:
                if skipped:
                    kept.append(skipped)
                    skipped = 0
                kept.append(stack[number])
            else:
                skipped += 1
        text = ["Traceback (most recent call last):\n"] if kept else []
        for item in kept:
            if isinstance(item, int):
                text.append(f"  [… {item} library frame(s) …]\n")
            else:
                text.extend(traceback.StackSummary.from_list([item]).format())
        tail = "".join(text).rstrip("\n").splitlines()
        if len(tail) > lines:
            tail = [tail[0], "  [… earlier frames left out …]", *tail[len(tail) - lines + 2 :]]
        return shorten("\n".join(tail), roots)
    except BaseException:  # a traceback that cannot be read is left out
        return ""


def _grader_traceback(exc: BaseException, chars: int = 4000) -> str:
    """The end of ``exc``'s whole traceback, for a grader error (our frames matter)."""
    try:
        return "".join(traceback.format_exception(exc))[-chars:].rstrip("\n")
    except BaseException:  # a traceback that cannot be read is left out
        return ""


def load_module(path: str, name: str) -> ModuleType:
    """Import the file at ``path`` as a fresh module called ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- call styles --------------------------------------------------------------
#: Job options of the ``session_repeated`` call style: the calls each worker makes,
#: and the wall-clock time (``time.time()``) at which every worker starts calling.
REPEAT = "repeat"
START_AT = "start_at"
#: Job option of the ``session_repeated`` call style: seconds each worker pauses after
#: every SELECT, as a network round trip would. It widens the window between a read
#: and the write that depends on it, so that a lost update shows whatever the load.
READ_PAUSE = "read_pause"

#: Call styles whose engines are async (the recording listens to their sync engines).
ASYNC_CALLS = frozenset({"async_session"})
#: The async driver of each database, for the async call styles.
ASYNC_DRIVERS = {
    "sqlite": "aiosqlite",
    "postgresql": "psycopg_async",
    "mysql": "aiomysql",
    "mariadb": "aiomysql",
}

CallStyle = Callable[[Callable[..., Any], Mapping[str, Engine], Mapping[str, Any], Job], Any]


def _call_with_session(
    fn: Callable[..., Any], engines: Mapping[str, Engine], params: Mapping[str, Any], job: Job
) -> Any:
    with Session(engines["main"]) as session:
        value = fn(session, **params)
        return normalize(value)


def _call_with_engine(
    fn: Callable[..., Any], engines: Mapping[str, Engine], params: Mapping[str, Any], job: Job
) -> Any:
    return normalize(fn(engines["main"], **params))


def _call_repeatedly(
    fn: Callable[..., Any], engines: Mapping[str, Engine], params: Mapping[str, Any], job: Job
) -> Any:
    """One worker of a concurrent run: wait for the common start, then call ``repeat`` times.

    Each call gets a session of its own, as each request of an application
    would; the workers of one run start together so that their calls overlap.
    """
    start_at = float(job.options.get(START_AT, 0.0))
    while (delay := start_at - time.time()) > 0:
        time.sleep(min(delay, 0.05))
    pause = float(job.options.get(READ_PAUSE, 0.0))

    def after_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT":
            time.sleep(pause)

    if pause > 0:
        event.listen(engines["main"], "after_cursor_execute", after_read)
    values = []
    try:
        for _ in range(int(job.options.get(REPEAT, 1))):
            with Session(engines["main"]) as session:
                values.append(normalize(fn(session, **params)))
    finally:
        if pause > 0:
            event.remove(engines["main"], "after_cursor_execute", after_read)
    return values


def _call_with_async_session(
    fn: Callable[..., Any], engines: Mapping[str, Engine], params: Mapping[str, Any], job: Job
) -> Any:
    """``await fn(session, **params)`` with an `AsyncSession`, on an event loop of its own."""

    async def call() -> Any:
        async with AsyncSession(AsyncEngine(engines["main"])) as session:
            value = fn(session, **params)
            if inspect.isawaitable(value):
                value = await value
            return normalize(value)

    return asyncio.run(call())


def async_url(url: str) -> URL:
    """``url`` with the async driver of its database (``sqlite+aiosqlite`` …)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ValueError(f"no async driver is known for {backend}")
    return parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")


def _call_with_primary_replica(
    fn: Callable[..., Any], engines: Mapping[str, Engine], params: Mapping[str, Any], job: Job
) -> Any:
    return normalize(fn(engines["main"], engines["replica"], **params))


#: How an exercise's entry function is called, by the spec's ``call`` key.
CALL_STYLES: dict[str, CallStyle] = {
    "session": _call_with_session,
    "engine": _call_with_engine,
    "primary_replica": _call_with_primary_replica,
    "session_repeated": _call_repeatedly,
    "async_session": _call_with_async_session,
}
#: The positional arguments each call style passes before the params.
CALL_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "session": ("session",),
    "engine": ("engine",),
    "primary_replica": ("primary", "replica"),
    "session_repeated": ("session",),
    "async_session": ("session",),
}
#: The databases a call style needs besides ``main`` (copies of the same template).
CALL_DATABASES: dict[str, tuple[str, ...]] = {"primary_replica": ("replica",)}


#: Prefix of database roles that only warm a call up (benchmarks, never grading).
WARMUP = "warmup_"


def _warm_up(
    fn: Callable[..., Any],
    style: CallStyle,
    engines: dict[str, Engine],
    module: ModuleType,
    hooks: Any,
    job: Job,
) -> None:
    """Call ``fn`` once, unrecorded, on copies of its own, so that the timed call is warm.

    Benchmarks compare the starter and the solution on warm calls (statements
    compiled, mappers configured, modules imported), as an application would
    run them; grading never warms up, as it judges statements, not time.
    """
    folder = os.getcwd()
    try:
        if job.workdir:
            os.chdir(job.workdir)
        audit.set_phase("warmup")
        prepare = getattr(hooks, "prepare", None)
        if prepare is not None:
            prepare(engines, module, job)
        style(fn, engines, job.params, job)
    except Exception:  # a warm-up that fails leaves the timed call cold, nothing more
        pass
    finally:
        audit.set_phase("idle")
        os.chdir(folder)
        for engine in engines.values():
            engine.dispose()


def _engines(job: Job) -> dict[str, Engine]:
    if job.call in ASYNC_CALLS:
        # The recording listens to the sync engine under each AsyncEngine. No pool:
        # an async connection belongs to the event loop that made it.
        engines = {
            name: create_async_engine(async_url(url), poolclass=NullPool).sync_engine
            for name, url in job.databases.items()
        }
    else:
        engines = {name: make_engine(url) for name, url in job.databases.items()}
    for engine in engines.values():
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _skip_sync)
    return engines


def _skip_sync(dbapi_connection: Any, connection_record: Any) -> None:
    # A run's SQLite file is a throwaway copy: without an fsync per COMMIT, code that
    # commits row by row costs what its statements cost, not what the disk costs under load.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.close()


def _hooks(job: Job) -> ModuleType | None:
    if not job.hooks_path:
        return None
    return load_module(job.hooks_path, f"ormgrade_hooks_{job.exercise_id}")


def _take_snapshot(take: Callable[..., Any], engines: Mapping[str, Engine], job: Job) -> Any:
    with engines["main"].connect().execution_options(**{INTERNAL_OPTION: True}) as conn:
        return normalize(take(conn, job))


def _prime(engines: Mapping[str, Engine]) -> None:
    """Connect once to each SQLite engine before the recorded call.

    The dialect's own set-up statements then run now, not inside the call.
    """
    for engine in engines.values():
        if engine.dialect.name == "sqlite":
            if engine.dialect.is_async:
                asyncio.run(_connect_once(AsyncEngine(engine)))
            else:
                with engine.connect():
                    pass


async def _connect_once(engine: AsyncEngine) -> None:
    async with engine.connect():
        pass


def execute(job: Job) -> RunRecord:
    """Run ``job`` in this process and record what happened; never raises.

    The connection guard and the seal are set up first; after the call the
    guard's account, the seal and the grader's own checks are verified (the
    checks were bound before the submission was imported, and their code is
    compared with what it was then).
    """
    guard = Guard.install()
    event.listen(Engine, "before_cursor_execute", _report_statement)
    try:
        seal = Seal()
        checks: tuple[Any, Any] = (guard.verify, seal.broken)
        pinned = tuple(check.__func__.__code__ for check in checks)
        try:
            record = _execute(job, guard)
        except MemoryError:
            failure = Failure(FailureKind.MEMORY, OUT_OF_MEMORY)
            return RunRecord(role=job.role, purpose=job.purpose, failure=failure)
        except BaseException as exc:  # the grader's code failed, or was made to
            broken = [*_account_problems(None), *seal.broken()]
            kind, message = FailureKind.GRADER, GRADER_FAILED.format(exception=describe(exc))
            if broken:
                kind, message = FailureKind.TAMPERING, tampering("; ".join(broken))
            return RunRecord(
                role=job.role,
                purpose=job.purpose,
                failure=Failure(kind, message, _grader_traceback(exc)),
            )
        refused = _account_problems(record.log if record.ok else None)
        if refused:
            refused += [p for p in checks[1]() if p not in refused]
            failure = Failure(FailureKind.TAMPERING, tampering("; ".join(refused)))
            return replace(record, failure=failure, value=None)
        if record.failure is not None and record.failure.kind != FailureKind.FAULT:
            return record
        problems = [*checks[0](record.log), *checks[1]()]
        if any(c.__func__.__code__ is not p for c, p in zip(checks, pinned, strict=True)):
            problems.append(CHANGED.format(names="grader.execution.guard"))
        if problems:
            return RunRecord(
                role=job.role,
                purpose=job.purpose,
                failure=Failure(FailureKind.TAMPERING, tampering("; ".join(problems))),
                log=record.log,
            )
        return record
    finally:
        guard.uninstall()
        with contextlib.suppress(Exception):
            event.remove(Engine, "before_cursor_execute", _report_statement)


def _report_statement(*args: Any) -> None:
    """Tell the audit hook that SQLAlchemy sends a statement (any engine, any dialect)."""
    sys.audit(audit.SA_STATEMENT, args[2] if len(args) > 2 else None)


def _account_problems(log: QueryLog | None) -> list[str]:
    """What the audit hook refused or counted against the run, as tampering descriptions."""
    account = audit.account()
    problems = list(account.refusals)
    if account.outside:
        problems.append(audit.OUTSIDE_STATEMENTS.format(count=account.outside))
    if log is not None and account.seen:
        explained = explained_traces(log)
        if account.seen > explained:
            problems.append(UNACCOUNTED.format(seen=account.seen, explained=explained))
    return problems


def _execute(job: Job, guard: Guard) -> RunRecord:
    """The run itself (see `execute`)."""

    def failed(
        kind: str, message: str, exc: BaseException | None = None, log: Any = None
    ) -> RunRecord:
        tail = ""
        if exc is not None:
            grader = kind == FailureKind.GRADER
            tail = _grader_traceback(exc) if grader else _traceback_tail(exc, job)
        return RunRecord(
            role=job.role,
            purpose=job.purpose,
            failure=Failure(kind, message, tail),
            log=log if log is not None else QueryLog(),
        )

    try:
        engines = _engines(job)
        warm = {n[len(WARMUP) :]: engines.pop(n) for n in list(engines) if n.startswith(WARMUP)}
        _prime(engines)
        hooks = _hooks(job)
        style = CALL_STYLES[job.call]
    except Exception as exc:  # the grader's or the catalog's fault
        return failed(FailureKind.GRADER, NOT_PREPARED.format(exception=describe(exc)), exc)

    def hook_failed(hook: str, exc: BaseException, log: Any = None) -> RunRecord:
        # The starter ran the same hook on the same data: after the submission
        # was imported, a failing hook is the submission's doing.
        if job.role == "oracle":
            message = HOOK_FAILED.format(hook=hook, exception=describe(exc))
            return failed(FailureKind.GRADER, message, exc, log)
        message = HOOK_AFTER_CALL.format(hook=hook, entry=job.entry, exception=describe(exc))
        return failed(FailureKind.EXCEPTION, message, exc, log)

    module_name = f"ormgrade_{job.role}_{job.exercise_id}"
    file = Path(job.module_path).name
    # Nothing of the submission has run yet: from here on the audit hook refuses
    # what a run may not do, and counts statements run at import time against it.
    sys.dont_write_bytecode = True
    audit.arm()
    try:
        module = load_module(job.module_path, module_name)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        message = NOT_COMPILED.format(file=file, where=where, message=exc.msg)
        return failed(FailureKind.SYNTAX, message, exc)
    except (SystemExit, KeyboardInterrupt) as exc:
        message = EXIT_AT_IMPORT.format(file=file, exception=describe(exc))
        return failed(FailureKind.EXIT, message, exc)
    except MemoryError as exc:
        return failed(FailureKind.MEMORY, OUT_OF_MEMORY, exc)
    except BaseException as exc:  # the submission's code raised
        message = IMPORT_FAILED.format(file=file, exception=describe(exc))
        return failed(FailureKind.IMPORT, message, exc)
    finally:
        audit.set_phase("idle")

    try:
        fn = getattr(module, job.entry, None)
        if not callable(fn):
            return failed(FailureKind.MISSING_ENTRY, NO_ENTRY.format(file=file, entry=job.entry))
    except Exception as exc:  # a module with a hostile __getattr__
        message = IMPORT_FAILED.format(file=file, exception=describe(exc))
        return failed(FailureKind.IMPORT, message, exc)
    if job.call in CALL_ARGUMENTS:
        arguments = CALL_ARGUMENTS[job.call]
        try:
            inspect.signature(fn).bind(*arguments, **job.params)
        except TypeError as exc:
            call = f"{job.entry}({', '.join((*arguments, *job.params))})"
            message = BAD_SIGNATURE.format(entry=job.entry, call=call, reason=describe(exc))
            return failed(FailureKind.MISSING_ENTRY, message)
        except Exception:  # no signature to read (a builtin, a hostile object): the call decides
            pass

    prepare = getattr(hooks, "prepare", None)
    if prepare is not None:
        try:
            prepare(engines, module, job)
        except Exception as exc:
            return hook_failed("prepare", exc)

    if warm:
        _warm_up(fn, style, warm, module, hooks, job)

    take = getattr(hooks, "snapshot", None)
    baseline = None
    if job.fault_after_rows is not None and take is not None:
        try:
            baseline = _take_snapshot(take, engines, job)
        except Exception as exc:
            return failed(FailureKind.GRADER, f"the exercise's snapshot hook failed: {exc!r}", exc)

    live = None
    fault = None
    fault_failure: Failure | None = None
    started = time.perf_counter()
    peak: int | None = None
    folder = os.getcwd()
    try:
        # The call runs in the run's private folder: relative paths it writes land there.
        if job.workdir:
            os.chdir(job.workdir)
        if job.measure_memory:
            tracemalloc.start()
        with (
            capture(engines) as live,
            inject_write_fault(engines["main"], job.fault_after_rows) as fault,
            guard.recording(live.record_driver_sql, engines.values()),
        ):
            audit.set_phase("call")
            try:
                value = style(fn, engines, job.params, job)
            finally:
                audit.set_phase("idle")
        if job.measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
    except BadReturn as exc:
        return failed(FailureKind.BAD_RETURN, str(exc), log=live.result if live else None)
    except MemoryError as exc:
        return failed(FailureKind.MEMORY, OUT_OF_MEMORY, exc, live.result if live else None)
    except (SystemExit, KeyboardInterrupt) as exc:
        message = EXIT_IN_CALL.format(entry=job.entry, exception=describe(exc))
        return failed(FailureKind.EXIT, message, exc, live.result if live else None)
    except BaseException as exc:
        message = RAISED.format(entry=job.entry, exception=describe(exc))
        if fault is None or not fault.fired:
            return failed(FailureKind.EXCEPTION, message, exc, live.result if live else None)
        # The injected failure surfaced: expected in a fault run; the state after it is judged.
        value = None
        fault_failure = Failure(FailureKind.FAULT, message, _traceback_tail(exc, job))
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        with contextlib.suppress(OSError):
            os.chdir(folder)
    duration = time.perf_counter() - started
    log = live.result if live is not None and live.result is not None else QueryLog()

    snapshot = None
    extra: dict[str, Any] = {}
    if take is not None:
        try:
            snapshot = _take_snapshot(take, engines, job)
        except Exception as exc:
            return hook_failed("snapshot", exc, log)
    report = getattr(hooks, "report", None)
    if report is not None:
        try:
            extra = dict(report(engines, job, log))
        except Exception as exc:
            return hook_failed("report", exc, log)
    if fault is not None and job.fault_after_rows is not None:
        extra["fault"] = fault.describe()
    for engine in engines.values():
        engine.dispose()
    return RunRecord(
        role=job.role,
        purpose=job.purpose,
        value=value,
        snapshot=snapshot,
        log=log,
        duration=duration,
        peak_memory=peak,
        extra=extra,
        failure=fault_failure,
        baseline=baseline,
    )
