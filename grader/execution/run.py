"""What one run of exercise code is asked to do, and what it produced.

A `Job` travels to a child process; a `RunRecord` comes back. Both are plain
picklable dataclasses: the parent never imports submission code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grader.execution.capture import QueryLog


@dataclass(frozen=True)
class Job:
    """One call of an exercise's entry function on one database copy.

    Attributes:
        exercise_id: The exercise.
        role: ``oracle`` (the starter) or ``submission``.
        purpose: Which run this is (``main``, ``scaled``, ``memory`` …).
        module_path: The ``task.py`` to import.
        entry: The function to call.
        call: The call style (see `grader.execution.child.CALL_STYLES`).
        databases: Database URLs by role (``main``; ``replica`` for routing).
        params: Keyword arguments of the call.
        hooks_path: The exercise's ``grading.py`` (trusted catalog code).
        measure_memory: Trace Python allocations during the call (tracemalloc).
        options: Further settings of the exercise's spec.
        workdir: A private folder the run may write to (exports go here); the
            call runs with it as the current folder.
        output_limit: Bytes of stdout/stderr kept.
        fault_after_rows: Make the write carrying this row fail (a fault run,
            see `grader.execution.fault`); the state before the call is recorded too.
    """

    exercise_id: str
    role: str
    purpose: str
    module_path: str
    entry: str
    call: str
    databases: Mapping[str, str]
    params: Mapping[str, Any] = field(default_factory=dict)
    hooks_path: str | None = None
    measure_memory: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    workdir: str = ""
    output_limit: int = 16_384
    fault_after_rows: int | None = None


class FailureKind:
    """Why a run produced no value: the ``kind`` of a `Failure`."""

    SYNTAX = "syntax_error"
    IMPORT = "import_error"
    MISSING_ENTRY = "missing_entry"
    EXCEPTION = "exception"
    BAD_RETURN = "bad_return"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    EXIT = "exit"
    TAMPERING = "tampering"
    GRADER = "grader_error"
    #: The call raised after the failure a fault run injected: expected, not a crash.
    FAULT = "injected_fault"


@dataclass(frozen=True)
class Failure:
    """What went wrong in a run.

    Attributes:
        kind: One of the `FailureKind` values.
        message: One line for the student.
        traceback: The last lines of the traceback, paths shortened.
    """

    kind: str
    message: str
    traceback: str = ""

    @property
    def is_grader_error(self) -> bool:
        """The grader's side failed, not the submission."""
        return self.kind == FailureKind.GRADER


@dataclass(frozen=True)
class RunRecord:
    """What one run produced.

    Attributes:
        role: ``oracle`` or ``submission``.
        purpose: ``main``, ``scaled``, ``memory`` …
        value: The normalized return value (None on failure).
        snapshot: Database state after the call, when the exercise's hooks take one.
        log: The statements the call emitted.
        duration: Seconds the call took.
        peak_memory: Peak traced Python memory in bytes, when measured.
        failure: Why there is no value, or None.
        output: What the code printed (capped).
        extra: Figures an exercise kind's hooks report (routing, faults).
        baseline: Database state before the call (fault runs), taken by the
            same hook as ``snapshot``.
    """

    role: str
    purpose: str
    value: Any = None
    snapshot: Any = None
    log: QueryLog = field(default_factory=QueryLog)
    duration: float = 0.0
    peak_memory: int | None = None
    failure: Failure | None = None
    output: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    baseline: Any = None

    @property
    def ok(self) -> bool:
        """The run returned a value."""
        return self.failure is None


@dataclass(frozen=True)
class ConcurrentRun:
    """What a concurrent run produced.

    Attributes:
        workers: Each worker's run (its value: the list of what its calls returned).
        calls_per_worker: Calls each worker made (when it did not fail).
        state: The database after every worker ended, read by the grader
            with the exercise's ``snapshot`` hook.
        serial: The starter's run making all the calls one after another;
            its ``snapshot`` is the state the concurrent run must reach.
    """

    workers: tuple[RunRecord, ...]
    calls_per_worker: int
    state: Any
    serial: RunRecord

    @property
    def calls(self) -> int:
        """Calls asked of all the workers together."""
        return len(self.workers) * self.calls_per_worker

    @property
    def failed(self) -> tuple[RunRecord, ...]:
        """The workers that did not make all their calls."""
        return tuple(w for w in self.workers if not w.ok)
