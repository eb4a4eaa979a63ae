"""grade-all on Celery workers: send one task per student, write what comes back.

The coordinator is the only writer of results: workers (`grader.classbook.worker`)
grade and send each student's results JSON back through the result backend,
and the coordinator writes it, its fingerprint and, at the end, the gradebook
exactly as a local `grader.classbook.bulk.run_grade_all` does. The plan (who is
unchanged, the run's seed) is the local one: `grader.classbook.planning.plan_grade_all`.

Each task carries a run id; a result is taken once per student of the run
(`ResultCollector`), so a task delivered twice (its first worker was lost
after grading) never counts twice. A task whose worker process dies over
and over (a submission that kills it) is given up when it starts again
after `MAX_ATTEMPTS` such deaths, and that student is reported, like a
local worker that died.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from grader.classbook.payload import PayloadError, pack
from grader.classbook.planning import (
    REFERENCE_ID,
    BulkPlan,
    BulkReport,
    GradingTask,
    Progress,
    StudentOutcome,
    StudentStatus,
    conclude,
    finish,
    record_run,
)
from grader.classbook.worker import (
    DEFAULT_QUEUE,
    TASK_NAME,
    GradingRequest,
    TaskStatus,
    dialect_of,
    grading_fingerprint,
    make_app,
)
from grader.course.manifest import protected_file_warnings
from grader.errors import OrmgradeError
from grader.results import from_json, to_json

#: Starts of one task whose worker process then died, after which it is given up.
MAX_ATTEMPTS = 3
#: Seconds the coordinator waits for a state message before looking again.
POLL_SECONDS = 0.5

BROKER_UNREACHABLE = "the broker at {url} does not answer: {error}"
GIVEN_UP = (
    "given up: the worker process grading this student died {deaths} times (a submission "
    "that kills its grading process?)"
)
TASK_FAILED = "the grading task failed on the worker: {detail}"
FOREIGN_RESULT = "results for another run or student came back ({detail}); not written"


class BrokerError(OrmgradeError):
    """The broker cannot be reached (a broken environment, not a student's fault)."""


def check_broker(app: Any, url: str) -> None:
    """Connect to the broker once.

    Raises:
        BrokerError: It does not answer.
    """
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:  # kombu raises the transport's own errors
        raise BrokerError(BROKER_UNREACHABLE.format(url=url, error=exc)) from None


def workers_answering(broker_url: str, timeout: float = 1.0) -> list[str]:
    """The node names of the workers that answer a ping on ``broker_url``.

    Raises:
        BrokerError: The broker does not answer.
    """
    app = make_app(broker_url)
    try:
        check_broker(app, broker_url)
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def _failed(task: GradingTask, error: str, seconds: float = 0.0) -> StudentOutcome:
    return StudentOutcome(task.student.id, StudentStatus.FAILED, error=error, seconds=seconds)


@dataclass
class ResultCollector:
    """Takes each student's first result of the run, and only that.

    Attributes:
        plan: The run's plan (catalog, seed, exercises).
        run_id: The run's id; results of other runs are not taken.
        taken: The students whose result was taken.
        duplicates: Results that came back for a student already taken.
    """

    plan: BulkPlan
    run_id: str
    taken: set[str] = field(default_factory=set)
    duplicates: int = 0

    def accept(self, task: GradingTask, result: Any, seconds: float) -> StudentOutcome | None:
        """Write ``result`` for ``task`` when it is the first of its student; their outcome.

        Returns None for a duplicate. A refusal or a worker's error is the
        student's failure (no results written, graded again next run).
        """
        student = task.student.id
        if student in self.taken:
            self.duplicates += 1
            return None
        if not isinstance(result, Mapping):
            return self._take(task, _failed(task, TASK_FAILED.format(detail=result), seconds))
        if result.get("run_id") != self.run_id or result.get("student") != student:
            detail = f"run {result.get('run_id')!r}, student {result.get('student')!r}"
            return self._take(task, _failed(task, FOREIGN_RESULT.format(detail=detail), seconds))
        status = result.get("status")
        if status != TaskStatus.GRADED:
            message = str(result.get("message") or f"status {status!r}")
            return self._take(task, _failed(task, message, seconds))
        try:
            text = self._localized(task, str(result["results"]), str(result.get("staging", "")))
        except (KeyError, ValueError, TypeError) as exc:
            error = TASK_FAILED.format(detail=f"unreadable results: {exc}")
            return self._take(task, _failed(task, error, seconds))
        return self._take(task, finish(task, text, seconds))

    def fail(self, task: GradingTask, error: str, seconds: float = 0.0) -> StudentOutcome:
        """Take ``task``'s student as failed with ``error`` (no results written)."""
        return self._take(task, _failed(task, error, seconds))

    def _take(self, task: GradingTask, outcome: StudentOutcome) -> StudentOutcome:
        self.taken.add(task.student.id)
        return outcome

    def _localized(self, task: GradingTask, text: str, staging: str) -> str:
        """The results as a local run writes them: the student's own path and warnings."""
        if staging:
            text = text.replace(json.dumps(staging)[1:-1], json.dumps(str(task.student.path))[1:-1])
        report = from_json(text)
        expected = list(self.plan.exercise_ids) or self.plan.catalog.ids
        if report.seed != self.plan.seed or [e.id for e in report.exercises] != expected:
            raise ValueError(
                f"graded with seed {report.seed} on {[e.id for e in report.exercises]}, "
                f"not seed {self.plan.seed} on {expected}"
            )
        warnings = report.warnings + protected_file_warnings(
            self.plan.catalog.root, task.student.path
        )
        return to_json(replace(report, submission=task.student.id, warnings=warnings))


@dataclass
class _InFlight:
    task: GradingTask
    sent: float
    starts: set[tuple[str, int]] = field(default_factory=set)


def run_grade_all_on_workers(
    plan: BulkPlan,
    broker_url: str,
    *,
    queue: str = DEFAULT_QUEUE,
    progress: Progress | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> BulkReport:
    """Grade the students of ``plan`` on the Celery workers of ``broker_url``.

    Each student's results file (and its fingerprint) is written as soon as
    their result comes back; the gradebook ingests the results folder at the
    end. Ctrl-C revokes the tasks not finished and returns what was, with
    ``interrupted`` set; the next run picks up the rest.

    Args:
        plan: What to grade (see `grader.classbook.planning.plan_grade_all`).
        broker_url: The Redis or RabbitMQ URL the workers listen on.
        queue: The queue the workers consume.
        progress: Called with each student's outcome (the reference's too),
            after its results are written.
        on_sent: Called with the number of tasks sent, once they are.

    Raises:
        BrokerError: The broker does not answer (before anything is graded).
        UsageError: An unsupported broker URL.
    """
    started = time.perf_counter()
    app = make_app(broker_url, queue)
    check_broker(app, broker_url)
    record_run(plan)
    specs = plan.catalog.select(plan.exercise_ids)
    assert plan.options.seed is not None
    fingerprint = grading_fingerprint(plan.catalog, specs)
    dialect = dialect_of(plan.options.db_url)
    run_id = uuid.uuid4().hex
    collector = ResultCollector(plan, run_id)
    outcomes: list[StudentOutcome] = [o for o in plan.unchanged if o.student != REFERENCE_ID]
    reference = next((o for o in plan.unchanged if o.student == REFERENCE_ID), None)
    done: set[str] = set()
    in_flight: dict[str, _InFlight] = {}
    interrupted = False

    def record(outcome: StudentOutcome) -> None:
        nonlocal reference
        done.add(outcome.student)
        if outcome.student == REFERENCE_ID:
            reference = outcome
        else:
            outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    def on_message(meta: Mapping[str, Any]) -> None:
        flight = in_flight.get(str(meta.get("task_id")))
        if flight is None:
            collector.duplicates += meta.get("status") == "SUCCESS"
            return
        status, value = meta.get("status"), meta.get("result")
        seconds = time.perf_counter() - flight.sent
        if status == "STARTED" and isinstance(value, Mapping):
            flight.starts.add((str(value.get("hostname")), int(value.get("pid") or 0)))
            if len(flight.starts) > MAX_ATTEMPTS:
                app.control.revoke(str(meta["task_id"]))
                del in_flight[str(meta["task_id"])]
                given_up = GIVEN_UP.format(deaths=len(flight.starts) - 1)
                record(collector.fail(flight.task, given_up, seconds))
        elif status == "SUCCESS":
            del in_flight[str(meta["task_id"])]
            outcome = collector.accept(flight.task, value, seconds)
            if outcome is not None:
                record(outcome)
        elif status in ("FAILURE", "REVOKED"):
            del in_flight[str(meta["task_id"])]
            detail = value.get("exc_message", value) if isinstance(value, Mapping) else value
            record(collector.fail(flight.task, TASK_FAILED.format(detail=detail), seconds))

    consumer = app.backend.result_consumer
    consumer.on_message = on_message
    sent: list[Any] = []
    try:
        for number, task in enumerate(plan.tasks):
            try:
                payload = pack(task.student.path, specs)
            except PayloadError as exc:
                record(collector.fail(task, str(exc)))
                continue
            request = GradingRequest(
                run_id=run_id,
                student=task.student.id,
                exercise_ids=tuple(s.id for s in specs),
                fingerprint=fingerprint,
                dialect=dialect,
                seed=plan.options.seed,
                timeout=plan.options.timeout,
                memory_mb=plan.options.memory_mb,
                payload=payload,
            )
            task_id = f"{run_id}-{number}"
            in_flight[task_id] = _InFlight(task, time.perf_counter())
            sent.append(
                app.send_task(TASK_NAME, args=[request.to_message()], task_id=task_id, queue=queue)
            )
            consumer.consume_from(task_id)
        if on_sent is not None:
            on_sent(len(sent))
        while in_flight:
            try:
                consumer.drain_events(timeout=POLL_SECONDS)
            except TimeoutError:  # nothing came meanwhile (the AMQP client says so)
                continue
    except KeyboardInterrupt:
        interrupted = True
        if in_flight:
            app.control.revoke(list(in_flight))
    finally:
        consumer.on_message = None
        for result in sent:
            result.forget()
        if sent:
            consumer.stop()  # its own connection to the broker, apart from the app's pool
        app.close()
    return conclude(plan, outcomes, reference, done, interrupted, started)


__all__ = [
    "BROKER_UNREACHABLE",
    "GIVEN_UP",
    "MAX_ATTEMPTS",
    "BrokerError",
    "ResultCollector",
    "check_broker",
    "run_grade_all_on_workers",
    "workers_answering",
]
