"""grade-all on Celery workers, with the real brokers and real worker processes.

Each test starts ``ormgrade worker`` processes of its own (each in a session
of its own, with its own temporary folder), on a queue named for the test,
and stops and reaps them at the end; the queue is deleted. A class graded
on two workers must get the results of a local grade-all with the same
seed; a worker killed with SIGKILL in the middle of a student costs nothing
but time; a worker with another catalog is refused and reported.
"""

from __future__ import annotations

import os
import queue as queue_module
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grader.classbook.bulk import grade_all
from grader.classbook.coordinator import (
    GIVEN_UP,
    MAX_ATTEMPTS,
    ResultCollector,
    run_grade_all_on_workers,
)
from grader.classbook.gradebook import DEFAULT_FILE, REFERENCE_FILE, Gradebook, read_results
from grader.classbook.planning import FINGERPRINT_DIR, BulkReport, StudentStatus, plan_grade_all
from grader.classbook.worker import (
    CATALOG_DIFFERS,
    TaskStatus,
    grading_fingerprint,
    make_app,
    transport_options,
)
from grader.course.catalog import Catalog
from grader.grading.runner import GradeOptions
from grader.results import GradeReport, to_json
from tests.test_bulk import BROKEN, case_source, make_student

IDS = ("filter_limit", "column_projection")
SEED = 11
#: A Redis broker gives an unacknowledged task to another worker after this long.
VISIBILITY = 8
#: Where kombu keeps, on Redis, which workers' control queues are bound.
PIDBOX_BINDINGS = "_kombu.binding.celery.pidbox"
#: A filter_limit solution that, while a marker file exists, tells the test its pid
#: over a socket (a run may not write outside its folder) and waits.
WAITING = """import os
import socket
import time
from pathlib import Path

from sqlalchemy import select

from grader.domain import User

MARKER = Path({marker!r})


def run(session, country, limit):
    if MARKER.exists():
        with socket.create_connection(("127.0.0.1", {port})) as line:
            line.sendall(str(os.getpid()).encode())
    deadline = time.monotonic() + 60
    while MARKER.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    stmt = (
        select(User.id, User.name)
        .where(User.country == country, User.is_active.is_(True))
        .order_by(User.age, User.id)
        .limit(limit)
    )
    return [(row.id, row.name) for row in session.execute(stmt)]
"""

#: A filter_limit submission that tells the test its pid and waits: the test then
#: kills the worker process grading it, every time (a run cannot do it itself; the
#: sandbox refuses signals to other processes and reading their /proc entries).
DOOMED = """import os
import socket
import time


def run(session, country, limit):
    with socket.create_connection(("127.0.0.1", {port})) as line:
        line.sendall(str(os.getpid()).encode())
    time.sleep(30)
    return []
"""


