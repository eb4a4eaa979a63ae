"""The code that runs inside the child process: import, call, record.

Nothing here runs in the grading parent. `execute` never raises: whatever the
exercise code does becomes a `Failure` in the returned `RunRecord`.
"""

from __future__ import annotations

import datetime as dt
import decimal
import importlib.util
import inspect
import sys
import time
import traceback
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.capture import INTERNAL_OPTION, QueryLog, capture
from grader.run import Failure, FailureKind, Job, RunRecord

#: Most items a returned iterable may yield before it is called endless.
MAX_ITEMS = 2_000_000


class BadReturn(Exception):
    """The entry function returned something that cannot be compared."""


def normalize(value: Any, _depth: int = 0) -> Any:
    """Make a return value comparable across processes and dialects.

    Rows and sequences become lists, sets sorted lists, numbers are rounded to
    six places, dates become ISO text. ORM objects are refused: exercises
    return plain values, as their starters do.
    """
    if _depth > 20:
        raise BadReturn("the returned value is nested more than 20 levels deep")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, decimal.Decimal):
        return round(float(value), 6) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "_sa_instance_state"):
        raise BadReturn(
            f"returned an ORM object ({type(value).__name__}); return plain values "
            "(numbers, strings, tuples, lists, dicts) as the starter does"
        )
    if isinstance(value, Mapping):
        return {str(k): normalize(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((normalize(v, _depth + 1) for v in value), key=repr)
    if isinstance(value, Iterable):
        items = []
        for number, item in enumerate(value):
            if number >= MAX_ITEMS:
                raise BadReturn(f"the returned iterable yields more than {MAX_ITEMS} items")
            items.append(normalize(item, _depth + 1))
        return items
    raise BadReturn(f"returned a {type(value).__name__}, which cannot be compared")


def shorten(text: str, roots: Iterable[str]) -> str:
    """Replace absolute paths of the work folders with short names."""
    for root in roots:
        if root:
            text = text.replace(root.rstrip("/") + "/", "")
    return text


def _traceback_tail(exc: BaseException, job: Job, lines: int = 12) -> str:
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(frames)
    # Keep the frames of the exercise code; drop the grader's own.
    kept = [
        line
        for line in text.splitlines()
        if "site-packages/sqlalchemy" not in line or line.startswith(" ")
    ]
    roots = [str(Path(job.module_path).parent), str(Path(__file__).parent.parent)]
    return shorten("\n".join(kept[-lines:]), roots)


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


#: How an exercise's entry function is called, by the spec's ``call`` key.
CALL_STYLES: dict[str, CallStyle] = {
    "session": _call_with_session,
    "engine": _call_with_engine,
}


def _engines(job: Job) -> dict[str, Engine]:
    return {name: create_engine(url) for name, url in job.databases.items()}


def _hooks(job: Job) -> ModuleType | None:
    if not job.hooks_path:
        return None
    return load_module(job.hooks_path, f"ormgrade_hooks_{job.exercise_id}")


def execute(job: Job) -> RunRecord:
    """Run ``job`` in this process and record what happened."""

    def failed(kind: str, message: str, exc: BaseException | None = None, log: Any = None) -> RunRecord:
        return RunRecord(
            role=job.role,
            purpose=job.purpose,
            failure=Failure(kind, message, _traceback_tail(exc, job) if exc else ""),
            log=log if log is not None else QueryLog(),
        )

    try:
        engines = _engines(job)
        hooks = _hooks(job)
        style = CALL_STYLES[job.call]
    except Exception as exc:  # the grader's or the catalog's fault
        return failed(FailureKind.GRADER, f"cannot prepare the run: {exc!r}", exc)

    module_name = f"ormgrade_{job.role}_{job.exercise_id}"
    try:
        module = load_module(job.module_path, module_name)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        return failed(FailureKind.SYNTAX, f"{Path(job.module_path).name} does not compile ({where}): {exc.msg}", exc)
    except (SystemExit, KeyboardInterrupt) as exc:
        return failed(FailureKind.EXIT, f"{Path(job.module_path).name} called exit while being imported ({exc!r})", exc)
    except BaseException as exc:  # noqa: BLE001  the submission's code raised
        return failed(
            FailureKind.IMPORT,
            f"importing {Path(job.module_path).name} raised {type(exc).__name__}: {exc}",
            exc,
        )

    fn = getattr(module, job.entry, None)
    if not callable(fn):
        return failed(
            FailureKind.MISSING_ENTRY,
            f"{Path(job.module_path).name} defines no function {job.entry}()",
        )
    if job.call in ("session", "engine"):
        try:
            inspect.signature(fn).bind(job.call, **job.params)
        except TypeError as exc:
            return failed(
                FailureKind.MISSING_ENTRY,
                f"{job.entry}() cannot be called as the exercise calls it "
                f"({job.entry}({job.call}, {', '.join(job.params)})): {exc}",
            )
        except ValueError:  # no signature to read (a builtin); let the call decide
            pass

    prepare = getattr(hooks, "prepare", None)
    if prepare is not None:
        try:
            prepare(engines, module, job)
        except Exception as exc:
            return failed(FailureKind.GRADER, f"the exercise's prepare hook failed: {exc!r}", exc)

    live = None
    started = time.perf_counter()
    peak: int | None = None
    try:
        if job.measure_memory:
            tracemalloc.start()
        with capture(engines["main"]) as live:
            value = style(fn, engines, job.params, job)
        if job.measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
    except BadReturn as exc:
        return failed(FailureKind.BAD_RETURN, str(exc), log=live.result if live else None)
    except MemoryError as exc:
        return failed(FailureKind.MEMORY, "ran out of memory (the run's memory limit)", exc, live.result if live else None)
    except (SystemExit, KeyboardInterrupt) as exc:
        return failed(
            FailureKind.EXIT,
            f"{job.entry}() tried to end the process ({type(exc).__name__}{exc.args!r}); "
            "an exercise must return its result",
            exc,
            live.result if live else None,
        )
    except BaseException as exc:  # noqa: BLE001
        return failed(
            FailureKind.EXCEPTION,
            f"{job.entry}() raised {type(exc).__name__}: {exc}",
            exc,
            live.result if live else None,
        )
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    duration = time.perf_counter() - started
    log = live.result if live is not None and live.result is not None else QueryLog()

    snapshot = None
    extra: dict[str, Any] = {}
    take = getattr(hooks, "snapshot", None)
    if take is not None:
        try:
            with engines["main"].connect().execution_options(**{INTERNAL_OPTION: True}) as conn:
                snapshot = normalize(take(conn, job))
        except Exception as exc:
            return failed(FailureKind.GRADER, f"the exercise's snapshot hook failed: {exc!r}", exc, log)
    report = getattr(hooks, "report", None)
    if report is not None:
        try:
            extra = dict(report(engines, job, log))
        except Exception as exc:
            return failed(FailureKind.GRADER, f"the exercise's report hook failed: {exc!r}", exc, log)
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
    )
