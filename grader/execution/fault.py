"""Make one write of a run fail on purpose, to see what a failure leaves behind.

A fault run counts the rows the code under test writes (the parameter sets of
its INSERT, UPDATE and DELETE executions) and makes the execution that carries
the N-th row fail before it reaches the database, from inside the code's own
call, as a dropped connection or a constraint violation would. An execution
that carries many rows (an executemany, an insertmanyvalues batch run) fails as
a whole: nothing of it is written. Only that one execution fails; whatever the
code does afterwards goes through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from grader.execution.capture import INTERNAL_OPTION

#: Statement verbs that count as writes.
WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "UPSERT"})


class FaultOrigin(Exception):
    """The driver-level cause an `InjectedFault` carries."""


class InjectedFault(OperationalError):
    """The failure a fault run injects.

    It is a database error (`sqlalchemy.exc.OperationalError`), so code that
    handles database errors sees it as one.
    """


@dataclass
class WriteFault:
    """Counts written rows and fails the execution that carries row ``after_rows``.

    Attributes:
        after_rows: The written row whose execution fails; None injects nothing.
        rows_written: Rows carried by the write executions that went through.
        fired: Whether the failure was injected.
        statement: The SQL of the execution that was made to fail.
    """

    after_rows: int | None
    rows_written: int = 0
    fired: bool = False
    statement: str = ""
    _last_context: Any = field(default=None, repr=False)

    def before(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if self.after_rows is None or self.fired:
            return
        if context is not None:
            if context.execution_options.get(INTERNAL_OPTION):
                return
            # insertmanyvalues sends one execution in several batches: count it once.
            if context is self._last_context:
                return
            self._last_context = context
        head = statement.lstrip(" (\n\t").split(None, 1)
        if not head or head[0].upper() not in WRITE_VERBS:
            return
        rows = 1
        if many and context is not None and context.parameters:
            rows = len(context.parameters)
        elif many and isinstance(params, list | tuple):
            rows = len(params)
        if self.rows_written + rows >= self.after_rows:
            self.fired = True
            self.statement = statement
            raise InjectedFault(
                statement,
                None,
                FaultOrigin(
                    f"injected failure: the write carrying row {self.after_rows} "
                    "failed (a lost connection, a violated constraint…)"
                ),
            )
        self.rows_written += rows

    def describe(self) -> dict[str, Any]:
        """The fault as plain data, for a run's record."""
        return {
            "after_rows": self.after_rows,
            "fired": self.fired,
            "rows_written": self.rows_written,
            "statement": self.statement,
        }


@contextmanager
def inject_write_fault(engine: Engine, after_rows: int | None) -> Iterator[WriteFault]:
    """Inside the block, the write carrying row ``after_rows`` on ``engine`` fails.

    With ``after_rows`` None the block runs untouched. The listener is removed
    when the block ends, however it ends.

    Yields:
        The `WriteFault`, which tells afterwards whether it fired.
    """
    fault = WriteFault(after_rows)
    if after_rows is None:
        yield fault
        return
    event.listen(engine, "before_cursor_execute", fault.before)
    try:
        yield fault
    finally:
        if event.contains(engine, "before_cursor_execute", fault.before):
            event.remove(engine, "before_cursor_execute", fault.before)
