"""What the sandbox needs from the operating system, behind one small interface.

The sandbox (`grader.execution.sandbox`) starts one child process per run and must be
able to limit it, end it and everything it started, and make sure nothing of
it outlives the grading process. How that is done depends on the platform;
`current()` returns the `ProcessPlatform` of this one. The sandbox calls only
the methods of `ProcessPlatform`, so that a platform without ``fork``,
``resource`` or process groups can get an implementation of its own (the
``spawn`` start method, a wall clock enforced by the parent, a Job Object)
without any change to the sandbox or the runner.

Nothing here imports a POSIX-only module at import time: `PosixPlatform`
imports ``resource`` and ``ctypes`` in the methods that need them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Protocol

#: ``prctl`` options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: Rounds of "list the descendants, kill them" before a run's tree is given up on.
KILL_ROUNDS = 20


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
        name: Short name, for reports (``posix``).
        start_method: The ``multiprocessing`` start method children are made with.
        limits_enforced: Which of ``memory``, ``cpu``, ``file_size``, ``wall_clock``,
            ``descendants`` this platform enforces (the wall clock always is: the
            parent enforces it).
    """

    name: str
    start_method: str
    limits_enforced: frozenset[str]

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
    limits_enforced = frozenset({"memory", "cpu", "file_size", "wall_clock", "descendants"})

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


_current: ProcessPlatform | None = None


def current() -> ProcessPlatform:
    """The platform layer of this machine."""
    global _current
    if _current is None:
        if os.name != "posix":
            raise NotImplementedError(
                f"the sandbox has no process platform for {sys.platform!r} yet"
            )
        _current = PosixPlatform()
    return _current