class PidLine:
    """A local TCP socket on which runs send their pid; ``on_pid`` is called with each."""

    def __init__(self, on_pid: Any = None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.pids: queue_module.Queue[int] = queue_module.Queue()
        self.on_pid = on_pid
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                data = connection.recv(64)
            if data:
                pid = int(data)
                if self.on_pid is not None:
                    self.on_pid(pid)
                self.pids.put(pid)

    def close(self) -> None:
        self.server.close()


def parent_of(pid: int) -> int:
    """The parent's pid, read from ``/proc``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def kill_grading_worker(pid: int) -> None:
    """SIGKILL the nearest ancestor of ``pid`` running ``grader worker`` (a pool process)."""
    ancestor = parent_of(pid)
    while ancestor > 1:
        if b"grader\x00worker" in Path(f"/proc/{ancestor}/cmdline").read_bytes():
            os.kill(ancestor, signal.SIGKILL)
            return
        ancestor = parent_of(ancestor)
    raise AssertionError(f"no grading worker among the ancestors of {pid}")


#: Each test runs on both brokers; on RabbitMQ with the slow tests (`pytest -m slow`,
#: which .ci/run runs): starting workers and waiting for them to die and retry takes
#: 5 to 20 s a test, and the default run covers the same grading path on Redis.
BROKERS = ["redis", pytest.param("rabbitmq", marks=pytest.mark.slow)]


@pytest.fixture(params=BROKERS)
def broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """The Redis, then the RabbitMQ broker's URL (skipped or failed when it does not answer)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    yield url


@pytest.fixture()
def queue(broker: str) -> Iterator[str]:
    """A queue of this test's own, deleted (with what Redis keeps of it) at the end."""
    from kombu import Connection, Queue

    name = f"ormgrade-test-{uuid.uuid4().hex[:12]}"
    yield name
    with Connection(broker) as connection:
        Queue(name, channel=connection.default_channel).delete()
        if broker.startswith("redis"):
            client = connection.default_channel.client
            for key in client.keys(f"*{name}*"):
                client.delete(key)
            # A worker killed with SIGKILL never unbinds its control queue.
            for member in client.smembers(PIDBOX_BINDINGS):
                if name.encode() in member:
                    client.srem(PIDBOX_BINDINGS, member)
            assert client.keys(f"*{name}*") == []
            assert not [m for m in client.smembers(PIDBOX_BINDINGS) if name.encode() in m]


@dataclass
class Worker:
    """A running ``ormgrade worker`` process (the leader of its own session)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the worker and every process of its session (a machine lost)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the worker and reap it; nothing of its session is left running."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        deadline = time.monotonic() + 10
        while _session_alive(self.process.pid):
            if time.monotonic() > deadline:
                os.killpg(self.process.pid, signal.SIGKILL)
                pytest.fail(f"processes of worker {self.name} were left running")
            time.sleep(0.1)


def _session_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running_worker(
    broker: str, queue: str, catalog_root: Path, tmp: Path, name: str
) -> Iterator[Worker]:
    """Start an ``ormgrade worker`` and wait until it is ready; stop it at the end."""
    home = tmp / name
    (home / "tmp").mkdir(parents=True)
    log = home / "worker.log"
    env = {
        **os.environ,
        "TMPDIR": str(home / "tmp"),
        "ORMGRADE_CACHE": str(home / "cache"),
        "PYTHONWARNINGS": "ignore",
    }
    node = f"{name}-{queue}@test"
    command = [
        sys.executable, "-m", "grader", "worker", "--broker", broker, "--queue", queue,
        "--catalog", str(catalog_root), "--concurrency", "1", "--name", node,
        "--visibility-timeout", str(VISIBILITY),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    worker = Worker(node, process, log)
    try:
        # A bound on start-up, not a speed claim: generous for a loaded machine.
        deadline = time.monotonic() + 240
        while b" ready." not in log.read_bytes():
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield worker
    finally:
        worker.stop()


def _class(root: Path, catalog: Catalog) -> Path:
    """Six students: solved, starter, mixed both ways, broken, and one with a file missing."""
    make_student(root, "reference", catalog, solved=IDS)
    make_student(root, "starter", catalog)
    make_student(root, "mixed", catalog, solved=["filter_limit"])
    make_student(root, "mixed-other", catalog, solved=["column_projection"])
    make_student(root, "broken", catalog, solved=IDS, sources={"filter_limit": case_source(BROKEN)})
    make_student(root, "missing", catalog, solved=IDS)
    (root / "missing" / "exercises" / "column_projection" / "task.py").unlink()
    return root


def _digest(report: GradeReport) -> list[Any]:
    """What must be the same, graded here or on a worker."""
    return [
        report.submission,
        report.seed,
        report.dialect,
        list(report.warnings),
        [
            (e.id, e.score, e.outcome, e.error, [(c.name, c.passed, c.points) for c in e.checks])
            for e in report.exercises
        ],
    ]


@pytest.fixture(scope="module")
def local_class(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> tuple[Path, Path]:
    """The class, and its results of a local grade-all with `SEED`."""
    base = tmp_path_factory.mktemp("celery-class")
    root = _class(base / "class", catalog)
    grade_all(root, base / "local", catalog, IDS, options=GradeOptions(seed=SEED), jobs=2)
    return root, base / "local"


def _plan(root: Path, out: Path, catalog: Catalog) -> Any:
    return plan_grade_all(
        root, out, catalog, IDS, options=GradeOptions(seed=SEED), gradebook=str(out / DEFAULT_FILE)
    )


def test_two_workers_grade_the_class_as_a_local_run(
    broker: str, queue: str, local_class: tuple[Path, Path], catalog: Catalog, tmp_path: Path
) -> None:
    root, local = local_class
    out = tmp_path / "results"
    events: list[str] = []
    with ExitStack() as workers:
        for name in ("w1", "w2"):
            workers.enter_context(running_worker(broker, queue, catalog.root, tmp_path, name))
        report = run_grade_all_on_workers(
            _plan(root, out, catalog),
            broker,
            queue=queue,
            progress=lambda o: events.append(o.student),
        )
    students = sorted(p.name for p in root.iterdir())
    assert sorted(o.student for o in report.outcomes) == students
    assert (report.graded, len(report.failures), report.interrupted) == (6, 0, False)
    assert sorted(events) == sorted([".reference", *students])
    for student in students:
        mine = read_results(out / f"{student}.json")
        assert _digest(mine) == _digest(read_results(local / f"{student}.json")), student
        assert (out / FINGERPRINT_DIR / f"{student}.sha256").read_text() == (
            local / FINGERPRINT_DIR / f"{student}.sha256"
        ).read_text()
    assert _digest(read_results(out / REFERENCE_FILE)) == _digest(
        read_results(local / REFERENCE_FILE)
    )
    missing = read_results(out / "missing.json").exercise("column_projection")
    assert str(root / "missing") in (
        missing.error or ""
    )  # the student's own path, not the worker's
    with Gradebook.open(out / DEFAULT_FILE) as book:
        assert book.students() == students
    # Run again: nothing changed, nothing is sent.
    again = run_grade_all_on_workers(_plan(root, out, catalog), broker, queue=queue)
    assert (again.graded, again.unchanged) == (0, 6)


def test_a_worker_killed_mid_run_and_the_class_still_completes(
    broker: str, queue: str, catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "class"
    marker = tmp_path / "wait-while-this-exists"
    marker.touch()
    line = PidLine()
    make_student(root, "a-waiting", catalog, solved=IDS, sources={
        "filter_limit": WAITING.format(marker=str(marker), port=line.port)
    })  # fmt: skip
    for name in ("b", "c"):
        make_student(root, name, catalog, solved=IDS)
    out = tmp_path / "results"
    plan = plan_grade_all(root, out, catalog, IDS, options=GradeOptions(seed=SEED), reference=False)
    finished: list[BulkReport] = []
    coordinator = threading.Thread(
        target=lambda: finished.append(run_grade_all_on_workers(plan, broker, queue=queue))
    )
    with running_worker(broker, queue, catalog.root, tmp_path, "doomed") as doomed:
        coordinator.start()
        try:
            waiting_pid = line.pids.get(timeout=120)
        except queue_module.Empty:
            pytest.fail(doomed.log.read_text(errors="replace"))
        doomed.kill()  # in the middle of a-waiting, its task not acknowledged
    line.close()
    marker.unlink()
    with running_worker(broker, queue, catalog.root, tmp_path, "rescuer"):
        # Redis gives the task back once its visibility timeout has passed (a scan
        # every VISIBILITY / 4 s), not at kombu's default scan every 100 s.
        coordinator.join(VISIBILITY + 60)
        assert not coordinator.is_alive(), "the class did not complete"
    report = finished[0]
    assert (report.graded, len(report.failures)) == (3, 0)
    scores = {s: read_results(out / f"{s}.json").score for s in ("a-waiting", "b", "c")}
    assert scores["a-waiting"] == scores["b"] == scores["c"] == 20
    deadline = time.monotonic() + 10
    while Path(f"/proc/{waiting_pid}").exists():
        assert time.monotonic() < deadline, "the killed worker's submission was left running"
        time.sleep(0.1)


@pytest.mark.parametrize(("timeout", "interval"), [(VISIBILITY, 2.0), (1800, 10.0), (2, 1.0)])
def test_a_redis_worker_looks_for_tasks_past_their_timeout_on_every_tick(
    timeout: float, interval: float
) -> None:
    options = transport_options(timeout)
    assert options == {
        "visibility_timeout": timeout,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": 1,
    }
    app = make_app("redis://127.0.0.1:6379/0", visibility_timeout=timeout)
    assert app.conf.broker_transport_options == options


def test_a_worker_with_another_catalog_is_refused(
    broker: str, queue: str, catalog: Catalog, tmp_path: Path
) -> None:
    other = tmp_path / "other-catalog"
    for exercise_id in IDS:
        shutil.copytree(catalog.exercises_dir / exercise_id, other / "exercises" / exercise_id)
    spec = other / "exercises" / "filter_limit" / "spec.toml"
    spec.write_text(spec.read_text().replace("limit = 10", "limit = 11"))
    root = tmp_path / "class"
    make_student(root, "alice", catalog, solved=IDS)
    out = tmp_path / "results"
    command = [
        sys.executable, "-m", "grader", "grade-all", str(root), *IDS, "--out", str(out),
        "--no-reference", "--seed", str(SEED), "--catalog", str(catalog.root),
        "--broker", broker, "--queue", queue,
    ]  # fmt: skip
    with running_worker(broker, queue, other, tmp_path, "stale") as stale:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    expected = CATALOG_DIFFERS.format(
        worker=stale.name,
        expected=grading_fingerprint(catalog, catalog.select(IDS)),
        actual=grading_fingerprint(Catalog(other), Catalog(other).select(IDS)),
    )
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert f"alice: FAILED ({expected})" in done.stdout + done.stderr
    assert "graded 0 · unchanged 0 · failed 1" in done.stdout
    assert not (out / "alice.json").exists()


def test_a_duplicate_result_never_counts_twice(
    local_class: tuple[Path, Path], catalog: Catalog, tmp_path: Path
) -> None:
    root, local = local_class
    plan = _plan(root, tmp_path / "results", catalog)
    task = next(t for t in plan.tasks if t.student.id == "mixed")
    collector = ResultCollector(plan, "run-1")
    text = to_json(read_results(local / "mixed.json"))
    result = {"status": TaskStatus.GRADED, "run_id": "run-1", "student": "mixed", "results": text}
    first = collector.accept(task, result, 1.0)
    written = task.results_path.stat().st_mtime_ns
    assert first is not None and first.status is StudentStatus.GRADED
    assert collector.accept(task, result, 2.0) is None
    assert collector.duplicates == 1
    assert task.results_path.stat().st_mtime_ns == written
    other = next(t for t in plan.tasks if t.student.id == "starter")
    foreign = {**result, "run_id": "run-0", "student": "starter"}
    refused = collector.accept(other, foreign, 1.0)
    assert refused is not None and refused.status is StudentStatus.FAILED
    assert "another run" in (refused.error or "")
    assert not other.results_path.exists()


def test_a_submission_whose_worker_process_dies_every_time_is_given_up(
    broker: str, queue: str, catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "class"
    line = PidLine(on_pid=kill_grading_worker)
    make_student(
        root, "killer", catalog, solved=IDS, sources={"filter_limit": DOOMED.format(port=line.port)}
    )
    make_student(root, "quiet", catalog, solved=IDS)
    out = tmp_path / "results"
    plan = plan_grade_all(root, out, catalog, IDS, options=GradeOptions(seed=SEED), reference=False)
    with running_worker(broker, queue, catalog.root, tmp_path, "victim") as victim:
        report = run_grade_all_on_workers(plan, broker, queue=queue)
        assert victim.process.poll() is None  # the worker itself lives on
    line.close()
    assert line.pids.qsize() >= MAX_ATTEMPTS  # a broker may deliver once more meanwhile
    killer = next(o for o in report.outcomes if o.student == "killer")
    assert killer.status is StudentStatus.FAILED
    assert killer.error == GIVEN_UP.format(deaths=MAX_ATTEMPTS)
    assert read_results(out / "quiet.json").score == 20
    assert not (out / "killer.json").exists()
