"""Grading on Celery workers: the app, the grading task and ``ormgrade worker``.

A worker grades one student per task with the engine a local run uses
(`grader.grading.runner.grade`, the sandbox and its limits). The task is plain JSON
(never pickle): the student's editable files (`grader.classbook.payload`), the
exercise ids, the run's seed and limits, the dialect, and the fingerprint of
the catalog and engine the coordinator graded for. A worker whose own
fingerprint differs refuses the task and says which two differ: a student
is never graded silently on other specs, starters, hooks or engine.

Delivery is at least once: a task is acknowledged only when it is finished
(``task_acks_late``), and one whose worker process dies is given back to the
broker (``task_reject_on_worker_lost``), so another worker grades it; the
coordinator (`grader.classbook.coordinator`) keeps the first result of each student of
its run and ignores any other.

The result backend follows the broker: Redis keeps results in Redis,
RabbitMQ sends them back to the coordinator over its reply queue (``rpc://``).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import multiprocessing
import multiprocessing.process
import os
import socket
import tempfile
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grader import __version__
from grader.classbook.payload import PayloadError, SubmissionPayload
from grader.classbook.planning import catalog_fingerprint
from grader.course.catalog import Catalog
from grader.course.spec import ExerciseSpec
from grader.errors import OrmgradeError, UsageError
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.results import to_json

#: The name the grading task is sent and registered under.
TASK_NAME = "ormgrade.grade_submission"
#: The queue tasks go to when none is named.
DEFAULT_QUEUE = "ormgrade"
#: Seconds a Redis broker waits for an unacknowledged task before giving it to
#: another worker (a worker lost with the machine never says so). Longer than
#: any one student's grading, or a slow student is graded twice (harmless, wasteful).
DEFAULT_VISIBILITY_TIMEOUT = 1800
#: Most seconds between two of a Redis worker's scans for tasks past their
#: visibility timeout (kombu's default scans every 100 s, whatever the timeout).
RESTORE_SCAN_MAX = 10.0
#: Seconds a result waits in the backend for the coordinator.
RESULT_EXPIRES = 24 * 3600
#: Version of the task message; a worker refuses others.
MESSAGE_VERSION = 1

CATALOG_DIFFERS = (
    "refused by worker {worker}: the catalog differs: the coordinator graded for "
    "fingerprint {expected}, this worker has {actual} (specs, starters, hooks and engine "
    "version must be the same on every machine)"
)
DIALECT_DIFFERS = (
    "refused by worker {worker}: the coordinator grades on {expected}, this worker on "
    "{actual} (start the worker with the same kind of --db)"
)
UNKNOWN_BROKER = (
    "{url!r} is not a supported broker URL: use redis://host:6379/0 (Redis) "
    "or amqp://user:password@host:5672/vhost (RabbitMQ)"
)
BAD_MESSAGE = "refused by worker {worker}: not a grading task of this ormgrade ({reason})"
TASK_RAISED = "grading raised on worker {worker} instead of producing results: {detail}"


class TaskStatus:
    """What a task's result says happened: graded, refused, or a grader error."""

    GRADED = "graded"
    REFUSED = "refused"
    ERROR = "error"


def result_backend_for(broker_url: str) -> str:
    """The result backend that suits ``broker_url``: Redis itself, or RPC over AMQP.

    Raises:
        UsageError: Neither a Redis nor an AMQP URL.
    """
    scheme = broker_url.split("://", 1)[0].lower() if "://" in broker_url else ""
    if scheme in ("redis", "rediss"):
        return broker_url
    if scheme in ("amqp", "amqps", "pyamqp"):
        return "rpc://"
    raise UsageError(UNKNOWN_BROKER.format(url=broker_url))


def make_app(
    broker_url: str,
    queue: str = DEFAULT_QUEUE,
    *,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
) -> Any:
    """A Celery app for ``broker_url``, configured for grading (coordinator and worker alike).

    JSON only in both directions, late acknowledgement, a task given back
    when its worker process dies, one task fetched at a time per process.

    Raises:
        UsageError: An unsupported broker URL.
    """
    from celery import Celery

    app = Celery("ormgrade", broker=broker_url, backend=result_backend_for(broker_url))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        task_default_queue=queue,
        task_create_missing_queues=True,
        result_expires=RESULT_EXPIRES,
        broker_transport_options=transport_options(visibility_timeout),
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    return app


def transport_options(visibility_timeout: float) -> dict[str, float]:
    """The broker's options: a task is given back soon after its visibility timeout.

    A Redis worker gives back unacknowledged tasks whose timeout has passed only
    when it scans for them; kombu scans on every tenth tick of 10 s, so a task
    of a killed worker waited up to 100 s more than the timeout. Here every tick
    scans, and a tick comes at most a quarter of the timeout apart (RabbitMQ
    ignores these options: it gives a task back when its connection closes).
    """
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1.0, min(RESTORE_SCAN_MAX, visibility_timeout / 4)),
        "unacked_restore_throttle": 1,
    }


