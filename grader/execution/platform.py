"""What the sandbox needs from the operating system, behind one small interface.

The sandbox (`grader.execution.sandbox`) starts one child process per run and must be
able to limit it, end it and everything it started, and make sure nothing of
it outlives the grading process. How that is done depends on the platform;
`current()` returns the `ProcessPlatform` of this one. The sandbox calls only
the methods of `ProcessPlatform`:

- `PosixPlatform` (Linux, and macOS with fewer limits): a forkserver, rlimits,
  a session per run, a parent-death signal and a child subreaper;
- `PortablePlatform` (Windows, or wherever ``forkserver`` or ``resource`` is
  missing): the ``spawn`` start method, a wall clock enforced by the parent, a
  watchdog thread that ends a run when its parent dies, and on Windows a Job
  Object (through ``ctypes``) for the memory limit and the process tree.

``ORMGRADE_PLATFORM`` chooses one (``auto``, the default; ``posix``;
``portable``, which runs the portable sandbox on Linux too, for its tests).
`isolation_notes` says, for the results, what this platform does not enforce.

Nothing here imports a POSIX-only module at import time: ``resource`` and
``ctypes`` are imported in the methods that need them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from grader.errors import UsageError

#: ``prctl`` options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: Rounds of "list the descendants, kill them" before a run's tree is given up on.
KILL_ROUNDS = 20
#: Longest path of a Unix socket (``sun_path`` is 108 bytes on Linux, 104 on macOS,
#: with its final NUL), and what multiprocessing adds to its temporary folder for
#: the forkserver's socket (``/pymp-XXXXXXXX/listener-XXXXXXXX``).
SOCKET_PATH_MAX = 103
SOCKET_NAME_LENGTH = 32
#: Where the forkserver's socket goes when the temporary folder's path is too long.
SHORT_TEMP_DIRS = ("/tmp", "/var/tmp")
#: The environment variable that chooses the platform layer.
PLATFORM_ENV = "ORMGRADE_PLATFORM"
#: Its values: ``auto`` takes `PosixPlatform` where it can run, else `PortablePlatform`.
PLATFORM_CHOICES = ("auto", "posix", "portable")
BAD_PLATFORM = "{env}={value!r}: expected one of " + ", ".join(PLATFORM_CHOICES)
NO_POSIX = "{env}=posix: this system has no {missing}; use auto or portable"
#: Every limit a platform may enforce (`ProcessPlatform.limits_enforced`).
ALL_LIMITS = frozenset({"memory", "cpu", "file_size", "wall_clock", "descendants"})
#: How the results name a limit that is not enforced.
LIMIT_NAMES = {
    "memory": "memory limit",
    "cpu": "CPU-time limit",
    "file_size": "file-size limit",
    "descendants": "clean-up of processes a run leaves behind",
    "wall_clock": "wall-clock limit",
}
#: The results' warning on a platform that enforces less than Linux does.
WEAKER_ISOLATION = (
    "{limits} not enforced on this platform ({system}, {platform} sandbox); "
    "the course's grade runs on Linux"
)
#: The signal that ends a process (Windows has no SIGKILL: os.kill terminates it).
KILL_SIGNAL = getattr(signal, "SIGKILL", signal.SIGTERM)


@dataclass(frozen=True)
class ChildLimits:
    """The limits a child applies to itself as it starts.

    Attributes:
        memory_bytes: Address-space limit.
        file_bytes: Largest file the child may write.
        cpu_seconds: CPU-time limit (the soft one; the hard one is 2 s above).
    """

    memory_bytes: int
    file_bytes: int
    cpu_seconds: int


class ProcessPlatform(Protocol):
    """The operating-system side of the sandbox.

    Attributes:
        name: Short name, for reports (``posix``, ``portable``).
        start_method: The ``multiprocessing`` start method children are made with.
        limits_enforced: Which of ``memory``, ``cpu``, ``file_size``, ``wall_clock``,
            ``descendants`` this platform enforces (the wall clock always is: the
            parent enforces it).
        startup_seconds: How long a run's child may take to be ready (interpreter
            start and imports under ``spawn``) before the parent gives up on it;
            the run's own time limit counts from when it is ready.
        raw_pipes: Whether a pipe's file descriptor can become a child's stdout
            (not on Windows, where a pipe is a handle: output then travels as messages).
    """

    name: str
    start_method: str
    limits_enforced: frozenset[str]
    startup_seconds: float
    raw_pipes: bool

    def enter_child(self, limits: ChildLimits) -> None:
        """Called first thing in a run's child: its own session, limits, death with its parent."""
        ...

    def kill_tree(self, pid: int) -> None:
        """Kill the child ``pid`` and every process it started, wherever they went."""
        ...

    def kill_descendants(self) -> None:
        """Kill every process the calling process started (a child, before it exits)."""
        ...

    def die_with_parent(self) -> None:
        """End the calling process when its parent dies (a grade-all worker)."""
        ...


