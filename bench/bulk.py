"""grade-all throughput: a small generated class, graded with 1 and with 2 workers.

Builds a class of N students under a temporary folder from the catalog's
exercises/ and solutions/ (reference, starter and mixed copies in turn),
warms the dataset templates up, then times ``grade_all`` with ``-j 1`` and
``-j 2`` into fresh results folders, and a second ``-j 2`` run over the same
folder (every student unchanged: nothing is graded). Prints students per
minute and the speed-up of the second worker.

    python bench/bulk.py [--students N] [--exercise ID ...] [--seed S]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.classbook.bulk import BulkReport, grade_all  # noqa: E402
from grader.course.catalog import Catalog  # noqa: E402
from grader.grading.runner import GradeOptions, grade  # noqa: E402

DEFAULT_EXERCISES = ("filter_limit", "eager_loading", "column_projection")
KINDS = ("reference", "starter", "mixed")


def build_class(root: Path, catalog: Catalog, ids: list[str], students: int) -> None:
    """``students`` repositories: reference, starter and mixed copies in turn."""
    for number in range(students):
        kind = KINDS[number % len(KINDS)]
        repository = root / f"{kind}-{number:03d}"
        for position, exercise_id in enumerate(ids):
            folder = repository / "exercises" / exercise_id
            shutil.copytree(catalog.exercises_dir / exercise_id, folder)
            solved = kind == "reference" or (kind == "mixed" and position % 2 == 0)
            if solved:
                shutil.copyfile(catalog.solutions_dir / exercise_id / "task.py", folder / "task.py")


def run(
    label: str, root: Path, out: Path, catalog: Catalog, ids: list[str], seed: int, jobs: int
) -> BulkReport:
    """Time one grade-all and print its figures."""
    started = time.perf_counter()
    report = grade_all(
        root,
        out,
        catalog,
        ids,
        options=GradeOptions(seed=seed),
        jobs=jobs,
        reference=False,
        gradebook=None,
    )
    seconds = time.perf_counter() - started
    graded = report.graded
    rate = 60 * graded / seconds if graded else 0.0
    print(
        f"  {label:<26} {seconds:6.1f} s · graded {graded:>3} · unchanged {report.unchanged:>3} · "
        f"failed {len(report.failures)} · {rate:5.1f} students/min"
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--exercise", action="append", dest="exercises", default=None)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    catalog = Catalog(ROOT)
    ids = list(args.exercises or DEFAULT_EXERCISES)

    work = Path(tempfile.mkdtemp(prefix="ormgrade-bench-bulk-"))
    try:
        root = work / "class"
        build_class(root, catalog, ids, args.students)
        print(
            f"{args.students} students × {len(ids)} exercises ({', '.join(ids)}) · "
            f"{os.cpu_count()} cores · load average {os.getloadavg()[0]:.1f}"
        )
        started = time.perf_counter()
        grade(catalog.solutions_dir, catalog, ids, GradeOptions(seed=args.seed))
        print(f"  {'warm-up (templates)':<26} {time.perf_counter() - started:6.1f} s")
        one = run("-j 1", root, work / "out-1", catalog, ids, args.seed, 1)
        two = run("-j 2", root, work / "out-2", catalog, ids, args.seed, 2)
        run("-j 2 again (unchanged)", root, work / "out-2", catalog, ids, args.seed, 2)
        print(f"speed-up of the second worker: {one.seconds / two.seconds:.2f}×")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
