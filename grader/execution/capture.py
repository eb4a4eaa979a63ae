"""Record every statement a piece of code sends to the database.

`capture(engine)` is a context manager that yields a `QueryLog`. It listens to
SQLAlchemy's cursor events on the engine (one record per execution: an
executemany or an insertmanyvalues batch run counts once, with its row count
kept), to the ORM's ``do_orm_execute`` event (to mark lazy loads with the
relationship that triggered them) and, on SQLite, to the DBAPI connection's
trace callback, so that SQL sent through a raw driver cursor is recorded too.
Given several engines by label (``{"main": primary, "replica": replica}``), it
records them all into one log, each statement tagged with its engine's label.

Listeners are removed in ``finally`` whatever the recorded code did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

#: Execution option the grader sets on its own statements; they are never recorded.
INTERNAL_OPTION = "ormgrade_internal"
_LAZY_OPTION = "ormgrade_lazy_load"
_LOADER_OPTION = "ormgrade_loader"
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END")
#: The label of the engine a single-engine capture records.
MAIN = "main"


@dataclass(frozen=True)
class CapturedStatement:
    """One execution of one statement, as the database received it.

    Attributes:
        index: Position in the log, from 0.
        sql: The statement text with placeholders (for raw driver SQL: as sent).
        params: The parameters of the first (or only) parameter set, made plain.
        executemany: True when one execution carried several parameter sets.
        rows_in: Parameter sets sent (1 for a plain execute).
        batches: Cursor calls this execution took (insertmanyvalues splits big inserts).
        rows_fetched: Rows the caller fetched from the result (None when unknown).
        duration: Seconds spent in the driver.
        source: ``"engine"`` when seen by SQLAlchemy, ``"driver"`` when only the
            SQLite trace saw it (raw cursor use).
        lazy_load: The relationship (``"User.tasks"``) whose lazy load emitted it.
        loader: The relationship whose loading emitted it, lazily or as an eager
            loader's follow-up statement (``selectinload``'s ``WHERE … IN (…)``);
            None for a statement the code itself executed.
        engine: The label of the engine it went to (``"main"``, or ``"replica"``
            when a run is handed several databases).
    """

    index: int
    sql: str
    params: Any
    executemany: bool = False
    rows_in: int = 1
    batches: int = 1
    rows_fetched: int | None = None
    duration: float = 0.0
    source: str = "engine"
    lazy_load: str | None = None
    engine: str = MAIN
    loader: str | None = None

    @property
    def verb(self) -> str:
        """The statement's first keyword, upper-case (SELECT, INSERT, WITH …)."""
        head = self.sql.lstrip(" (\n\t").split(None, 1)
        return head[0].upper() if head else ""


@dataclass(frozen=True)
class QueryLog:
    """Everything captured during one recorded run.

    Attributes:
        statements: Data statements in order (transaction control left out).
        transaction_control: BEGIN / COMMIT / ROLLBACK / SAVEPOINT seen, in order.
        driver_only: How many statements only the DBAPI trace saw.
        trace_available: Whether a DBAPI-level trace backed up the engine events.
        listeners_intact: False when the recorded code removed the grader's
            listeners (the log is then not to be trusted).
    """

    statements: tuple[CapturedStatement, ...] = ()
    transaction_control: tuple[str, ...] = ()
    driver_only: int = 0
    trace_available: bool = False
    listeners_intact: bool = True

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self) -> Iterator[CapturedStatement]:
        return iter(self.statements)

    def of_verb(self, *verbs: str) -> tuple[CapturedStatement, ...]:
        """The statements whose first keyword is one of ``verbs``."""
        wanted = {v.upper() for v in verbs}
        return tuple(s for s in self.statements if s.verb in wanted)

    @property
    def lazy_loads(self) -> tuple[CapturedStatement, ...]:
        """Statements the ORM emitted as lazy loads."""
        return tuple(s for s in self.statements if s.lazy_load)

    def on_engine(self, label: str) -> tuple[CapturedStatement, ...]:
        """The statements that went to the engine labelled ``label``."""
        return tuple(s for s in self.statements if s.engine == label)


