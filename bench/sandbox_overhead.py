"""What running an exercise in a child process costs, per run.

Times the same jobs through `grader.sandbox.run_job` (fork from the
forkserver, resource limits, output and result pipes, the guard and the seal)
and through `grader.child.execute` in this process, and prints the medians and
their difference: the per-run overhead of the child process. Two jobs: a
trivial one (returns a constant without touching the database) and the
reference solution of filter_limit on a seeded small dataset.

    python bench/sandbox_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader.child import execute
from grader.database import SQLiteBackend
from grader.dataset import size_named
from grader.run import Job, RunRecord
from grader.sandbox import run_job

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL = "def run(engine):\n    return 1\n"
TIMEOUT, MEMORY_MB = 30.0, 1536
#: What the issue aims at, per exercise run.
TARGET_SECONDS = 0.3


def timed(run: Callable[[], RunRecord], count: int) -> list[float]:
    """Seconds each of ``count`` calls of ``run`` took (each must succeed)."""
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        record = run()
        seconds.append(time.perf_counter() - started)
        if not record.ok:
            raise SystemExit(f"the benchmark job failed: {record.failure}")
    return seconds


def jobs(folder: Path) -> dict[str, Job]:
    """The trivial job and filter_limit's solution, each on its own database."""
    trivial = folder / "trivial.py"
    trivial.write_text(TRIVIAL)
    backend = SQLiteBackend(cache_dir=folder / "cache", work_dir=folder / "runs")
    template = backend.template(size_named("small"), seed=1)
    solution = ROOT / "solutions" / "filter_limit" / "task.py"
    return {
        "trivial": Job(
            exercise_id="bench",
            role="submission",
            purpose="main",
            module_path=str(trivial),
            entry="run",
            call="engine",
            databases={"main": backend.copy(template)},
        ),
        "filter_limit": Job(
            exercise_id="filter_limit",
            role="submission",
            purpose="main",
            module_path=str(solution),
            entry="run",
            call="session",
            databases={"main": backend.copy(template)},
            params={"country": "DE", "limit": 10},
            hooks_path=str(ROOT / "exercises" / "filter_limit" / "grading.py"),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement (default 20)")
    runs = parser.parse_args().runs
    folder = Path(tempfile.mkdtemp(prefix="ormgrade-bench-"))
    try:
        started = time.perf_counter()
        first = jobs(folder)["trivial"]
        run_job(first, TIMEOUT, MEMORY_MB)
        print(f"forkserver start and first run: {time.perf_counter() - started:.3f} s")
        print(f"{'job':<14} {'child (median)':>15} {'in-process':>12} {'overhead':>10}")
        for name, job in jobs(folder).items():
            child = statistics.median(timed(lambda j=job: run_job(j, TIMEOUT, MEMORY_MB), runs))
            local = statistics.median(timed(lambda j=job: execute(j), runs))
            print(f"{name:<14} {child:>13.3f} s {local:>10.3f} s {child - local:>8.3f} s")
        print(f"target: at most {TARGET_SECONDS} s of overhead per exercise run ({runs} runs each)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