def engine_fingerprint() -> str:
    """A digest of the engine: its version, its own source files, SQLAlchemy's version."""
    digest = hashlib.sha256(f"{__version__}|{_version('SQLAlchemy')}".encode())
    package = Path(__file__).resolve().parents[1]  # the whole grader package
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" not in path.parts:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def grading_fingerprint(catalog: Catalog, specs: Iterable[ExerciseSpec]) -> str:
    """The fingerprint a task carries: the catalog's for ``specs`` and the engine's.

    Computed the same way by the coordinator and by every worker.
    """
    both = f"{catalog_fingerprint(catalog, specs)}|{engine_fingerprint()}"
    return hashlib.sha256(both.encode()).hexdigest()[:16]


def dialect_of(db_url: str | None) -> str:
    """The kind of database ``db_url`` names (``sqlite`` when None)."""
    if db_url is None or db_url in ("sqlite", "sqlite://"):
        return "sqlite"
    from sqlalchemy.engine import make_url

    return make_url(db_url).get_backend_name()


@dataclass(frozen=True)
class GradingRequest:
    """One task: grade this student's files for that run.

    Attributes:
        run_id: The coordinator's run.
        student: The student id (a label; the coordinator keeps its own).
        exercise_ids: The exercises to grade.
        fingerprint: The coordinator's `grading_fingerprint`.
        dialect: The kind of database the run grades on.
        seed: The run's dataset seed.
        timeout: Overrides each spec's time limit (None: the spec's).
        memory_mb: Overrides each spec's memory limit (None: the spec's).
        payload: The student's editable files.
    """

    run_id: str
    student: str
    exercise_ids: tuple[str, ...]
    fingerprint: str
    dialect: str
    seed: int
    timeout: float | None
    memory_mb: int | None
    payload: SubmissionPayload

    def to_message(self) -> dict[str, Any]:
        """The task's JSON argument."""
        return {
            "version": MESSAGE_VERSION,
            "run_id": self.run_id,
            "student": self.student,
            "exercise_ids": list(self.exercise_ids),
            "fingerprint": self.fingerprint,
            "dialect": self.dialect,
            "seed": self.seed,
            "timeout": self.timeout,
            "memory_mb": self.memory_mb,
            "payload": self.payload.to_message(),
        }

    @classmethod
    def from_message(cls, message: Any) -> GradingRequest:
        """Read a task argument, checking every field's type and bounds.

        Raises:
            PayloadError: Anything that is not a task of this version.
        """
        if not isinstance(message, Mapping) or message.get("version") != MESSAGE_VERSION:
            raise PayloadError(f"message version is not {MESSAGE_VERSION}")
        text = {k: message.get(k) for k in ("run_id", "student", "fingerprint", "dialect")}
        bad = [k for k, v in text.items() if not isinstance(v, str)]
        ids = message.get("exercise_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            bad.append("exercise_ids")
        seed: Any = message.get("seed")
        timeout: Any = message.get("timeout")
        memory: Any = message.get("memory_mb")
        if not _is_int(seed) or seed < 0:
            bad.append("seed")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 3600
        ):
            bad.append("timeout")
        if memory is not None and (not _is_int(memory) or not 64 <= memory <= 1 << 20):
            bad.append("memory_mb")
        if bad:
            raise PayloadError(f"bad fields: {', '.join(bad)}")
        assert isinstance(ids, list)
        return cls(
            run_id=str(text["run_id"]),
            student=str(text["student"]),
            exercise_ids=tuple(ids),
            fingerprint=str(text["fingerprint"]),
            dialect=str(text["dialect"]),
            seed=int(seed),
            timeout=float(timeout) if timeout is not None else None,
            memory_mb=int(memory) if memory is not None else None,
            payload=SubmissionPayload.from_message(message.get("payload")),
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker grades with, besides the task.

    Attributes:
        catalog_root: Its own copy of the catalog.
        db_url: Its database (None: a SQLite file per run).
        name: Its node name, given in every result.
    """

    catalog_root: Path
    db_url: str | None
    name: str


class SessionKeeper:
    """One grading session per worker process, kept while tasks share seed and settings.

    The starter's oracle runs are made once per session, as in a local
    grade-all's worker processes.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._session: GradingSession | None = None

    def session(
        self, key: tuple[Any, ...], catalog: Catalog, options: GradeOptions
    ) -> GradingSession:
        """The session for ``key``, opened anew when ``key`` changed."""
        if self._session is None or key != self._key:
            self.close()
            self._session = open_session(catalog, options)
            self._key = key
        return self._session

    def close(self) -> None:
        """Release the session's databases."""
        if self._session is not None:
            self._session.close()
        self._session, self._key = None, None


def grade_task(message: Any, settings: WorkerSettings, sessions: SessionKeeper) -> dict[str, Any]:
    """Grade one task's submission; the task's JSON result. Never raises.

    The result holds ``status`` (`TaskStatus`), ``run_id``, ``student``,
    ``worker``, and either ``results`` (the results JSON) with ``staging``
    (the folder the submission was rebuilt in, for the coordinator to put the
    student's own path back in messages), or ``message`` (why not).
    """
    worker = settings.name

    def answer(status: str, **fields: Any) -> dict[str, Any]:
        run_id = message.get("run_id") if isinstance(message, Mapping) else None
        student = message.get("student") if isinstance(message, Mapping) else None
        return {"status": status, "run_id": run_id, "student": student, "worker": worker, **fields}

    try:
        request = GradingRequest.from_message(message)
    except PayloadError as exc:
        return answer(TaskStatus.REFUSED, message=BAD_MESSAGE.format(worker=worker, reason=exc))
    try:
        catalog = Catalog(settings.catalog_root)
        try:
            specs = catalog.select(request.exercise_ids)
            actual = grading_fingerprint(catalog, specs)
        except OrmgradeError as exc:
            actual = f"none ({exc})"
        if actual != request.fingerprint:
            refusal = CATALOG_DIFFERS.format(
                worker=worker, expected=request.fingerprint, actual=actual
            )
            return answer(TaskStatus.REFUSED, message=refusal)
        dialect = dialect_of(settings.db_url)
        if dialect != request.dialect:
            refusal = DIALECT_DIFFERS.format(
                worker=worker, expected=request.dialect, actual=dialect
            )
            return answer(TaskStatus.REFUSED, message=refusal)
        options = GradeOptions(
            seed=request.seed,
            db_url=settings.db_url,
            timeout=request.timeout,
            memory_mb=request.memory_mb,
        )
        key = (actual, request.seed, request.timeout, request.memory_mb)
        session = sessions.session(key, catalog, options)
        with tempfile.TemporaryDirectory(prefix="ormgrade-task-") as work:
            submission = request.payload.unpack(Path(work))
            report = grade(submission, catalog, request.exercise_ids, session=session)
        report = replace(report, submission=request.student)
        return answer(TaskStatus.GRADED, results=to_json(report), staging=str(submission))
    except Exception as exc:  # a bug of ours or a broken worker: never the student's grade
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return answer(TaskStatus.ERROR, message=TASK_RAISED.format(worker=worker, detail=detail))


def default_node_name() -> str:
    """A node name unique on this machine: ``ormgrade-<pid>@<host>``."""
    return f"ormgrade-{os.getpid()}@{socket.gethostname()}"


def register_grading(app: Any, settings: WorkerSettings) -> Any:
    """Register the grading task on ``app`` for a worker with ``settings``."""
    from celery.signals import worker_process_init, worker_process_shutdown

    sessions = SessionKeeper()

    @worker_process_init.connect(weak=False)
    def allow_sandbox_children(**kwargs: Any) -> None:
        # A pool process is billiard's, not multiprocessing's: marked daemonic
        # (multiprocessing then forbids children) and with billiard's kind of
        # authentication key (which multiprocessing's forkserver refuses to send).
        # The sandbox starts children of its own, and always kills them itself.
        process: Any = multiprocessing.current_process()
        key_kind: Any = getattr(multiprocessing.process, "AuthenticationString")  # noqa: B009
        process._config["daemon"] = False
        process._config["authkey"] = key_kind(bytes(process.authkey))

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
    def grade_submission(message: Any) -> dict[str, Any]:
        return grade_task(message, settings, sessions)

    @worker_process_shutdown.connect(weak=False)
    def close_session(**kwargs: Any) -> None:
        sessions.close()

    return grade_submission


def run_worker(
    broker_url: str,
    catalog: Catalog,
    *,
    concurrency: int = 1,
    db_url: str | None = None,
    queue: str = DEFAULT_QUEUE,
    name: str | None = None,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker that grades tasks from ``queue`` until it is stopped.

    Raises:
        OrmgradeError: A broken catalog or an unsupported broker (before it starts).
    """
    node = name or default_node_name()
    fingerprint = grading_fingerprint(catalog, catalog.select())
    settings = WorkerSettings(catalog.root, db_url, node)
    app = make_app(broker_url, queue, visibility_timeout=visibility_timeout)
    register_grading(app, settings)
    # Each task's return value is a whole results document: not for the log.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    print(
        f"ormgrade worker {node}: catalog {catalog.root} (fingerprint of the whole catalog "
        f"{fingerprint}) · {dialect_of(db_url)} · queue {queue} · {concurrency} process(es)",
        flush=True,
    )
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={queue}",
            f"--hostname={node}",
            f"--loglevel={loglevel}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


__all__ = [
    "CATALOG_DIFFERS",
    "DEFAULT_QUEUE",
    "DIALECT_DIFFERS",
    "TASK_NAME",
    "GradingRequest",
    "TaskStatus",
    "WorkerSettings",
    "dialect_of",
    "engine_fingerprint",
    "grade_task",
    "grading_fingerprint",
    "make_app",
    "result_backend_for",
    "run_worker",
]
