"""Defences of the recording against the code it records.

Submission code runs in the same process as the recorder that counts its
statements, so it could try to hide them: remove the engine's listeners,
replace the SQLite trace of a connection, open a connection of its own, or
patch the grader. `Guard` is installed in the child before the submission is
imported and keeps a second, independent account:

- every SQLite connection made in the process (by the engine, through
  ``sqlite3.connect`` or by calling ``sqlite3.Connection``) is a
  `GuardedConnection`, whose driver-level trace cannot be swapped through its
  methods; during the recorded call, statements on connections the engine did
  not make are recorded as driver statements, so honest raw SQL still counts;
- what an engine runs on a new connection in its ``connect`` event (the
  grader's own set-up, before the recorder traces the connection) is left out;
- after the call every connection still open runs a probe statement that must
  come through the trace, and a connection closed around the guard is reported;
- the statements the trace saw must all be accounted for by the log;
- `Seal` remembers the objects the recording and the result channel rely on
  (grader modules and classes, builtins, pickle, the sqlite3 module) and
  reports any that were replaced, added or removed.

This stops accidents and naive cheating. It cannot stop code that reaches
below Python (ctypes), rewrites a running frame, or writes a forged result to
the channel itself: the README's security section says so.
"""

from __future__ import annotations

import contextlib
import copyreg
import secrets
import sqlite3
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from grader.execution import audit
from grader.execution.capture import QueryLog

#: Prefix of every tampering message; a run that trips it earns nothing.
TAMPERING = "tampering detected: {what}; the run is not scored"
LISTENERS_REMOVED = "the grader's statement listeners were removed from the engine"
TRACE_REMOVED = "the statement trace of {count} database connection(s) was removed"
CLOSED_AROUND = "{count} database connection(s) were closed around the grader"
UNACCOUNTED = "the database ran {seen} statement(s) but the log accounts for {explained}"
SETUP_UNFINISHED = "the grader's connection set-up listeners were removed"
CHANGED = "objects the grader relies on were changed: {names}"
TRACER_SET = "a trace or profile function was installed"

#: Modules whose objects the recording and the result channel rely on.
SEALED_MODULES = (
    "builtins",
    "copyreg",
    "pickle",
    "multiprocessing.connection",
    "sqlite3",
    "sqlite3.dbapi2",
    "_sqlite3",
    "grader.execution.capture",
    "grader.execution.child",
    "grader.execution.guard",
    "grader.execution.run",
    "grader.execution.sandbox",
)

_BaseConnection = sqlite3.Connection
_base_connect = sqlite3.connect
_SQLITE_MODULES = ("sqlite3", "sqlite3.dbapi2", "_sqlite3")


def tampering(what: str) -> str:
    """The failure message of a run that was tampered with."""
    return TAMPERING.format(what=what)


@dataclass
class _ConnectionState:
    """What the guard knows about one connection."""

    grader_trace: Callable[[str], Any] | None = None
    user_trace: Callable[[str], Any] | None = None
    closed: bool = False
    probe_seen: bool = False
    setting_up: bool = False


