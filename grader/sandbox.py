"""Run a `Job` in a child process with a wall-clock and a memory limit.

Children are forked from a forkserver that has SQLAlchemy and the grader
already imported, so a run costs a fork, not an interpreter start. The child
sets its own resource limits, sends stdout and stderr to a capped file and
hands its `RunRecord` back over a pipe. Whatever the child does — hang, exit,
exhaust memory, crash the interpreter — the parent gets a `RunRecord` back.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.run import Failure, FailureKind, Job, RunRecord

#: Seconds added to a run's timeout before the parent gives up on a child.
GRACE = 2.0
_context_lock = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["grader.child"])
            _context = ctx
        return _context


def _limit_memory(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass


def _child_main(job: Job, memory_mb: int, output_path: str, sender: Any) -> None:
    os.setsid() if hasattr(os, "setsid") else None
    fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (50 * 1024 * 1024, 50 * 1024 * 1024))
    except (ValueError, OSError):
        pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _limit_memory(memory_mb)
    from grader.child import execute

    try:
        record = execute(job)
    except BaseException as exc:  # noqa: BLE001  last resort: never die silently
        record = RunRecord(
            role=job.role,
            purpose=job.purpose,
            failure=Failure(FailureKind.GRADER, f"the child process failed: {exc!r}"),
        )
    try:
        sender.send(record)
    except Exception as exc:
        sender.send(
            RunRecord(
                role=job.role,
                purpose=job.purpose,
                failure=Failure(
                    FailureKind.BAD_RETURN, f"the result could not be sent back: {exc!r}"
                ),
            )
        )
    finally:
        sender.close()
    os._exit(0)


def _read_output(path: str, limit: int) -> str:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            if size <= limit:
                data = handle.read()
                return data.decode("utf-8", "replace")
            head = handle.read(limit // 2)
            handle.seek(size - limit // 2)
            tail = handle.read()
    except OSError:
        return ""
    dropped = size - len(head) - len(tail)
    return (
        head.decode("utf-8", "replace")
        + f"\n[… {dropped} bytes of output left out …]\n"
        + tail.decode("utf-8", "replace")
    )


def run_job(job: Job, timeout: float, memory_mb: int) -> RunRecord:
    """Run ``job`` in a fresh child process and return its record.

    Args:
        job: What to run.
        timeout: Wall-clock seconds the child may take (plus `GRACE` for start-up).
        memory_mb: The child's address-space limit.
    """
    ctx = _mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="ormgrade-out-") as scratch:
        output_path = str(Path(scratch) / "output.txt")
        process = ctx.Process(
            target=_child_main, args=(job, memory_mb, output_path, sender), daemon=True
        )
        started = time.perf_counter()
        process.start()
        sender.close()
        record: RunRecord | None = None
        deadline = started + timeout + GRACE
        try:
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                if receiver.poll(min(left, 0.5)):
                    try:
                        record = receiver.recv()
                    except (EOFError, OSError):
                        record = None
                    break
                if not process.is_alive() and not receiver.poll(0):
                    break
        finally:
            if record is None or process.is_alive():
                process.join(0.2 if record is not None else 0)
            if process.is_alive():
                _kill(process)
            process.join(5)
            receiver.close()
        elapsed = time.perf_counter() - started
        output = _read_output(output_path, job.output_limit)
    if record is None:
        record = RunRecord(
            role=job.role, purpose=job.purpose, failure=_death(process, elapsed, timeout)
        )
    elif not isinstance(record, RunRecord):
        record = RunRecord(
            role=job.role,
            purpose=job.purpose,
            failure=Failure(FailureKind.TAMPERING, "the child sent back something other than a result"),
        )
    return replace(record, output=output)


def _kill(process: Any) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        process.kill()


def _death(process: Any, elapsed: float, timeout: float) -> Failure:
    code = process.exitcode
    if elapsed >= timeout + GRACE - 0.05 or code is None:
        return Failure(
            FailureKind.TIMEOUT,
            f"did not finish within {timeout:g} s (stopped after {elapsed:.1f} s): "
            "an endless loop, or far too much work",
        )
    if code == -signal.SIGKILL:
        return Failure(
            FailureKind.MEMORY,
            "the process was killed (SIGKILL), most likely for using too much memory",
        )
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        return Failure(FailureKind.EXCEPTION, f"the process died of signal {name}")
    return Failure(
        FailureKind.EXIT,
        f"the process ended (exit code {code}) before returning a result; "
        "an exercise must return its result, not exit",
    )
