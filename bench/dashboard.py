"""Ingest and render the dashboard for a large synthetic class.

Writes results JSON for N synthetic students (default 2,000) over the
catalog's query exercises, then times what ``ormgrade dashboard`` does with
them: open a fresh gradebook (migrations), ingest the folder, ingest it again
(idempotent: nothing added), read every student's latest grading, and render
the page. The aim is ingest + render within 5 s on the 2-core machine.

    python bench/dashboard.py [--students N] [--seed S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.classbook.dashboard import render, summarize  # noqa: E402
from grader.classbook.gradebook import Gradebook, results_file_name  # noqa: E402
from grader.course.catalog import Catalog  # noqa: E402
from grader.results import (  # noqa: E402
    CheckResult,
    Evidence,
    ExerciseResult,
    GradeReport,
    Outcome,
    to_json,
)

#: The aim of the issue for ingest + render of 2,000 students, in seconds.
TARGET_SECONDS = 5.0
#: Exercises of the synthetic class (query exercises of the catalog, at most this many).
EXERCISES = 6

T = TypeVar("T")


def timed(label: str, step: Callable[[], T], figures: dict[str, float]) -> T:
    """Run ``step``, print and record how long it took (wall clock, and CPU of this process).

    The CPU time tells what the step costs when the machine is shared: the
    wall-clock time includes waiting for a core.
    """
    started, cpu = time.perf_counter(), time.process_time()
    value = step()
    figures[label] = time.perf_counter() - started
    print(f"  {label:<28} {figures[label]:7.2f} s   (CPU {time.process_time() - cpu:5.2f} s)")
    return value


def synthetic_report(
    rng: random.Random, catalog: Catalog, ids: list[str], student: int
) -> GradeReport:
    """One student's results: each check met with a student-specific skill."""
    skill = rng.betavariate(4, 2)
    exercises = []
    for exercise_id in ids:
        spec = catalog.spec(exercise_id)
        if rng.random() < 0.03:
            crashed = tuple(
                CheckResult(c.name, False, 0, c.points, "not judged") for c in spec.checks
            )
            exercises.append(
                ExerciseResult(
                    exercise_id,
                    spec.title,
                    spec.max_score,
                    crashed,
                    Outcome.CRASHED,
                    f"run() raised KeyError: 'user_{student}'",
                )
            )
            continue
        queries = 1 if rng.random() < skill else rng.randint(2, 120)
        checks = []
        for check in spec.checks:
            passed = check.kind == "correct_result" or rng.random() < skill
            checks.append(
                CheckResult(
                    name=check.name,
                    passed=passed,
                    points=check.points if passed else 0,
                    max_points=check.points,
                    message=f"{queries} queries emitted (at most 1 allowed)"
                    if passed
                    else f"{queries} queries emitted; at most 1 allowed",
                    hint="" if passed else check.hint,
                    evidence=()
                    if passed
                    else (
                        Evidence(
                            f"statement ×{queries}",
                            "SELECT tasks.id FROM tasks WHERE tasks.owner_id = ?",
                        ),
                    ),
                )
            )
        exercises.append(
            ExerciseResult(
                exercise_id,
                spec.title,
                spec.max_score,
                tuple(checks),
                stats={"queries": queries, "starter_queries": 29},
            )
        )
    return GradeReport(
        tuple(exercises), "sqlite", 7, submission=f"student-{student:05d}", grader_version="bench"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the results and page here.")
    args = parser.parse_args()

    catalog = Catalog(ROOT)
    ids = [i for i in catalog.ids if catalog.spec(i).kind == "query"][:EXERCISES]
    work = args.keep or Path(tempfile.mkdtemp(prefix="ormgrade-bench-dashboard-"))
    results = work / "results"
    results.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    print(f"{args.students} synthetic students × {len(ids)} exercises ({', '.join(ids)})")
    started = time.perf_counter()
    for number in range(args.students):
        document = synthetic_report(rng, catalog, ids, number)
        (results / results_file_name(f"student-{number:05d}")).write_text(
            to_json(document), encoding="utf-8"
        )
    print(f"  {'write results (setup)':<28} {time.perf_counter() - started:7.2f} s")

    figures: dict[str, float] = {}
    gradebook = work / "gradebook.sqlite"
    gradebook.unlink(missing_ok=True)
    book = timed("open gradebook (migrate)", lambda: Gradebook.open(gradebook), figures)
    ingested = timed("ingest", lambda: book.ingest_directory(results), figures)
    again = timed("ingest again (idempotent)", lambda: book.ingest_directory(results), figures)
    records = timed("read latest gradings", book.latest, figures)
    book.close()
    page = timed("render page", lambda: render(summarize(records)), figures)
    output = work / "dashboard.html"
    timed("write page", lambda: output.write_text(page, encoding="utf-8"), figures)

    assert len(ingested.added) == args.students and not again.added, "ingest is not idempotent"
    total = sum(v for k, v in figures.items() if k != "ingest again (idempotent)")
    load = os.getloadavg()[0]
    verdict = "within" if total <= TARGET_SECONDS else "OVER"
    print(
        f"ingest + render: {total:.2f} s for {args.students} students "
        f"({verdict} the {TARGET_SECONDS:g} s aim) · page {len(page) / 1e6:.1f} MB · "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