def _libc_prctl(option: int, value: int) -> bool:
    """``prctl(option, value)``; False where there is no prctl (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process visible in /proc."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        fields = text[text.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _children_of(pid: int) -> list[int] | None:
    """The children of ``pid`` from /proc/<pid>/task/*/children; None where it is missing."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as listing:
                found.extend(int(child) for child in listing.read().split())
        except FileNotFoundError:
            return None
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (not ``pid`` itself), from /proc."""
    direct = _children_of(pid)
    if direct is not None:

        def children(parent: int) -> list[int]:
            return _children_of(parent) or []

    else:
        tree = _children_map()

        def children(parent: int) -> list[int]:
            return tree.get(parent, [])

    found: list[int] = []
    stack = children(pid)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children(child))
    return found


class PosixPlatform:
    """Linux and other POSIX systems: forkserver, rlimits, sessions, a subreaper.

    A run's child starts a session of its own, asks to be killed when its
    parent (the forkserver) dies, and becomes a *child subreaper* on Linux: a
    grandchild that double-forks and calls ``setsid`` is re-parented to the
    child, not to init, so it stays in the child's tree and `kill_tree` finds
    it. The forkserver exits when the grading process is gone (its channel
    closes), which kills every child, whose own death signal is SIGKILL.
    """

    name = "posix"
    start_method = "forkserver"
    raw_pipes = True
    #: Seconds a run's child may take to start before the parent gives up on it.
    startup_seconds = 30.0

    def __init__(self, system: str = sys.platform) -> None:
        if system.startswith("linux"):
            self.limits_enforced = ALL_LIMITS
        else:
            # macOS accepts RLIMIT_AS without enforcing it, and has no prctl: no
            # parent-death signal, no subreaper (a double fork escapes the tree).
            self.limits_enforced = ALL_LIMITS - {"memory", "descendants"}

    def enter_child(self, limits: ChildLimits) -> None:
        import resource

        _drop_forkserver_alive_fd()
        with contextlib.suppress(OSError):
            os.setsid()
        _libc_prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _libc_prctl(PR_SET_CHILD_SUBREAPER, 1)
        if os.getppid() == 1:  # the forkserver died before the death signal was asked for
            os._exit(1)

        def limit(which: int, soft: int, hard: int | None = None) -> None:
            # Refused here (a lower hard limit): the parent's deadline still holds.
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (soft, soft if hard is None else hard))

        limit(resource.RLIMIT_AS, limits.memory_bytes)
        limit(resource.RLIMIT_FSIZE, limits.file_bytes)
        limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 2)
        limit(resource.RLIMIT_CORE, 0)
        # Writing past the file limit raises an error in the writer instead of killing it.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def kill_tree(self, pid: int) -> None:
        # Descendants first, while the child (their subreaper) still holds them in its tree.
        for _ in range(KILL_ROUNDS):
            found = descendants(pid)
            if not found:
                break
            for other in found:
                with contextlib.suppress(OSError):
                    os.kill(other, signal.SIGKILL)
            time.sleep(0.005)
        # The session's process group keeps the child's pid as its id for as long as
        # any member lives, so the id cannot have been reused by a stranger.
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)

    def die_with_parent(self) -> None:
        _libc_prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def kill_descendants(self) -> None:
        me = os.getpid()
        for _ in range(KILL_ROUNDS):
            found = descendants(me)
            if not found:
                return
            for other in found:
                with contextlib.suppress(OSError):
                    os.kill(other, signal.SIGKILL)
            for other in found:
                with contextlib.suppress(OSError):
                    os.waitpid(other, os.WNOHANG)
            time.sleep(0.005)


def short_socket_dir() -> None:
    """Give multiprocessing a temporary folder short enough for the forkserver's socket.

    The forkserver listens on a Unix socket in multiprocessing's temporary folder,
    made in ``TMPDIR``; a long ``TMPDIR`` (a deep build folder, a test's own
    temporary folder) makes the socket's path too long to bind, and every run
    would fail with "AF_UNIX path too long". Then that folder is made in the first
    short system folder instead (removed at exit, as multiprocessing's own is).
    Call before the forkserver starts; a folder multiprocessing already has is kept.
    """
    import tempfile
    from multiprocessing import process, util

    if process.current_process()._config.get("tempdir") is not None:  # type: ignore[attr-defined]
        return
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) + SOCKET_NAME_LENGTH <= SOCKET_PATH_MAX:
        return
    short = next((d for d in SHORT_TEMP_DIRS if os.access(d, os.W_OK | os.X_OK)), None)
    if short is None:
        return  # nothing shorter here: the error names the path
    saved = tempfile.tempdir
    tempfile.tempdir = short
    try:
        util.get_temp_dir()  # made now, in ``short``, and kept for the process
    finally:
        tempfile.tempdir = saved


def _drop_forkserver_alive_fd() -> None:
    """Close the forkserver's "parent alive" pipe that multiprocessing hands every child.

    The forkserver exits when that pipe reaches end of file, which is how it
    notices that the grading process died; a child holding a copy keeps it
    alive, and with it the child (whose death signal waits for the forkserver).
    """
    module = sys.modules.get("multiprocessing.forkserver")
    server = getattr(module, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


class PortablePlatform:
    """Any system: ``spawn``, a wall clock enforced by the parent, no POSIX-only module.

    A run's child is a fresh interpreter. It ends itself when its parent dies
    (a watchdog thread waits on the parent's sentinel, which ``multiprocessing``
    hands every child on every system). On Windows it puts itself in a Job
    Object that caps its memory and is killed, with every process in it, when
    the child's handle closes, that is when the child ends. Elsewhere (Linux in
    portable mode) only the time limit is enforced; process creation stays
    refused by the audit hook everywhere.
    """

    name = "portable"
    start_method = "spawn"
    raw_pipes = False

    #: A fresh interpreter imports SQLAlchemy and the grader: slow on a busy laptop.
    startup_seconds = 120.0

    def __init__(self, system: str = sys.platform) -> None:
        self._job_object = system == "win32" and _job_objects_available()
        limits = {"wall_clock"}
        if self._job_object:
            limits |= {"memory", "descendants"}
        self.limits_enforced = frozenset(limits)

    def enter_child(self, limits: ChildLimits) -> None:
        self.die_with_parent()
        if self._job_object:
            _join_job_object(limits.memory_bytes)

    def kill_tree(self, pid: int) -> None:
        # /proc lists the descendants on Linux; on Windows the Job Object takes them
        # down with the child, and there is no /proc to read.
        for _ in range(KILL_ROUNDS):
            found = descendants(pid)
            if not found:
                break
            for other in found:
                with contextlib.suppress(OSError):
                    os.kill(other, KILL_SIGNAL)
            time.sleep(0.005)
        with contextlib.suppress(OSError):
            os.kill(pid, KILL_SIGNAL)

    def kill_descendants(self) -> None:
        for _ in range(KILL_ROUNDS):
            found = descendants(os.getpid())
            if not found:
                return
            for other in found:
                with contextlib.suppress(OSError):
                    os.kill(other, KILL_SIGNAL)
            time.sleep(0.005)

    def die_with_parent(self) -> None:
        import multiprocessing
        import multiprocessing.connection
        import threading

        parent = multiprocessing.parent_process()
        sentinel = getattr(parent, "sentinel", None)
        if sentinel is None:  # not started by multiprocessing: nothing to watch
            return

        def watch() -> None:
            with contextlib.suppress(OSError, ValueError):
                multiprocessing.connection.wait([sentinel])
            os._exit(1)

        threading.Thread(target=watch, name="ormgrade-parent-watch", daemon=True).start()


def _job_objects_available() -> bool:
    """Whether this (Windows) process can make a Job Object; False elsewhere."""
    if sys.platform == "win32":
        try:
            import ctypes

            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            kernel32.CreateJobObjectW.restype = ctypes.c_void_p
            job = kernel32.CreateJobObjectW(None, None)
            if not job:
                return False
            kernel32.CloseHandle(ctypes.c_void_p(job))
            return True
        except (OSError, AttributeError):
            return False
    return False


def _join_job_object(memory_bytes: int) -> bool:
    """Put this (Windows) process in a new Job Object: memory capped, killed on close.

    The job's handle is never closed on purpose: it closes when this process
    ends, and the job then kills every process still in it.
    """
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        class BasicLimits(ctypes.Structure):
            _fields_ = [
                ("PerProcessUserTimeLimit", ctypes.c_int64),
                ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", wintypes.DWORD),
                ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t),
                ("ActiveProcessLimit", wintypes.DWORD),
                ("Affinity", ctypes.c_size_t),
                ("PriorityClass", wintypes.DWORD),
                ("SchedulingClass", wintypes.DWORD),
            ]

        class ExtendedLimits(ctypes.Structure):
            _fields_ = [
                ("BasicLimitInformation", BasicLimits),
                ("IoInfo", ctypes.c_ulonglong * 6),
                ("ProcessMemoryLimit", ctypes.c_size_t),
                ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t),
                ("PeakJobMemoryUsed", ctypes.c_size_t),
            ]

        extended_limit_information = 9  # JobObjectExtendedLimitInformation
        limit_process_memory = 0x100
        limit_die_on_unhandled_exception = 0x400
        limit_kill_on_job_close = 0x2000
        try:
            kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
            kernel32.CreateJobObjectW.restype = wintypes.HANDLE
            kernel32.GetCurrentProcess.restype = wintypes.HANDLE
            job = kernel32.CreateJobObjectW(None, None)
            if not job:
                return False
            info = ExtendedLimits()
            info.BasicLimitInformation.LimitFlags = (
                limit_process_memory | limit_die_on_unhandled_exception | limit_kill_on_job_close
            )
            info.ProcessMemoryLimit = memory_bytes
            set_ok = kernel32.SetInformationJobObject(
                job, extended_limit_information, ctypes.byref(info), ctypes.sizeof(info)
            )
            return bool(set_ok) and bool(
                kernel32.AssignProcessToJobObject(job, kernel32.GetCurrentProcess())
            )
        except (OSError, AttributeError):
            return False
    return False


def _posix_missing() -> str | None:
    """What `PosixPlatform` needs and this system lacks, or None."""
    import importlib.util
    import multiprocessing

    if os.name != "posix":
        return "POSIX"
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "forkserver start method"
    if importlib.util.find_spec("resource") is None:
        return "resource module"
    return None


def choose(value: str | None = None) -> ProcessPlatform:
    """The platform layer ``value`` names (``ORMGRADE_PLATFORM`` by default).

    Raises:
        UsageError: An unknown value, or ``posix`` where it cannot run.
    """
    raw = os.environ.get(PLATFORM_ENV, "") if value is None else value
    wanted = raw.strip().lower() or "auto"
    if wanted not in PLATFORM_CHOICES:
        raise UsageError(BAD_PLATFORM.format(env=PLATFORM_ENV, value=raw))
    if wanted == "portable":
        return PortablePlatform()
    missing = _posix_missing()
    if missing is None:
        return PosixPlatform()
    if wanted == "posix":
        raise UsageError(NO_POSIX.format(env=PLATFORM_ENV, missing=missing))
    return PortablePlatform()


_current: ProcessPlatform | None = None


def current() -> ProcessPlatform:
    """The platform layer of this machine (see `choose`), chosen once per process."""
    global _current
    if _current is None:
        _current = choose()
    return _current


def isolation_notes(platform: ProcessPlatform | None = None) -> tuple[str, ...]:
    """The results' warning when ``platform`` enforces fewer limits than Linux; else none.

    The grade of a correct, well-behaved submission is the same everywhere: a
    limit that is not enforced only lets a runaway submission take longer to
    fail (the time limit still stops it) or take more of the machine.
    """
    chosen = platform or current()
    missing = [text for name, text in LIMIT_NAMES.items() if name not in chosen.limits_enforced]
    if not missing:
        return ()
    limits = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    return (WEAKER_ISOLATION.format(limits=limits, system=sys.platform, platform=chosen.name),)