class GuardedConnection(_BaseConnection):
    """A SQLite connection whose statement trace stays with the grader.

    ``set_trace_callback`` through the instance keeps the guard's own trace:
    the grader's recorder is remembered for use outside a recorded call, any
    other callback is chained after it. ``close`` probes the trace first.
    """

    guard: ClassVar[Guard | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard = GuardedConnection.guard
        if guard is not None:
            guard.adopt(self)

    def set_trace_callback(self, trace_callback: Callable[[str], Any] | None) -> None:
        guard = GuardedConnection.guard
        if guard is None or not guard.owns(self):
            _BaseConnection.set_trace_callback(self, trace_callback)
            return
        guard.set_callback(self, trace_callback)

    def close(self) -> None:
        guard = GuardedConnection.guard
        if guard is not None:
            guard.before_close(self)
        _BaseConnection.close(self)

    def __del__(self) -> None:
        guard = GuardedConnection.guard
        if guard is not None:
            with contextlib.suppress(Exception):
                guard.before_close(self)


def _is_grader_callback(callback: Any) -> bool:
    owner = getattr(callback, "__self__", None)
    return type(owner).__module__ == "grader.execution.capture"


def _open_state(connection: sqlite3.Connection) -> bool | None:
    """True when open, False when closed, None when this thread cannot tell."""
    try:
        _BaseConnection.total_changes.__get__(connection)
    except sqlite3.ProgrammingError as exc:
        return False if "closed" in str(exc) else None
    return True


class Guard:
    """The connection guard of one child process (see the module docstring)."""

    def __init__(self) -> None:
        self.probe_sql = f"SELECT 'ormgrade-probe-{secrets.token_hex(8)}'"
        self.states: weakref.WeakKeyDictionary[sqlite3.Connection, _ConnectionState] = (
            weakref.WeakKeyDictionary()
        )
        self.sink: Callable[[str], Any] | None = None
        self.seen = 0
        self.trace_removed = 0
        self.closed_around = 0
        self.setups_open = 0
        self._factories: dict[type, type] = {}
        self._saved: list[tuple[types.ModuleType, str, Any]] = []
        self._lock = threading.Lock()

    # -- installation -------------------------------------------------------
    @classmethod
    def install(cls) -> Guard:
        """Guard every SQLite connection made from now on in this process."""
        guard = cls()
        for name in _SQLITE_MODULES:
            module = sys.modules.get(name)
            if module is None:
                continue
            for attr, value in (("connect", guard.connect), ("Connection", GuardedConnection)):
                guard._saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, value)
        GuardedConnection.guard = guard
        return guard

    def uninstall(self) -> None:
        """Put the sqlite3 module back as it was (for in-process use)."""
        for module, attr, value in reversed(self._saved):
            setattr(module, attr, value)
        self._saved.clear()
        if GuardedConnection.guard is self:
            GuardedConnection.guard = None

    def connect(self, database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        """``sqlite3.connect`` with the connection class replaced by a guarded one."""
        positional = list(args)
        if len(positional) > 4:
            positional[4] = self._factory(positional[4])
        else:
            kwargs["factory"] = self._factory(kwargs.get("factory"))
        return _base_connect(database, *positional, **kwargs)

    def _factory(self, factory: Any) -> Any:
        if factory is None or factory is _BaseConnection:
            return GuardedConnection
        if not isinstance(factory, type) or not issubclass(factory, _BaseConnection):
            return factory
        if issubclass(factory, GuardedConnection):
            return factory
        if factory not in self._factories:
            self._factories[factory] = type(
                f"Guarded{factory.__name__}", (GuardedConnection, factory), {}
            )
        return self._factories[factory]

    # -- per connection -----------------------------------------------------
    def adopt(self, connection: sqlite3.Connection) -> None:
        """Start tracing ``connection`` (called as it is made)."""
        state = _ConnectionState()
        self.states[connection] = state
        ref = weakref.ref(connection)
        report = sys.audit  # bound now: a replaced sys.audit does not silence the account

        def dispatch(sql: str) -> None:
            if sql != self.probe_sql:
                report(audit.STATEMENT, ref(), sql)
            self._dispatch(ref, state, sql)

        _BaseConnection.set_trace_callback(connection, dispatch)

    def owns(self, connection: sqlite3.Connection) -> bool:
        """Whether ``connection`` is traced by this guard."""
        return connection in self.states

    def set_callback(
        self, connection: sqlite3.Connection, callback: Callable[[str], Any] | None
    ) -> None:
        """Remember a trace callback set through the connection's method."""
        state = self.states[connection]
        if _is_grader_callback(callback):
            state.grader_trace = callback
        else:
            state.user_trace = callback

    def _dispatch(self, ref: Any, state: _ConnectionState, sql: str) -> None:
        if sql == self.probe_sql:
            state.probe_seen = True
            return
        if state.setting_up:  # the engine's own set-up of a new connection
            return
        sink = self.sink
        if sink is not None:
            if not sql.lstrip().startswith("--"):  # trigger sub-programs are not statements
                with self._lock:
                    self.seen += 1
            # The engine's own recorder knows which engine the connection belongs to.
            (state.grader_trace or sink)(sql)
        elif state.grader_trace is not None:
            state.grader_trace(sql)
        if state.user_trace is not None:
            state.user_trace(sql)

    def before_close(self, connection: sqlite3.Connection) -> None:
        """Probe ``connection`` before it closes; note one closed around the guard."""
        state = self.states.get(connection)
        if state is None or state.closed:
            return
        state.closed = True
        is_open = _open_state(connection)
        if is_open is False:
            self.closed_around += 1
        elif is_open:
            self._probe(connection, state)

    def _probe(self, connection: sqlite3.Connection, state: _ConnectionState) -> None:
        state.probe_seen = False
        try:
            _BaseConnection.execute(connection, self.probe_sql).close()
        except sqlite3.Error:
            return  # made in another thread, or broken: nothing to learn
        if not state.probe_seen:
            self.trace_removed += 1

    # -- the recorded call --------------------------------------------------
    def open(self, sink: Callable[[str], Any]) -> None:
        """Send every traced statement to ``sink`` until `close` (the recorded call)."""
        self.seen = 0
        self.sink = sink

    def close(self) -> None:
        """End the recorded call."""
        self.sink = None

    @contextlib.contextmanager
    def recording(
        self, sink: Callable[[str], Any], engines: Iterable[Engine] = ()
    ) -> Iterator[Guard]:
        """`open` for the block, `close` after it, however it ends.

        What ``engines`` run on a new connection in their ``connect`` event (the
        grader's own set-up, before the recorder traces it) is neither sent nor
        counted: the guard listens first and last to that event.
        """
        hooks = [
            (engine, fn) for engine in engines for fn in (self._setup_begins, self._setup_ends)
        ]
        for engine, fn in hooks:
            event.listen(engine, "connect", fn, insert=fn == self._setup_begins)
        self.open(sink)
        try:
            yield self
        finally:
            self.close()
            for engine, fn in hooks:
                if event.contains(engine, "connect", fn):
                    event.remove(engine, "connect", fn)

    @staticmethod
    def _sqlite_of(dbapi_connection: Any) -> Any:
        """The sqlite3 connection behind what an engine event hands over.

        An async engine hands over an adapter; the sqlite3 connection is the
        one its driver (aiosqlite) holds. Other drivers' connections come back
        as they are.
        """
        if isinstance(dbapi_connection, sqlite3.Connection):
            return dbapi_connection
        driver = getattr(dbapi_connection, "driver_connection", None)
        inner = getattr(driver, "_conn", None)
        return inner if isinstance(inner, sqlite3.Connection) else dbapi_connection

    def _state_of(self, dbapi_connection: Any) -> _ConnectionState | None:
        """The state of the SQLite connection an engine event hands over."""
        connection = self._sqlite_of(dbapi_connection)
        if not isinstance(connection, sqlite3.Connection):
            return None
        return self.states.get(connection)

    def _setup_begins(self, dbapi_connection: Any, connection_record: Any) -> None:
        sys.audit(audit.SETUP, self._sqlite_of(dbapi_connection), True)
        state = self._state_of(dbapi_connection)
        if state is not None and not state.setting_up:
            state.setting_up = True
            self.setups_open += 1

    def _setup_ends(self, dbapi_connection: Any, connection_record: Any) -> None:
        sys.audit(audit.SETUP, self._sqlite_of(dbapi_connection), False)
        state = self._state_of(dbapi_connection)
        if state is not None and state.setting_up:
            state.setting_up = False
            self.setups_open -= 1

    def verify(self, log: QueryLog | None) -> list[str]:
        """What went wrong with the recording, as tampering descriptions.

        Probes every connection still open; compares the statements the trace
        saw during the call with what ``log`` accounts for.
        """
        for connection, state in list(self.states.items()):
            if state.closed:
                continue
            is_open = _open_state(connection)
            if is_open is False:
                state.closed = True
                self.closed_around += 1
            elif is_open:
                self._probe(connection, state)
        problems = []
        if log is not None and not log.listeners_intact:
            problems.append(LISTENERS_REMOVED)
        if self.trace_removed:
            problems.append(TRACE_REMOVED.format(count=self.trace_removed))
        if self.closed_around:
            problems.append(CLOSED_AROUND.format(count=self.closed_around))
        if self.setups_open:
            problems.append(SETUP_UNFINISHED)
        if log is not None:
            explained = explained_traces(log)
            if self.seen > explained:
                problems.append(UNACCOUNTED.format(seen=self.seen, explained=explained))
        return problems


def explained_traces(log: QueryLog) -> int:
    """Most driver-level statement runs that ``log`` can account for.

    An executemany runs once per parameter set; a batched insert once per
    batch; a driver statement and a transaction-control statement once each.
    """
    total = len(log.transaction_control)
    for statement in log.statements:
        if statement.source == "driver":
            total += 1
        elif statement.executemany:
            total += max(statement.rows_in, statement.batches)
        else:
            total += max(statement.batches, 1)
    return total


# -- the seal ------------------------------------------------------------------


def _code_of(value: Any) -> tuple[Any, ...] | None:
    function = getattr(value, "__func__", value)
    if isinstance(function, types.FunctionType):
        return (function.__code__, function.__defaults__, function.__kwdefaults__)
    return None


#: ``type.__flags__`` bit of classes whose attributes cannot be set (builtins, C types).
_IMMUTABLE_TYPE = 1 << 8


def _mutable_class(value: Any) -> bool:
    return isinstance(value, type) and not value.__flags__ & _IMMUTABLE_TYPE


def _same(now: tuple[Any, ...] | None, then: tuple[Any, ...]) -> bool:
    return now is not None and all(a is b for a, b in zip(now, then, strict=True))


def _same_items(now: Any, then: dict[Any, Any]) -> bool:
    return now.keys() == then.keys() and all(now[k] is v for k, v in then.items())


@dataclass(frozen=True)
class _Sealed:
    name: str
    namespace: Any
    entries: dict[str, Any]
    codes: dict[str, tuple[Any, ...]]


class Seal:
    """A record of the objects the grader relies on, to tell later whether they changed.

    For each sealed module: its attributes, and for each class defined in it,
    the class's attributes; for every function among them, its code and
    defaults. `broken` names whatever was replaced, added or removed since.
    """

    def __init__(self, modules: Iterable[str] = SEALED_MODULES) -> None:
        self._sealed: list[_Sealed] = []
        for name in modules:
            module = sys.modules.get(name)
            if module is None:
                continue
            self._add(name, module)
            for value in list(vars(module).values()):
                if _mutable_class(value) and value.__module__ == name:
                    self._add(f"{name}.{value.__qualname__}", value)
        self._dispatch_table = dict(copyreg.dispatch_table)
        self._tracers = (sys.gettrace(), sys.getprofile())

    def _add(self, name: str, namespace: Any) -> None:
        entries = dict(vars(namespace))
        codes = {k: c for k, v in entries.items() if (c := _code_of(v)) is not None}
        self._sealed.append(_Sealed(name, namespace, entries, codes))

    def broken(self) -> list[str]:
        """The tampering descriptions of what changed since the seal was made."""
        changed: list[str] = []
        for sealed in self._sealed:
            now = vars(sealed.namespace)
            for key in now.keys() ^ sealed.entries.keys():
                changed.append(f"{sealed.name}.{key}")
            for key, value in sealed.entries.items():
                if (key in now and now[key] is not value) or (
                    key in sealed.codes and not _same(_code_of(value), sealed.codes[key])
                ):
                    changed.append(f"{sealed.name}.{key}")
        if not _same_items(copyreg.dispatch_table, self._dispatch_table):
            changed.append("copyreg.dispatch_table")
        problems = []
        if changed:
            shown = ", ".join(sorted(set(changed))[:6])
            more = len(set(changed)) - 6
            problems.append(CHANGED.format(names=shown + (f" and {more} more" if more > 0 else "")))
        if sys.gettrace() is not self._tracers[0] or sys.getprofile() is not self._tracers[1]:
            problems.append(TRACER_SET)
        return problems
