"""grade-all on Celery workers: students per minute with 1 and 2 workers, coordinator overhead.

Builds the class of ``bench/bulk.py`` (reference, starter and mixed copies in
turn), warms the dataset templates up, then grades it

* locally with ``-j 1`` (the baseline),
* on 1 worker, then on 2 workers (``ormgrade worker --concurrency 1`` each,
  started here as processes of their own, on a queue of this run),

each into a fresh results folder, and prints students per minute, the
speed-up of the second worker, and the coordinator's own cost per student:
the CPU time of the process that runs grade-all (the workers' is not in it)
next to that of a local grade-all's parent process, and the wall-clock time
per student on one worker next to ``-j 1``.

    python bench/workers.py [--broker URL] [--students N] [--exercise ID ...] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bulk import DEFAULT_EXERCISES, build_class  # noqa: E402
from grader.classbook.bulk import run_grade_all  # noqa: E402
from grader.classbook.coordinator import run_grade_all_on_workers  # noqa: E402
from grader.classbook.planning import BulkPlan, BulkReport, plan_grade_all  # noqa: E402
from grader.course.catalog import Catalog  # noqa: E402
from grader.grading.runner import GradeOptions, grade  # noqa: E402


def start_worker(broker: str, queue: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    """An ``ormgrade worker`` of one process, ready to take tasks."""
    command = [
        sys.executable, "-m", "grader", "worker", "--broker", broker, "--queue", queue,
        "--catalog", str(ROOT), "--concurrency", "1", "--name", f"{name}-{queue}@bench",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while b"ormgrade worker" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker {name} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)
    time.sleep(2)  # connected and consuming
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker and everything it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def timed(label: str, students: int, run: Callable[[], BulkReport]) -> tuple[float, float]:
    """Run one grade-all; print and return its wall-clock and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    report = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rate = 60 * report.graded / wall if report.graded else 0.0
    print(
        f"  {label:<12} {wall:6.1f} s · graded {report.graded:>3} · failed "
        f"{len(report.failures)} · {rate:5.1f} students/min · this process "
        f"{1000 * cpu / students:6.1f} ms CPU per student"
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--exercise", action="append", dest="exercises", default=None)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    catalog = Catalog(ROOT)
    ids = list(args.exercises or DEFAULT_EXERCISES)
    queue = f"ormgrade-bench-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="ormgrade-bench-workers-"))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        root = work / "class"
        build_class(root, catalog, ids, args.students)
        print(
            f"{args.students} students × {len(ids)} exercises ({', '.join(ids)}) · broker "
            f"{args.broker} · {os.cpu_count()} cores · load average {os.getloadavg()[0]:.1f}"
        )
        grade(catalog.solutions_dir, catalog, ids, GradeOptions(seed=args.seed))

        def plan(out: str) -> BulkPlan:
            return plan_grade_all(
                root, work / out, catalog, ids, options=GradeOptions(seed=args.seed),
                reference=False, gradebook=None,
            )  # fmt: skip

        n = args.students
        local_wall, local_cpu = timed("local -j 1", n, lambda: run_grade_all(plan("local"), 1))
        workers.append(start_worker(args.broker, queue, "w1", work / "w1.log"))
        one_wall, one_cpu = timed(
            "1 worker", n, lambda: run_grade_all_on_workers(plan("one"), args.broker, queue=queue)
        )
        workers.append(start_worker(args.broker, queue, "w2", work / "w2.log"))
        two_wall, _ = timed(
            "2 workers", n, lambda: run_grade_all_on_workers(plan("two"), args.broker, queue=queue)
        )
        # Once more at the end: the first run of the process may pay for what later ones reuse.
        again_wall, again_cpu = timed(
            "local again", n, lambda: run_grade_all(plan("local-again"), 1)
        )
        local_wall, local_cpu = min((local_wall, local_cpu), (again_wall, again_cpu))
        print(f"speed-up of the second worker: {one_wall / two_wall:.2f}×")
        print(
            f"coordinator's own CPU per student: {1000 * one_cpu / n:.1f} ms "
            f"(a local grade-all's parent process: {1000 * local_cpu / n:.1f} ms)"
        )
        print(
            f"wall-clock per student: {one_wall / n:.2f} s on 1 worker, {local_wall / n:.2f} s "
            f"local -j 1, the faster of its two runs "
            f"(difference {(one_wall - local_wall) / n * 1000:+.0f} ms)"
        )
    finally:
        for process in workers:
            stop_worker(process)
        _delete_queue(args.broker, queue)
        shutil.rmtree(work, ignore_errors=True)


def _delete_queue(broker: str, queue: str) -> None:
    from kombu import Connection, Queue

    with Connection(broker) as connection:
        Queue(queue, channel=connection.default_channel).delete()
        if broker.startswith("redis"):  # kombu's records of the queue's bindings stay behind
            client = connection.default_channel.client
            for key in client.keys(f"*{queue}*"):
                client.delete(key)


if __name__ == "__main__":
    main()
