"""What running an exercise in a child process costs, per run.

Times the same jobs through `grader.execution.sandbox.run_job` (fork from the
forkserver, resource limits, output and result pipes, the guard and the seal)
and through `grader.execution.child.execute` in this process, and prints the medians and
their difference: the per-run overhead of the child process. Three jobs: a
trivial one (returns a constant without touching the database), the
reference solution of filter_limit on a seeded small dataset, and the N+1
starter of eager_loading (some 50 statements: the cost of the child's
per-statement account, the audit hook's, shows there).

    python bench/sandbox_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader.databases.dataset import size_named
from grader.databases.sqlite import SQLiteBackend
from grader.execution.child import execute
from grader.execution.run import Job, RunRecord
from grader.execution.sandbox import run_job

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
    """The trivial job, filter_limit's solution and eager_loading's starter, each on a copy."""
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
        "n_plus_one": Job(
            exercise_id="eager_loading",
            role="oracle",
            purpose="main",
            module_path=str(ROOT / "exercises" / "eager_loading" / "task.py"),
            entry="run",
            call="session",
            databases={"main": backend.copy(template)},
            params={"country": "DE"},
        ),
    }


def _statements(connection: sqlite3.Connection, count: int) -> float:
    started = time.perf_counter()
    for number in range(count):
        connection.execute("SELECT ?", (number,)).fetchall()
    return time.perf_counter() - started


def hook_cost(folder: Path, runs: int, count: int = 2000) -> None:
    """Per-statement cost of the child's account: the guard's trace and the audit hook.

    Installs the hook in this process for good, so it runs last.
    """
    try:
        from grader.execution import audit
        from grader.execution.guard import Guard
    except ImportError:  # a tree without the audit hook
        return
    plain = sqlite3.connect(":memory:")
    bare = statistics.median(_statements(plain, count) for _ in range(runs))
    guard = Guard.install()
    bench = str(Path(__file__).resolve().parent)  # this script opens the recording
    audit.install(
        audit.RunPolicy(run_dir=str(folder), trusted_roots=audit.default_trusted_roots([bench]))
    )
    audit.arm()
    audit.set_phase("call")
    guarded = sqlite3.connect(":memory:")
    with guard.recording(lambda sql: None):
        hooked = statistics.median(_statements(guarded, count) for _ in range(runs))
    extra = (hooked - bare) / count * 1e6
    print(
        f"account per statement: {extra:.1f} µs ({count} statements: {bare:.3f} s bare, "
        f"{hooked:.3f} s traced and counted)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per measurement (default 20)")
    parser.add_argument("--hook-cost", action="store_true", help="only the account's cost")
    arguments = parser.parse_args()
    runs = arguments.runs
    if arguments.hook_cost:
        hook_cost(Path(tempfile.mkdtemp(prefix="ormgrade-bench-")), runs)
        sys.stdout.flush()
        os._exit(0)  # the armed hook would refuse the interpreter's own clean-up
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
        # In a process of its own: the hook cannot be removed once installed.
        subprocess.run([sys.executable, __file__, "--runs", str(runs), "--hook-cost"], check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