class _CountingCursor:
    """Wraps a DBAPI cursor to count the rows the caller fetches through it."""

    def __init__(self, cursor: Any, record: _Recording) -> None:
        self._cursor = cursor
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        if row is not None:
            self._record.rows_fetched += 1
        return row

    def fetchmany(self, *args: Any, **kwargs: Any) -> Any:
        rows = self._cursor.fetchmany(*args, **kwargs)
        self._record.rows_fetched += len(rows)
        return rows

    def fetchall(self) -> Any:
        rows = self._cursor.fetchall()
        self._record.rows_fetched += len(rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        for row in self._cursor:
            self._record.rows_fetched += 1
            yield row


@dataclass(slots=True)
class _Recording:
    sql: str
    params: Any
    executemany: bool
    rows_in: int
    lazy_load: str | None
    started: float
    loader: str | None = None
    batches: int = 0
    duration: float = 0.0
    rows_fetched: int = 0
    fetch_counted: bool = False
    driver_only: bool = False
    engine: str = MAIN


def plain(value: Any) -> Any:
    """Turn DBAPI parameters into plain, picklable Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    return value if _is_picklable_scalar(value) else repr(value)


def _is_picklable_scalar(value: Any) -> bool:
    import datetime as dt
    import decimal
    import uuid

    return isinstance(value, dt.date | dt.time | dt.timedelta | decimal.Decimal | uuid.UUID)


_INTERNAL = _Recording(
    sql="", params=None, executemany=False, rows_in=0, lazy_load=None, started=0.0
)


class _Tap:
    """The listeners of one capture on one engine, tagging what they see with its label."""

    def __init__(self, recorder: _Recorder, label: str, engine: Engine) -> None:
        self.recorder = recorder
        self.label = label
        self.engine = engine
        self.trace = engine.dialect.name == "sqlite"

    def before(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        self.recorder.before(self.label, statement, params, context, many)

    def after(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        self.recorder.after(cursor, context)

    def traced(self, sql: str) -> None:
        self.recorder.traced(self.label, sql)

    def connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        self.install_trace(dbapi_connection)

    def install_trace(self, dbapi_connection: Any) -> None:
        setter = getattr(dbapi_connection, "set_trace_callback", None)
        if setter is None:
            setter = _adapted_trace_setter(dbapi_connection)
        if setter is not None:
            setter(self.traced)

    def listen(self) -> None:
        if self.trace:
            self.engine.dispose()
            event.listen(self.engine, "connect", self.connect)
        event.listen(self.engine, "before_cursor_execute", self.before)
        event.listen(self.engine, "after_cursor_execute", self.after)

    def intact(self) -> bool:
        dispatch = self.engine.dispatch
        return (
            bool(dispatch.before_cursor_execute)
            and bool(dispatch.after_cursor_execute)
            and event.contains(self.engine, "before_cursor_execute", self.before)
            and event.contains(self.engine, "after_cursor_execute", self.after)
        )

    def remove(self) -> None:
        for name, fn in (
            ("before_cursor_execute", self.before),
            ("after_cursor_execute", self.after),
            ("connect", self.connect),
        ):
            if event.contains(self.engine, name, fn):
                event.remove(self.engine, name, fn)


def _adapted_trace_setter(dbapi_connection: Any) -> Any:
    """``set_trace_callback`` of an async driver's connection (aiosqlite), or None.

    An async engine hands its events an adapter; the driver's connection under
    it runs the sqlite3 connection in a thread of its own, where the callback
    must be set (and is then called).
    """
    driver = getattr(dbapi_connection, "driver_connection", None)
    setter = getattr(driver, "set_trace_callback", None)
    wait = getattr(dbapi_connection, "await_", None)
    if setter is None or wait is None:
        return None
    return lambda callback: wait(setter(callback))


class _Recorder:
    """Holds the listeners of one capture and builds the QueryLog."""

    def __init__(self, engines: Mapping[str, Engine]) -> None:
        self.taps = [_Tap(self, label, engine) for label, engine in engines.items()]
        self.records: list[_Recording] = []
        # The execution a cursor call belongs to: insertmanyvalues sends one
        # execution as consecutive cursor calls sharing one context. Only the
        # latest is kept, so no execution context outlives its statement.
        self.last_context: Any = None
        self.last_record: _Recording | None = None
        self.current: _Recording | None = None
        self.control: list[str] = []
        self.driver_only: list[str] = []
        self.active = True
        self.trace = bool(self.taps) and all(tap.trace for tap in self.taps)

    # -- engine events -------------------------------------------------
    def before(self, label: str, statement: str, params: Any, context: Any, many: bool) -> None:
        if not self.active:
            return
        options = context.execution_options if context is not None else {}
        if options.get(INTERNAL_OPTION):
            self.current = _INTERNAL
            return
        record = self.last_record if context is not None and context is self.last_context else None
        if record is None:
            rows = 1
            if many and context is not None and context.parameters:
                rows = len(context.parameters)
            elif many and isinstance(params, list | tuple):
                rows = len(params)
            first = params[0] if many and isinstance(params, list | tuple) and params else params
            record = _Recording(
                sql=statement,
                params=first,
                executemany=bool(many),
                rows_in=rows,
                lazy_load=options.get(_LAZY_OPTION),
                loader=options.get(_LOADER_OPTION),
                started=time.perf_counter(),
                engine=label,
            )
            self.records.append(record)
            self.last_context, self.last_record = context, record
        record.batches += 1
        record.started = time.perf_counter()
        self.current = record

    def after(self, cursor: Any, context: Any) -> None:
        record = self.current
        self.current = None
        if record is None or record is _INTERNAL or not self.active:
            return
        record.duration += time.perf_counter() - record.started
        # Count fetched rows by reading through a wrapper: the result object is
        # built from context.cursor right after this event.
        if (
            context is not None
            and not record.fetch_counted
            and getattr(cursor, "description", None) is not None
            and context.cursor is cursor
        ):
            context.cursor = _CountingCursor(cursor, record)
            record.fetch_counted = True

    # -- ORM events ----------------------------------------------------
    def orm_execute(self, state: ORMExecuteState) -> None:
        # is_relationship_load is cheap; lazy_loaded_from builds the options.
        if not self.active or not state.is_relationship_load:
            return
        path = state.loader_strategy_path
        name = str(path[-1]) if path is not None and len(path) else "relationship"
        if state.lazy_loaded_from is None:
            state.update_execution_options(**{_LOADER_OPTION: name})
        else:
            state.update_execution_options(**{_LAZY_OPTION: name, _LOADER_OPTION: name})

    # -- SQLite trace --------------------------------------------------
    def traced(self, label: str, sql: str) -> None:
        if not self.active:
            return
        head = sql.lstrip().split(None, 1)
        verb = head[0].upper() if head else ""
        if verb in _TRANSACTION_CONTROL:
            self.control.append(sql.strip())
            return
        if self.current is _INTERNAL:
            return
        if self.current is not None:
            return  # the engine's own statement, already recorded
        self.driver_only.append(sql)
        self.records.append(
            _Recording(
                sql=sql,
                params=None,
                executemany=False,
                rows_in=1,
                lazy_load=None,
                started=0.0,
                batches=1,
                driver_only=True,
                engine=label,
            )
        )

    def listeners_intact(self) -> bool:
        return all(tap.intact() for tap in self.taps)

    def build(self, intact: bool) -> QueryLog:
        statements = []
        for index, record in enumerate(self.records):
            driver = record.driver_only
            statements.append(
                CapturedStatement(
                    index=index,
                    sql=record.sql,
                    params=plain(record.params),
                    executemany=record.executemany,
                    rows_in=record.rows_in,
                    batches=record.batches,
                    rows_fetched=None
                    if driver or not record.fetch_counted
                    else record.rows_fetched,
                    duration=record.duration,
                    source="driver" if driver else "engine",
                    lazy_load=record.lazy_load,
                    loader=record.loader,
                    engine=record.engine,
                )
            )
        return QueryLog(
            statements=tuple(statements),
            transaction_control=tuple(self.control),
            driver_only=len(self.driver_only),
            trace_available=self.trace,
            listeners_intact=intact,
        )


class LiveLog:
    """The log while capture is running; `result` is set when the block exits."""

    def __init__(self, recorder: _Recorder) -> None:
        self._recorder = recorder
        self.result: QueryLog | None = None

    def snapshot(self) -> QueryLog:
        """The statements recorded so far."""
        return self._recorder.build(self._recorder.listeners_intact())

    @property
    def statements(self) -> Sequence[CapturedStatement]:
        """The statements recorded so far (or all of them once finished)."""
        return (self.result or self.snapshot()).statements

    def record_driver_sql(self, sql: str) -> None:
        """Record ``sql`` as the DBAPI trace of a connection no engine made reports it.

        The child's connection guard (`grader.execution.guard`) sends here what runs on
        connections the recorded code opened itself, so that it counts.
        """
        self._recorder.traced(MAIN, sql)


@contextmanager
def capture(engines: Engine | Mapping[str, Engine]) -> Iterator[LiveLog]:
    """Record what code run inside the block sends through ``engines``.

    Args:
        engines: One engine (its statements are labelled ``"main"``) or several
            by label; every statement is tagged with the label of its engine.

    On SQLite the pool is disposed first so that every connection the block
    opens carries the trace callback.

    Yields:
        A `LiveLog` whose ``result`` holds the finished `QueryLog` after the block.
    """
    labelled = {MAIN: engines} if isinstance(engines, Engine) else dict(engines)
    recorder = _Recorder(labelled)
    for tap in recorder.taps:
        tap.listen()
    event.listen(Session, "do_orm_execute", recorder.orm_execute)
    live = LiveLog(recorder)
    try:
        yield live
    finally:
        intact = recorder.listeners_intact()
        recorder.active = False
        for tap in recorder.taps:
            tap.remove()
        if event.contains(Session, "do_orm_execute", recorder.orm_execute):
            event.remove(Session, "do_orm_execute", recorder.orm_execute)
        live.result = recorder.build(intact)
