"""The child's audit hook: what a run's code may not do, and an account it cannot reach.

`install` adds a Python audit hook (``sys.addaudithook``) to the child after
the grader's own set-up and before the submission is imported. A hook cannot
be removed, and its state lives in its closure: no object of the program
refers to it, so the code being graded can neither read nor change it.

Once the child is *armed* (just before the submission is imported) the hook
refuses:

- process creation of any kind (``os.fork``, ``os.exec*``, ``os.posix_spawn``,
  ``os.spawn*``, ``os.system``, ``subprocess.Popen``, ``pty``), new threads, and
  raw native code (``ctypes`` libraries and symbols, ``_posixsubprocess``);
- the introspection that reaches the recorder's own state: ``gc`` object
  listings, other threads' frames, trace and profile functions, another audit
  hook, and, from the submission's own code, frames (``sys._getframe``,
  ``tb_frame``, ``gi_frame`` …), code objects made or swapped, and attributes
  set on the grader's classes;
- writes outside the run's own folder, signals to other processes, reads of
  other processes' ``/proc`` entries and of the template cache, and SQLite
  files other than the run's own databases;
- any database connection or statement while ``task.py`` is being imported.

A refusal raises `Refused` in the code that asked, and is also noted in the
hook's account: whatever the code does with the exception, the run ends as a
*tampering* failure naming what was refused.

The account also counts statements. The connection guard (`grader.execution.guard`)
reports every statement its SQLite trace sees, and a SQLAlchemy listener on
every engine reports every statement SQLAlchemy sends; the hook counts those
seen while the grader records the call, and those run by the submission's
code outside it (at import time, from a finalizer, …). Only the grader's own
frames can open or close the recording, so it cannot be switched off from the
code being recorded.

"Submission code" is any frame whose file lies outside the Python
installation, the installed libraries, the grader and the catalog's hooks, or
whose code was compiled or executed by such a frame.
"""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import Any

#: Prefix of every refusal message; the run's tampering failure quotes it.
REFUSED = "{what} was refused inside the run"
#: Statements the submission's code ran while the grader was not recording.
OUTSIDE_STATEMENTS = (
    "{count} statement(s) ran outside the recorded call (at import time or from code "
    "the grader did not call); they are refused, not scored"
)
#: The grader-side events (sent by the grader's own code; refused from anywhere else).
ARM = "ormgrade.arm"
RECORD = "ormgrade.record"
STATEMENT = "ormgrade.statement"
SA_STATEMENT = "ormgrade.sa_statement"
SETUP = "ormgrade.setup"
ACCOUNT = "ormgrade.account"

#: The audit event of a new thread.
THREAD_START = "_thread.start_new_thread"
#: Thread bodies of database drivers that a run may start: aiosqlite runs each
#: connection's calls on a worker thread of its own (statements on it are traced
#: like any other); nothing else may start a thread.
DRIVER_THREADS = (("aiosqlite.core", "_connection_worker_thread"),)


def _driver_thread(args: tuple[Any, ...]) -> bool:
    """Whether a new thread's body is a database driver's own worker loop."""
    thread = getattr(args[0], "__self__", None) if args else None
    target = getattr(thread, "_target", None)
    where = (getattr(target, "__module__", None), getattr(target, "__qualname__", None))
    if where not in DRIVER_THREADS:
        return False
    module = sys.modules.get(where[0])
    return module is not None and getattr(module, where[1], None) is target


