"""Run a `Job` in a child process with a wall-clock and a memory limit.

On Linux, children are forked from a forkserver that has SQLAlchemy and the
grader already imported, so a run costs a fork, not an interpreter start. The
child starts a session of its own, sets its resource limits (address space,
CPU time, file size, no core dumps), sends stdout and stderr into a pipe that
the parent drains keeping only the head and the tail, and hands its
`RunRecord` back as bytes over a second pipe. Elsewhere the platform layer
(`grader.execution.platform`) starts a fresh interpreter (``spawn``) and
enforces what the system offers; the output then travels as messages, as a
Windows pipe is no file descriptor.

The child says it is ready (imports done, limits set, audit hook installed)
before anything of the job runs: the run's time limit counts from then, so a
slow interpreter start is never charged to the submission.

The parent never imports submission code and never unpickles anything but
the grader's own record classes and plain values (`load_record`). Whatever the
child does — hang, exit, exhaust memory, crash the interpreter, close the
channel, send something forged — the parent gets a `RunRecord` back within
the time limit plus `GRACE`, and every process the child started is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import importlib
import io
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from grader.databases.cache import default_cache_dir
from grader.execution import audit
from grader.execution.capture import CapturedStatement, QueryLog
from grader.execution.child import OUT_OF_MEMORY, execute
from grader.execution.guard import LISTENERS_REMOVED, tampering
from grader.execution.platform import ChildLimits, current, short_socket_dir
from grader.execution.run import Failure, FailureKind, Job, RunRecord
from grader.execution.warmup import preload

#: Seconds added to a run's timeout before the parent stops the child (its own set-up).
GRACE = 1.0
#: Largest record a child may send back, in bytes.
MAX_RECORD_BYTES = 256 * 1024 * 1024
#: Largest file a child may write (its database copy included), in MiB.
FILE_LIMIT_MB = 512
#: Seconds a child waits, once its record is sent, for the parent to end it.
FAREWELL = 10.0
#: Largest message of output a child may send where output travels as messages.
MAX_OUTPUT_MESSAGE = 1024 * 1024

# -- messages -----------------------------------------------------------------
TIMED_OUT = (
    "did not finish within {timeout:g} s (stopped after {elapsed:.1f} s): "
    "an endless loop, or far too much work"
)
CPU_EXHAUSTED = "used more CPU time than the run's limit of {timeout:g} s: an endless loop"
KILLED = "the process was killed (SIGKILL), most likely for using too much memory"
SIGNALLED = "the process died of signal {signal}"
EXITED = (
    "the process ended (exit code {code}) before returning a result; "
    "an exercise must return its result, not exit"
)
CHANNEL_CLOSED = "the process closed its channel to the grader without sending a result"
TOO_LARGE = "the result is larger than {limit} MiB and was refused"
NOT_SENT = "the result could not be sent back: {reason}"
CHILD_FAILED = "the child process failed: {reason}"
CANCELLED = "the run was stopped before its end: its result was no longer needed"
NOT_STARTED = (
    "the child process was not ready within {limit:g} s of being started "
    "(an overloaded machine, or a broken Python installation)"
)
REJECTED = "the run sent back data the grader does not accept ({reason})"
#: Put between the head and the tail of output that was too long to keep whole.
OUTPUT_CUT = "[… {dropped} bytes of output left out …]"

#: The child's first message: ready, the run's clock starts now.
READY = b"ready"

_context_lock = threading.Lock()
_context: Any = None
_dumps = pickle.dumps


def _mp_context() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            method = current().start_method
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                short_socket_dir()
                ctx.set_forkserver_preload(preload())
            _context = ctx
        return _context


@dataclass(frozen=True)
class Limits:
    """The resource limits of one child.

    Attributes:
        timeout: Wall-clock seconds of the run (CPU seconds are capped a little above).
        memory_mb: Address-space limit in MiB.
        file_mb: Largest file the child may write, in MiB.
        hidden: Folders the child's code may not read (the template cache).
    """

    timeout: float
    memory_mb: int
    file_mb: int = FILE_LIMIT_MB
    hidden: tuple[str, ...] = ()

    @property
    def cpu_seconds(self) -> int:
        """The CPU-time limit: the wall-clock limit and the grace, rounded up."""
        return math.ceil(self.timeout + GRACE) + 1


def _child_main(
    job: Job,
    limits: Limits,
    output: Any,
    sender: Any,
    target: Callable[[Job], RunRecord] | None = None,
) -> None:
    platform = current()
    if platform.start_method != "forkserver":
        # What a forkserver child inherits, a fresh interpreter imports: the run
        # may then import exactly what it may import in a forked child.
        from grader.execution.warmup import preload

        for module in preload():
            # Best effort: a driver that is not installed, or that cannot start
            # here (aiomysql asks for the user name at import), is imported by the
            # run that needs it, which then fails with the driver's own message.
            with contextlib.suppress(Exception):
                importlib.import_module(module)
    finish_output = _redirect_output(output, platform.raw_pipes)
    platform.enter_child(
        ChildLimits(
            memory_bytes=limits.memory_mb * 1024 * 1024,
            file_bytes=limits.file_mb * 1024 * 1024,
            cpu_seconds=limits.cpu_seconds,
        )
    )
    _enter_run_folder(job, limits)
    sender.send_bytes(READY)
    try:
        record = (target or execute)(job)
    except MemoryError:
        record = _failed(job, FailureKind.MEMORY, OUT_OF_MEMORY)
    except BaseException as exc:
        record = _failed(job, FailureKind.GRADER, CHILD_FAILED.format(reason=_safe_repr(exc)))
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    with contextlib.suppress(BaseException):
        finish_output()
    with contextlib.suppress(BaseException):
        sender.send_bytes(_encode(record, job))
    # The parent kills this process once it has the record, after every process it
    # started (it is their subreaper): exiting first would orphan them.
    with contextlib.suppress(BaseException):
        time.sleep(FAREWELL)
    os._exit(0)


def _redirect_output(output: Any, raw_pipe: bool) -> Callable[[], None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``output``.

    With ``raw_pipe`` the connection's descriptor becomes 1 and 2. Otherwise
    (a Windows pipe is a handle, not a descriptor) they become an OS pipe that
    a thread drains into ``output`` as messages. Returns what to call once the
    run is over: it waits until the output written so far is sent.
    """
    if raw_pipe:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        output.close()
        return lambda: None
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:  # no console (pythonw)
            stream = open(fd, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
            setattr(sys, name, stream)

    def forward() -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(read_fd, 65536):
                output.send_bytes(chunk)

    forwarder = threading.Thread(target=forward, name="ormgrade-output", daemon=True)
    forwarder.start()

    def finish() -> None:
        # Every writer of the pipe is closed: the forwarder reads to its end.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        forwarder.join(2.0)
        output.close()

    return finish


def _enter_run_folder(job: Job, limits: Limits) -> None:
    """Make the run's folder its cwd, HOME and TMPDIR, and install the audit hook."""
    import tempfile

    folder = job.workdir or tempfile.mkdtemp(prefix="run-")
    os.makedirs(os.path.join(folder, "tmp"), exist_ok=True)
    os.chdir(folder)
    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = os.path.join(folder, "tmp")
    os.environ["HOME"] = folder
    tempfile.tempdir = None
    databases = tuple(
        path for url in job.databases.values() if (path := _sqlite_file(url)) is not None
    )
    trusted = (job.hooks_path,) if job.hooks_path else ()
    audit.install(
        audit.RunPolicy(
            run_dir=folder, databases=databases, hidden=limits.hidden, trusted_files=trusted
        )
    )


def _sqlite_file(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    return path.split("?", 1)[0] or None


def _failed(job: Job, kind: str, message: str) -> RunRecord:
    return RunRecord(role=job.role, purpose=job.purpose, failure=Failure(kind, message))


def _safe_repr(value: Any, limit: int = 300) -> str:
    try:
        text = repr(value)
    except BaseException:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _encode(record: RunRecord, job: Job) -> bytes:
    try:
        payload = _dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        payload = b""
        record = _failed(job, FailureKind.MEMORY, OUT_OF_MEMORY)
    except BaseException as exc:
        payload = b""
        record = _failed(job, FailureKind.BAD_RETURN, NOT_SENT.format(reason=_safe_repr(exc)))
    if payload and len(payload) > MAX_RECORD_BYTES:
        payload = b""
        record = _failed(
            job, FailureKind.BAD_RETURN, TOO_LARGE.format(limit=MAX_RECORD_BYTES // 2**20)
        )
    return payload or _dumps(record, protocol=pickle.HIGHEST_PROTOCOL)


# -- reading the record back ------------------------------------------------------

_PLAIN_GLOBALS = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("builtins", "complex"),
    ("collections", "OrderedDict"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("uuid", "UUID"),
}
_UNSAFE_HOOKS = ("__post_init__", "__reduce__", "__reduce_ex__", "__setstate__")


class _RecordUnpickler(pickle.Unpickler):
    """Loads only grader record classes (dataclasses and enums) and plain values."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        loaded = sys.modules.get(module) if module.startswith("grader.") else None
        value = getattr(loaded, name, None) if "." not in name else None
        if isinstance(value, type) and _is_record_class(value):
            return value
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a record")


def _is_record_class(cls: type) -> bool:
    if issubclass(cls, enum.Enum):
        return True
    return (
        dataclasses.is_dataclass(cls)
        and not issubclass(cls, BaseException)
        and not any(hook in vars(cls) for hook in _UNSAFE_HOOKS)
    )


def load_record(payload: bytes, job: Job) -> RunRecord:
    """The `RunRecord` in ``payload``, refusing anything but the grader's record classes.

    A payload that names any other class, is malformed or does not hold a record
    for ``job`` becomes a tampering failure.
    """
    try:
        record = _RecordUnpickler(io.BytesIO(payload)).load()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {_safe_repr(str(exc), 200)}"
        return _failed(job, FailureKind.TAMPERING, tampering(REJECTED.format(reason=reason)))
    problem = _record_problem(record, job)
    if problem is not None:
        return _failed(job, FailureKind.TAMPERING, tampering(REJECTED.format(reason=problem)))
    if record.ok and not record.log.listeners_intact:
        return replace(record, failure=Failure(FailureKind.TAMPERING, tampering(LISTENERS_REMOVED)))
    return record


def _record_problem(record: Any, job: Job) -> str | None:
    if type(record) is not RunRecord:
        return f"a {type(record).__name__} instead of a run record"
    if record.role != job.role or record.purpose != job.purpose:
        return "a record of another run"
    failure = record.failure
    if failure is not None and not (
        type(failure) is Failure
        and all(type(v) is str for v in (failure.kind, failure.message, failure.traceback))
    ):
        return "a malformed failure"
    log = record.log
    if type(log) is not QueryLog or type(log.statements) is not tuple:
        return "a malformed statement log"
    if not all(type(s) is CapturedStatement for s in log.statements):
        return "a malformed statement"
    return None


# -- output ------------------------------------------------------------------------


class OutputCollector(threading.Thread):
    """Drains a child's stdout and stderr, keeping the first and last bytes.

    However much the child prints, the parent holds at most ``limit`` bytes of
    it; the child is never blocked on a full pipe. The thread closes the pipe
    itself when every writer has gone: a process that escaped the child's
    session may keep it open, and the text is taken without waiting for it.
    """

    def __init__(self, connection: Any, limit: int, messages: bool = False) -> None:
        super().__init__(name="ormgrade-output", daemon=True)
        self._connection = connection
        self._messages = messages
        self._half = max(limit // 2, 1)
        self._head = bytearray()
        self._tail = bytearray()
        self._lock = threading.Lock()
        self.total = 0

    def run(self) -> None:
        try:
            if self._messages:
                while True:
                    chunk = self._connection.recv_bytes(MAX_OUTPUT_MESSAGE)
                    with self._lock:
                        self._keep(chunk)
            fd = self._connection.fileno()
            while chunk := os.read(fd, 65536):
                with self._lock:
                    self._keep(chunk)
        except (OSError, EOFError):
            pass
        finally:
            self._connection.close()

    def _keep(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._half - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self._half:
                del self._tail[: len(self._tail) - self._half]

    def finish(self, wait: float = 1.0) -> str:
        """The kept text, once the pipe has closed or after ``wait`` seconds."""
        self.join(wait)
        with self._lock:
            head = self._head.decode("utf-8", "replace")
            tail = self._tail.decode("utf-8", "replace")
            dropped = self.total - len(self._head) - len(self._tail)
        if dropped <= 0:
            return head + tail
        return head + "\n" + OUTPUT_CUT.format(dropped=dropped) + "\n" + tail


# -- the parent's side --------------------------------------------------------------


_live_lock = threading.Lock()
_live: set[Any] = set()


def stop_all() -> None:
    """Kill every child this process is running now (on Ctrl-C, for instance).

    Children run in sessions of their own, so a terminal's interrupt does not
    reach them; the threads waiting for them then return at once.
    """
    with _live_lock:
        running = list(_live)
    for process in running:
        _kill(process)


def run_job(
    job: Job,
    timeout: float,
    memory_mb: int,
    target: Callable[[Job], RunRecord] | None = None,
    cancel: threading.Event | None = None,
) -> RunRecord:
    """Run ``job`` in a fresh child process and return its record.

    Args:
        job: What to run.
        timeout: Wall-clock seconds the child may take (plus `GRACE` for its set-up).
        memory_mb: The child's address-space limit.
        target: What runs the job in the child (a module-level function, as it
            travels by name); `grader.execution.child.execute` by default.
        cancel: Once set, the run is not started, or its child is killed within
            a quarter of a second; the record is then a `CANCELLED` grader failure.
    """
    if cancel is not None and cancel.is_set():
        return _failed(job, FailureKind.GRADER, CANCELLED)
    platform = current()
    ctx = _mp_context()
    receiver, sender = ctx.Pipe(duplex=False)
    output_reader, output_writer = ctx.Pipe(duplex=False)
    limits = Limits(timeout, memory_mb, hidden=(str(default_cache_dir()),))
    # The child is not told what the run is for: its record names it by a token.
    sent = replace(job, purpose=secrets.token_hex(6))
    process = ctx.Process(
        target=_child_main, args=(sent, limits, output_writer, sender, target), daemon=True
    )
    try:
        process.start()
    except BaseException:
        receiver.close()
        output_reader.close()
        raise
    finally:
        sender.close()
        output_writer.close()
    with _live_lock:
        _live.add(process)
    collector = OutputCollector(output_reader, job.output_limit, messages=not platform.raw_pipes)
    collector.start()
    started = time.perf_counter()
    # Until the child is ready only its start-up counts; then the run's own limit.
    deadline = started + platform.startup_seconds
    ready = False
    payload: bytes | None = None
    ending = "not_started"
    stopped = True
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            if cancel is not None and cancel.is_set():
                ending = "cancelled"
                break
            if receiver.poll(min(left, 0.25)):
                try:
                    message = receiver.recv_bytes(MAX_RECORD_BYTES)
                except EOFError:
                    ending = "closed"
                    break
                except OSError:
                    ending = "too_large"
                    break
                if not ready:  # the first message is the child's, before the job runs
                    ready = True
                    started = time.perf_counter()
                    deadline = started + timeout + GRACE
                    ending = "timeout"
                    continue
                payload = message
                ending = "sent"
                break
    finally:
        if ending == "closed":
            process.join(0.5)  # exited on its own: its exit code tells how
        stopped = process.is_alive()
        _kill(process)
        process.join(5)
        with _live_lock:
            _live.discard(process)
        receiver.close()
        output = collector.finish()
    elapsed = time.perf_counter() - started
    if payload is not None:
        record = load_record(payload, sent)
    else:
        if not ready and ending == "closed":  # nothing of the job ran: not the submission's doing
            reason = f"it ended while starting (exit code {process.exitcode})"
            record = _failed(sent, FailureKind.GRADER, CHILD_FAILED.format(reason=reason))
        else:
            record = _failed(sent, *_ending(ending, process.exitcode, elapsed, timeout, stopped))

    return replace(record, purpose=job.purpose, output=output)


def _kill(process: Any) -> None:
    """Kill every process the child started, wherever it went, then the child."""
    pid = process.pid
    if pid is None:
        return
    current().kill_tree(pid)
    with contextlib.suppress(OSError, ValueError):
        process.kill()


def _ending(
    ending: str, code: int | None, elapsed: float, timeout: float, stopped: bool
) -> tuple[str, str]:
    """The failure kind and message of a child that sent no record.

    ``stopped`` tells that the child was still running when the parent killed it.
    """
    if ending == "cancelled":
        return FailureKind.GRADER, CANCELLED
    if ending == "timeout":
        return FailureKind.TIMEOUT, TIMED_OUT.format(timeout=timeout, elapsed=elapsed)
    if ending == "not_started":
        return FailureKind.GRADER, NOT_STARTED.format(limit=current().startup_seconds)
    if ending == "too_large":
        return FailureKind.BAD_RETURN, TOO_LARGE.format(limit=MAX_RECORD_BYTES // 2**20)
    if stopped:
        return FailureKind.EXIT, CHANNEL_CLOSED
    # Windows has neither signal: there a killed child exits with a code of its own.
    sigxcpu, sigkill = getattr(signal, "SIGXCPU", None), getattr(signal, "SIGKILL", None)
    if sigxcpu is not None and code == -sigxcpu:
        return FailureKind.TIMEOUT, CPU_EXHAUSTED.format(timeout=timeout)
    if sigkill is not None and code == -sigkill:
        return FailureKind.MEMORY, KILLED

    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return FailureKind.EXCEPTION, SIGNALLED.format(signal=name)
    if code is None:
        return FailureKind.EXIT, CHANNEL_CLOSED
    return FailureKind.EXIT, EXITED.format(code=code)