#: Events refused once armed, whoever asks; the value names the refusal.
ALWAYS_REFUSED = {
    "os.fork": "starting a process (os.fork)",
    "os.forkpty": "starting a process (os.forkpty)",
    "os.exec": "running a program (os.exec*)",
    "os.posix_spawn": "starting a process (os.posix_spawn)",
    "os.spawn": "starting a process (os.spawn*)",
    "os.system": "running a shell command (os.system)",
    "os.startfile": "starting a program (os.startfile)",
    "_winapi.CreateProcess": "starting a process (_winapi.CreateProcess)",
    "subprocess.Popen": "starting a process (subprocess)",
    "pty.spawn": "starting a process (pty.spawn)",
    THREAD_START: "starting a thread",
    "ctypes.dlopen": "loading a native library (ctypes.dlopen)",
    "ctypes.dlsym": "looking up a native symbol (ctypes.dlsym)",
    "ctypes.dlsym/handle": "looking up a native symbol (ctypes.dlsym)",
    "ctypes.cdata": "reading raw memory (ctypes)",
    "ctypes.cdata/buffer": "reading raw memory (ctypes)",
    "gc.get_objects": "listing the interpreter's objects (gc.get_objects)",
    "gc.get_referrers": "following references (gc.get_referrers)",
    "gc.get_referents": "following references (gc.get_referents)",
    "sys._current_frames": "reading other threads' frames (sys._current_frames)",
    "sys.setprofile": "installing a profile function (sys.setprofile)",
    "sys.settrace": "installing a trace function (sys.settrace)",
    "sys.addaudithook": "adding an audit hook",
    "sys.remote_exec": "running code in another process",
    "_posixsubprocess.fork_exec": "starting a process (_posixsubprocess.fork_exec)",
}
#: Modules whose import is refused once armed (they reach below Python).
REFUSED_IMPORTS = {
    "_posixsubprocess": "importing _posixsubprocess (process creation)",
    "_ctypes": "importing ctypes (native code)",
    "ctypes": "importing ctypes (native code)",
    "_multiprocessing": "importing _multiprocessing (process creation)",
    "multiprocessing.popen_fork": "starting a process (multiprocessing)",
    "multiprocessing.popen_forkserver": "starting a process (multiprocessing)",
    "multiprocessing.popen_spawn_posix": "starting a process (multiprocessing)",
    "multiprocessing.popen_spawn_win32": "starting a process (multiprocessing)",
}
#: Restricted attributes that hand out a frame (audited as ``object.__getattr__``).
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code"})
#: Filesystem events whose first argument is a path written to.
WRITE_EVENTS = {
    "os.remove": 1,
    "os.rmdir": 1,
    "os.mkdir": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "os.truncate": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.utime": 1,
    "os.chflags": 1,
    "os.lchflags": 1,
    "os.lchmod": 1,
    "os.mkfifo": 1,
    "os.mknod": 1,
    "os.setxattr": 1,
    "os.removexattr": 1,
    "shutil.rmtree": 1,
    "shutil.copyfile": 2,
    "shutil.copytree": 2,
    "shutil.move": 2,
    "shutil.chown": 1,
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Refused(PermissionError):
    """An operation the run's code may not perform (see `grader.execution.audit`)."""


@dataclass(frozen=True)
class RunPolicy:
    """Where a run's code may write and what it may open.

    Attributes:
        run_dir: The run's private folder: its cwd, HOME and TMPDIR; writes go only here.
        databases: SQLite database files of the run (and their journals): the only
            SQLite files it may open.
        trusted_roots: Folders whose code is the grader's or a library's.
        hidden: Folders the run may not read (the template cache).
        trusted_files: Single files whose code is the grader's (the exercise's hooks).
    """

    run_dir: str
    databases: tuple[str, ...] = ()
    trusted_roots: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    trusted_files: tuple[str, ...] = ()


@dataclass
class Account:
    """What the hook saw, as the grader reads it after the run.

    Attributes:
        refusals: What was refused, in order (each once).
        seen: Statements traced while the call was recorded.
        outside: Statements the submission's code ran while nothing was recorded.
    """

    refusals: list[str] = field(default_factory=list)
    seen: int = 0
    outside: int = 0


def default_trusted_roots(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The Python installation, its libraries, the grader package and ``extra``."""
    paths = sysconfig.get_paths()
    roots = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths]
    roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # grader/
    roots.extend(extra)
    return tuple(dict.fromkeys(os.path.realpath(r) + os.sep for r in roots if r))


def _inside(path: str, root: str) -> bool:
    return path == root.rstrip(os.sep) or path.startswith(root)


def _real(path: Any) -> str | None:
    if isinstance(path, int):
        return None
    try:
        return os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return None


def install(policy: RunPolicy) -> None:
    """Add the run's audit hook to this process (for good: hooks cannot be removed)."""
    trusted_roots = policy.trusted_roots or default_trusted_roots()
    trusted_files = frozenset(os.path.realpath(f) for f in policy.trusted_files)
    run_dir = os.path.realpath(policy.run_dir) + os.sep
    databases = frozenset(
        os.path.realpath(d) + suffix
        for d in policy.databases
        for suffix in ("", "-journal", "-wal", "-shm")
    )
    hidden = tuple(os.path.realpath(h) + os.sep for h in policy.hidden)
    my_pid = str(os.getpid())
    getframe = sys._getframe
    account = Account()
    state = {"armed": False, "recording": False, "importing": False, "warming": False}
    untrusted_codes: set[CodeType] = set()
    setting_up: weakref.WeakSet[Any] = weakref.WeakSet()
    trusted_cache: dict[str, bool] = {}
    busy = threading.local()

    def trusted_file(filename: str) -> bool:
        known = trusted_cache.get(filename)
        if known is None:
            if filename.startswith("<"):
                known = True  # frozen importlib, generated library code; exec'd code is marked
            else:
                real = os.path.realpath(filename)
                known = real in trusted_files or any(real.startswith(r) for r in trusted_roots)
            trusted_cache[filename] = known
        return known

    def untrusted(frame: FrameType | None) -> bool:
        if frame is None:
            return False
        code = frame.f_code
        return code in untrusted_codes or not trusted_file(code.co_filename)

    def stack_untrusted(frame: FrameType | None) -> bool:
        while frame is not None:
            if untrusted(frame):
                return True
            frame = frame.f_back
        return False

    def first_caller(frame: FrameType | None, skip: tuple[str, ...]) -> FrameType | None:
        """The first frame from ``frame`` down whose file is not one of ``skip``."""
        while frame is not None and frame.f_code.co_filename.endswith(skip):
            frame = frame.f_back
        return frame

    def refuse(what: str) -> None:
        message = REFUSED.format(what=what)
        if message not in account.refusals:
            account.refusals.append(message)
        raise Refused(message)

    def mark_untrusted(code: CodeType) -> None:
        untrusted_codes.add(code)
        for const in code.co_consts:
            if isinstance(const, CodeType):
                mark_untrusted(const)

    def check_write(path: Any, what: str) -> None:
        real = _real(path)
        if real is None or real == os.devnull:
            return
        if not _inside(real, run_dir) and real not in databases:
            refuse(f"{what} outside the run's folder ({os.path.basename(real) or real})")

    def check_read(path: Any) -> None:
        real = _real(path)
        if real is None:
            return
        if real.startswith("/proc/"):
            part = real.split("/")[2]
            if part.isdigit() and part != my_pid:
                refuse("reading another process's /proc entry")
        if any(_inside(real, root) for root in hidden):
            refuse("reading the grader's template cache")

    def grader_event(event: str, args: tuple[Any, ...], caller: FrameType | None) -> None:
        if event == STATEMENT:
            connection, sql = args
            if connection is not None and connection in setting_up:
                return
            if isinstance(sql, str) and sql.lstrip().startswith("--"):
                return  # trigger sub-programs are not statements
            if state["warming"]:
                return  # a benchmark's untimed call, on databases of its own
            if state["recording"]:
                account.seen += 1
            elif state["importing"] or stack_untrusted(caller):
                account.outside += 1
            return
        if event == SA_STATEMENT:
            if state["recording"] or state["warming"]:
                return
            if state["importing"] or stack_untrusted(caller):
                account.outside += 1
            return
        from_grader = not stack_untrusted(caller)
        if event == SETUP:
            connection, begins = args
            listener = caller.f_back if caller is not None else None
            by_sqlalchemy = listener is not None and "sqlalchemy" in listener.f_code.co_filename
            if not by_sqlalchemy:
                refuse("marking a connection as the grader's own set-up")
            with contextlib.suppress(TypeError):  # a driver adapter that takes no weak reference
                if begins:
                    setting_up.add(connection)
                else:
                    setting_up.discard(connection)
        elif not from_grader:
            refuse(f"the grader's own event {event}")
        elif event == ARM:
            state["armed"] = True
            state["importing"] = True
            _replace_fork_exec()
        elif event == RECORD:
            (phase,) = args
            state["recording"] = phase == "call"
            state["importing"] = phase == "import"
            state["warming"] = phase == "warmup"
        elif event == ACCOUNT:
            (out,) = args
            out.refusals.extend(account.refusals)
            out.seen = account.seen
            out.outside = account.outside

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if getattr(busy, "on", False):
            return
        busy.on = True
        try:
            check(event, args)
        finally:
            busy.on = False

    def check(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("ormgrade."):
            grader_event(event, args, getframe(2))
            return
        if not state["armed"]:
            return
        refused = ALWAYS_REFUSED.get(event)
        if refused is not None and not (event == THREAD_START and _driver_thread(args)):
            refuse(refused)
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing:
                check_write(path, "writing a file")
            else:
                check_read(path)
        elif event in WRITE_EVENTS:
            for path in args[: WRITE_EVENTS[event]]:
                check_write(path, f"changing files ({event})")
        elif event == "import":
            name = args[0]
            if name in REFUSED_IMPORTS:
                refuse(REFUSED_IMPORTS[name])
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            target = args[0]
            if event != "os.kill" or target != os.getpid():
                refuse(f"sending a signal ({event})")
        elif event == "sqlite3.connect":
            if state["importing"]:
                refuse("opening a database connection while task.py is imported")
            database = args[0]
            real = _real(database)
            own = real is None or database in (":memory:", "") or real in databases
            if not own and not str(database).startswith("file:"):
                refuse("opening a SQLite database other than the run's own")
        elif event in ("socket.connect", "socket.getaddrinfo"):
            if state["importing"]:
                refuse("opening a network connection while task.py is imported")
        elif event in ("sys._getframe", "object.__getattr__"):
            frame_event(event, args)
        elif event in ("exec", "compile", "code.__new__", "function.__new__"):
            code_event(event, args)
        elif event == "object.__setattr__":
            target, name = args[0], args[1]
            module = getattr(target, "__module__", "") if isinstance(target, type) else ""
            sensitive = name == "__code__" or str(module).startswith(("grader", "sqlite3"))
            if sensitive and untrusted(getframe(2)):
                refuse(f"changing {getattr(target, '__qualname__', type(target).__name__)}.{name}")

    def frame_event(event: str, args: tuple[Any, ...]) -> None:
        if event == "object.__getattr__" and args[1] not in FRAME_ATTRIBUTES:
            return
        # getframe(0) is check, (1) hook, (2) the frame that raised the event.
        asker: FrameType | None = getframe(3)
        if event == "sys._getframe" or (
            asker is not None and "inspect" in asker.f_code.co_filename
        ):
            # inspect hands frames to its caller: judge whoever called it.
            asker = first_caller(asker, (os.sep + "inspect.py",))
        elif asker is not None and asker.f_code.co_name in ("walk_tb", "walk_stack"):
            asker = asker.f_back  # traceback's frame walkers, used directly
        if untrusted(asker):
            what = "sys._getframe" if event == "sys._getframe" else f".{args[1]}"
            refuse(f"reaching the interpreter's frames ({what})")

    def code_event(event: str, args: tuple[Any, ...]) -> None:
        asker = getframe(3)
        if event == "exec":
            if stack_untrusted(asker) and isinstance(args[0], CodeType):
                mark_untrusted(args[0])
        elif event == "compile":
            filename = args[1] if len(args) > 1 else None
            if isinstance(filename, str | bytes) and stack_untrusted(asker):
                name = os.fsdecode(filename)
                if name.startswith("<frozen") or (not name.startswith("<") and trusted_file(name)):
                    refuse("compiling code under the name of a library or the grader")
        elif untrusted(asker):
            refuse(f"making code or functions by hand ({event})")

    sys.addaudithook(hook)


FORK_EXEC = "_posixsubprocess.fork_exec"


def _refused_fork_exec(*args: Any) -> Any:
    """Stands in for ``_posixsubprocess.fork_exec``, which raises no audit event of its own."""
    sys.audit(FORK_EXEC)
    raise Refused(REFUSED.format(what=ALWAYS_REFUSED[FORK_EXEC]))


def _replace_fork_exec() -> None:
    # The C function that forks below subprocess.Popen is taken out of the modules
    # that hold it; importing it afresh is refused (REFUSED_IMPORTS).
    for name, attribute in (("_posixsubprocess", "fork_exec"), ("subprocess", "_fork_exec")):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, attribute):
            setattr(module, attribute, _refused_fork_exec)


def arm() -> None:
    """From now on, refuse what a run may not do (call just before importing the submission)."""
    sys.audit(ARM)


def set_phase(phase: str) -> None:
    """Say what the child does now: ``import`` (task.py), ``call`` (recorded), ``warmup``
    (a benchmark's untimed call on databases of its own; grading never warms up) or ``idle``.

    Only the grader's own frames may say it; from the submission's code it is refused.
    """
    sys.audit(RECORD, phase)


def account() -> Account:
    """A copy of the hook's account (empty when no hook is installed)."""
    out = Account()
    sys.audit(ACCOUNT, out)
    return out
