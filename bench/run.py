"""ormgrade benchmarks: where grading time goes, and the teaching evidence.

Prints tables; every comparison is a ratio taken in the same run. Usage:

    python bench/run.py            # every section at full size
    python bench/run.py --quick    # smaller sizes, about a minute
    python bench/run.py --section capture --section teaching
    python bench/run.py --teaching filter_limit   # one exercise's evidence

Sections: grading (catalog grading time per exercise and dialect, broken into
phases), capture (overhead of recording), dataset (build rate against raw
executemany, copy cost), teaching (starter against reference solution at bench
size), scale (grading time against dataset size; a class graded in bulk),
sandbox (child-process overhead), dashboard (ingest and render a class),
mutants (mutation analysis), loop (the edit-grade loop: list, --help, grade
filter_limit and the whole catalog as fresh processes; bench/loop.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from grader.authoring.mutation import DEFAULT_SEEDS, analyse  # noqa: E402
from grader.checks.base import describe_difference  # noqa: E402
from grader.course.catalog import Catalog  # noqa: E402
from grader.course.spec import ExerciseSpec  # noqa: E402
from grader.databases import dataset  # noqa: E402
from grader.databases.backend import backend_for  # noqa: E402
from grader.databases.sqlite import SQLiteBackend  # noqa: E402
from grader.domain import Base, User  # noqa: E402
from grader.execution.capture import capture  # noqa: E402
from grader.execution.child import CALL_DATABASES, WARMUP  # noqa: E402
from grader.execution.run import Job, RunRecord  # noqa: E402
from grader.execution.sandbox import run_job  # noqa: E402
from grader.grading.concurrency import run_concurrent, serial_job  # noqa: E402
from grader.grading.runner import TASK_FILE, GradeOptions, _hooks, _params, grade  # noqa: E402

SECTIONS = (
    "grading",
    "capture",
    "dataset",
    "teaching",
    "scale",
    "sandbox",
    "dashboard",
    "mutants",
    "loop",
)


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall-clock seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def table(headers: list[str], rows: Iterable[list[Any]]) -> str:
    """A plain-text table, right-aligned numbers."""
    rows = [[_cell(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
            )
        )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.0f}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(".", "", 1).replace("x", "").replace("%", "").replace("-", "").isdigit()


# -- grading ------------------------------------------------------------------------


PHASES = ("copy", "oracle", "submission", "explain", "checks", "child_overhead")


def _phase(timing: dict[str, float], name: str) -> float:
    """Seconds of one phase: runs of a role are summed over their purposes."""
    if name in ("oracle", "submission"):
        return sum(v for k, v in timing.items() if k.startswith(name + "_"))
    return timing.get(name, 0.0)


def section_grading(catalog: Catalog, quick: bool, dialects: list[str]) -> None:
    print("## 1. Grading time: whole catalog, reference solutions, per dialect\n")
    print(
        "Per exercise: wall-clock seconds, then seconds spent in each phase summed over\n"
        "the exercise's runs (runs of one exercise overlap on the two cores, so phases\n"
        "can add up to more than the wall clock). `bare` is the starter's and the\n"
        "solution's own calls; `x bare` compares the wall clock with it.\n"
    )
    summary = []
    for dialect in dialects:
        url = None if dialect == "sqlite" else dialect
        # Build the seeded templates first: a course grades many submissions per seed.
        # (--quick skips that and times the first grading, templates included.)
        if not quick:
            grade(catalog.solutions_dir, catalog, (), GradeOptions(seed=1234, db_url=url))
        started = time.perf_counter()
        report = grade(catalog.solutions_dir, catalog, (), GradeOptions(seed=1234, db_url=url))
        total = time.perf_counter() - started
        rows = []
        bare_total = 0.0
        for e in report.exercises:
            timing = e.stats.get("timing", {})
            bare = timing.get("oracle_main", 0.0) + timing.get("submission_main", 0.0)
            bare_total += bare
            rows.append(
                [e.id, f"{e.score}/{e.max_score}", e.duration]
                + [_phase(timing, p) for p in PHASES]
                + [bare]
            )
        durations = sorted(e.duration for e in report.exercises)
        median = statistics.median(durations)
        print(f"### {report.dialect}\n")
        print(table(["exercise", "score", "wall s", *PHASES, "bare s"], rows))
        print(
            f"\nwhole catalog: {total:.2f} s for {len(report.exercises)} exercises "
            f"(median exercise {median:.2f} s; bare calls {bare_total:.2f} s, "
            f"grading = {total / max(bare_total, 1e-9):.1f}x bare)\n"
        )
        summary.append([report.dialect, total, median, bare_total])
    print(table(["dialect", "catalog s", "median exercise s", "bare calls s"], summary))
    print("\ntargets (SQLite, 2 cores): catalog ≤ 15 s, median exercise ≤ 0.5 s, ≤ 2x bare\n")


# -- capture overhead -----------------------------------------------------------------


def _overhead(url: str, queries: int, repeat: int) -> list[Any]:
    """One row of the capture table: the same workload bare and captured on ``url``."""
    engine = create_engine(url)

    def workload() -> None:
        with Session(engine) as session:
            for i in range(queries):
                session.execute(select(User.id, User.name).where(User.id == 1 + i % 300)).all()

    def captured() -> None:
        with capture(engine):
            workload()

    workload()
    captured()
    # Interleave the two so that machine noise hits both alike; the best of
    # several runs is the least disturbed one.
    bare, recorded = [], []
    for _ in range(repeat):
        bare.append(median_time(workload, 1))
        recorded.append(median_time(captured, 1))
    engine.dispose()
    b, r = min(bare), min(recorded)
    per_query = (r - b) / queries * 1e6
    name = make_url(url).get_backend_name()
    return [name, queries, b, r, f"{(r / b - 1) * 100:.1f}%", f"{per_query:.1f}"]


def section_capture(quick: bool, dialects: list[str]) -> None:
    print("## 2. Capture overhead: the same 1,000-query workload with and without capture\n")
    queries = 300 if quick else 1000
    repeat = 5 if quick else 15
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for dialect in dialects:
            if dialect == "sqlite":
                url = f"sqlite:///{folder}/db.sqlite"
                engine = create_engine(url)
                dataset.build(engine, dataset.SIZES["small"], 1)
                engine.dispose()
                rows.append(_overhead(url, queries, repeat))
                continue
            backend = backend_for(dialect)
            try:
                copy = backend.copy(backend.template(dataset.SIZES["small"], 1))
                try:
                    rows.append(_overhead(copy, queries, repeat))
                finally:
                    backend.drop(copy)
            finally:
                backend.close()
    print(
        table(
            ["dialect", "queries", "bare s", "captured s", "overhead", "µs per query"],
            rows,
        )
    )
    print(
        "\nworkload: select two columns of one user by primary key, 1,000 times (best of "
        f"{repeat}).\ntarget: ≤ 5 % overhead\n"
    )


# -- dataset ----------------------------------------------------------------------


def section_dataset(quick: bool) -> None:
    print("## 3. Dataset build: our generator against raw executemany, and the per-run copy\n")
    size = dataset.SIZES["medium" if quick else "large"]
    rows = dataset.generate(size, 1)
    count = sum(len(v) for v in rows.values())
    with tempfile.TemporaryDirectory() as folder:

        def ours() -> None:
            path = Path(folder) / "ours.sqlite"
            path.unlink(missing_ok=True)
            engine = create_engine(f"sqlite:///{path}")
            with engine.begin() as conn:
                Base.metadata.create_all(conn)
                dataset.load(conn, rows, Base.metadata)
            engine.dispose()

        def raw() -> None:
            path = Path(folder) / "raw.sqlite"
            path.unlink(missing_ok=True)
            engine = create_engine(f"sqlite:///{path}")
            Base.metadata.create_all(engine)
            engine.dispose()
            conn = sqlite3.connect(path)
            for table_ in Base.metadata.sorted_tables:
                data = rows.get(table_.name) or []
                if not data:
                    continue
                columns = list(data[0])
                sql = (
                    f"INSERT INTO {table_.name} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})"
                )
                conn.executemany(sql, [tuple(r[c] for c in columns) for r in data])
            conn.commit()
            conn.close()

        repeat = 3
        ours_s, raw_s = [], []
        for _ in range(repeat):
            ours_s.append(median_time(ours, 1))
            raw_s.append(median_time(raw, 1))
        o, r = statistics.median(ours_s), statistics.median(raw_s)
        generate_s = median_time(lambda: dataset.generate(size, 2), 1)

        backend = SQLiteBackend(cache_dir=Path(folder) / "cache", work_dir=Path(folder) / "work")
        template = backend.template(dataset.SIZES["small"], 1)
        copies = []
        for _ in range(20):
            started = time.perf_counter()
            url = backend.copy(template)
            copies.append(time.perf_counter() - started)
            backend.drop(url)
        backend.close()
    print(
        table(
            ["what", "rows", "seconds", "rows/s", "vs raw"],
            [
                [f"generate rows ({size.name})", count, generate_s, count / generate_s, ""],
                [f"load, ours ({size.name})", count, o, count / o, f"{r / o * 100:.0f}%"],
                [f"load, raw sqlite3 executemany ({size.name})", count, r, count / r, "100%"],
            ],
        )
    )
    print(
        "\nper-run copy of the grading template (small): "
        f"median {statistics.median(copies) * 1000:.1f} ms"
        " (target ≤ 20 ms); load rate target ≥ 50 % of raw\n"
    )


# -- teaching evidence ------------------------------------------------------------------


def bench_job(
    spec: ExerciseSpec,
    module: Path,
    url: str,
    params: dict[str, Any],
    workdir: str,
    memory: bool,
    warmup: str | None = None,
) -> Job:
    roles = ("main", *CALL_DATABASES.get(spec.call, ()))
    databases = {name: url for name in roles}
    if warmup is not None:
        databases.update({WARMUP + name: warmup for name in roles})
    return Job(
        exercise_id=spec.id,
        role="bench",
        purpose="memory" if memory else "main",
        module_path=str(module),
        entry=spec.entry,
        call=spec.call,
        # A call style that hands over a second database (the replica) gets the same
        # file again: the bench times the calls, it does not judge the routing. The
        # call first runs once, untimed, on a copy of its own (``warmup``).
        databases=databases,
        params=params,
        hooks_path=str(spec.hooks_path) if spec.hooks_path else None,
        measure_memory=memory,
        options=dict(spec.options),
        workdir=workdir,
    )


def measure(
    spec: ExerciseSpec,
    module: Path,
    backend: Any,
    template: Any,
    params: dict[str, Any],
    repeat: int,
) -> dict[str, Any]:
    """Time (median), queries, rows fetched and peak memory of one version of an exercise.

    Each run is a child process, as in grading: what one version declares (an
    index on a shared model) never leaks into the next. The timed call is warm:
    the child first makes the same call on a copy of its own, untimed, so that
    compiling statements and loading modules are not what is compared.
    """
    times: list[float] = []
    last: RunRecord | None = None
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(repeat):
            url, warm = backend.copy(template), backend.copy(template)
            try:
                last = run_job(
                    bench_job(spec, module, url, params, workdir, memory=False, warmup=warm),
                    600,
                    4096,
                )
            finally:
                backend.drop(url)
                backend.drop(warm)
            if last.failure is not None:
                return {"error": last.failure.message}
            times.append(last.duration)
        url = backend.copy(template)
        try:
            mem = run_job(bench_job(spec, module, url, params, workdir, memory=True), 600, 4096)
        finally:
            backend.drop(url)
    assert last is not None
    fetched = sum(s.rows_fetched or 0 for s in last.log.statements)
    return {
        "seconds": statistics.median(times),
        "queries": len(last.log),
        "rows": fetched,
        "peak_mib": (mem.peak_memory or 0) / 2**20,
    }


def concurrent_evidence(
    spec: ExerciseSpec,
    module: Path,
    oracle: Path,
    backend: Any,
    template: Any,
    params: dict[str, Any],
    hooks: Any,
    repeat: int,
) -> list[str]:
    """How often a concurrent run (as graded) ends away from the serial state, and how far.

    The workers and calls are the spec's; each run is a fresh copy. The figure
    is the first difference from the starter's calls made one after another.
    """
    with tempfile.TemporaryDirectory() as workdir:

        def make_job(role: str, purpose: str, url: str) -> Job:
            path = oracle if role == "oracle" else module
            job = bench_job(spec, path, url, params, workdir, memory=False)
            return replace(job, role=role, purpose=purpose)

        def run(job: Job) -> RunRecord:
            return run_job(job, 600, 4096)

        serial: RunRecord | None = None

        def serial_run() -> RunRecord:
            nonlocal serial
            if serial is None:
                url = backend.copy(template)
                try:
                    serial = run(serial_job(spec, make_job("oracle", "serial", url)))
                finally:
                    backend.drop(url)
            return serial

        differing, first, seconds = 0, "", []
        for _ in range(repeat):
            started = time.perf_counter()
            outcome = run_concurrent(
                spec,
                copy=lambda: backend.copy(template),
                drop=backend.drop,
                make_job=make_job,
                run=run,
                snapshot=hooks.snapshot,
                serial=serial_run,
            )
            seconds.append(time.perf_counter() - started)
            if outcome.failed:
                failure = outcome.failed[0].failure
                return [f"error: {failure.message if failure else '?'}", "", ""]
            if outcome.state != outcome.serial.snapshot:
                differing += 1
                first = first or describe_difference(outcome.serial.snapshot, outcome.state)
    return [
        f"{differing} of {repeat}",
        first or "none",
        f"{statistics.median(seconds):.2f}",
    ]


def section_teaching(catalog: Catalog, quick: bool, ids: list[str], dialects: list[str]) -> None:
    if any(spec.kind == "query" for spec in catalog.select(ids)):
        for dialect in dialects:
            teaching_on(catalog, quick, ids, None if dialect == "sqlite" else dialect)
    # Migration exercises that grade their locks: the application's writes during the upgrade.
    locking = [
        spec.id
        for spec in catalog.select(ids)
        if spec.kind == "migration"
        and any(c.kind == "lock_feedback" and c.options.get("table") for c in spec.checks)
    ]
    if locking:
        import locks

        rows = 20_000 if quick else 200_000
        print(f"## 4. Teaching evidence of {', '.join(locking)}: locks during a backfill\n")
        found = []
        for dialect in dialects:
            found += locks.evidence(None if dialect == "sqlite" else dialect, rows)
        print(f"Application writes during a migration of {rows:,} rows (one run):\n")
        print(locks.table(found))
        print()


def teaching_on(catalog: Catalog, quick: bool, ids: list[str], url: str | None) -> None:
    rows = []
    concurrent: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder:
        backend: Any = (
            SQLiteBackend(cache_dir=Path(folder) / "cache", work_dir=Path(folder) / "work")
            if url is None
            else backend_for(url)
        )
        print(
            "## 4. Teaching evidence: starter against reference solution at bench size "
            f"({backend.dialect})\n"
        )
        for spec in catalog.select(ids):
            if spec.kind != "query":
                continue
            if not spec.runs_on(backend.dialect):
                print(f"skipped: {spec.not_on(backend.dialect)}\n")
                continue
            size_name = spec.options.get("bench_dataset", "large")
            if quick:
                size_name = "small"
            size = dataset.size_named(size_name)
            hooks = _hooks(spec)
            template = backend.template(size, 1, getattr(hooks, "METADATA", None))
            params = _params(spec, hooks, template, 1)
            repeat = 1 if quick else 5
            starter = measure(
                spec, catalog.exercises_dir / spec.id / TASK_FILE, backend, template, params, repeat
            )
            solution = measure(
                spec, catalog.solutions_dir / spec.id / TASK_FILE, backend, template, params, repeat
            )
            if "workers" in spec.options:
                oracle = catalog.exercises_dir / spec.id / TASK_FILE
                shape = f"{spec.options['workers']} × {spec.options.get('calls_per_worker')}"
                for version, folder in (
                    ("starter", catalog.exercises_dir),
                    ("solution", catalog.solutions_dir),
                ):
                    figures = concurrent_evidence(
                        spec, folder / spec.id / TASK_FILE, oracle, backend, template,
                        params, hooks, repeat,
                    )  # fmt: skip
                    concurrent.append([spec.id, version, shape, *figures])
            if "error" in starter or "error" in solution:
                rows.append(
                    [
                        spec.id,
                        size.name,
                        starter.get("error", ""),
                        solution.get("error", ""),
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                continue
            rows.append(
                [
                    spec.id,
                    size.name,
                    f"{starter['seconds'] * 1000:.1f} / {solution['seconds'] * 1000:.1f}",
                    f"{starter['seconds'] / max(solution['seconds'], 1e-9):.1f}x",
                    f"{starter['queries']} / {solution['queries']}",
                    f"{starter['rows']} / {solution['rows']}",
                    f"{starter['peak_mib']:.1f} / {solution['peak_mib']:.1f}",
                    f"{starter['peak_mib'] / max(solution['peak_mib'], 1e-9):.1f}x",
                ]
            )
        backend.close()
    print(
        table(
            [
                "exercise",
                "size",
                "ms starter / solution",
                "speed-up",
                "queries",
                "rows fetched",
                "peak MiB",
                "memory ratio",
            ],
            rows,
        )
    )
    print(
        "\ntargets: N+1 fix ≥ 5x, index lookup ≥ 10x, export peak memory ≤ 1/10, "
        "bulk insert ≥ 10x\n"
    )
    if concurrent:
        print(
            "Concurrent runs as graded (the spec's workers × calls on one database): how many "
            "runs ended away from the same calls made one after another, the first difference "
            "seen, and the median wall time of a run (workers start 1.5 s after launch).\n"
        )
        print(
            table(
                ["exercise", "version", "workers × calls", "runs off", "first difference", "s"],
                concurrent,
            )
        )
        print()


# -- scale ------------------------------------------------------------------------


SCALE_EXERCISES = ("filter_limit", "eager_loading", "aggregate_report")


def _catalog_at_size(catalog: Catalog, folder: Path, size: str) -> Catalog:
    """A copy of a few exercises of ``catalog`` whose specs grade on ``size``."""
    import re

    for exercise_id in SCALE_EXERCISES:
        source = catalog.exercises_dir / exercise_id
        target = folder / "exercises" / exercise_id
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        spec = target / "spec.toml"
        text = re.sub(r"^dataset = .*$", f'dataset = "{size}"', spec.read_text(), flags=re.M)
        text = re.sub(r"^scaled_dataset = .*$", 'scaled_dataset = "large"', text, flags=re.M)
        spec.write_text(text)
    shutil.copytree(catalog.solutions_dir, folder / "solutions")
    return Catalog(folder)


def section_scale(catalog: Catalog, quick: bool) -> None:
    print("## 5. Scale: grading time against dataset size, and a class graded in bulk\n")
    sizes = ["tiny", "small"] if quick else ["tiny", "small", "medium"]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            sized = _catalog_at_size(catalog, Path(folder), size)
            options = GradeOptions(seed=77)
            if not quick:
                grade(sized.solutions_dir, sized, SCALE_EXERCISES, options)  # templates
            started = time.perf_counter()
            report = grade(sized.solutions_dir, sized, SCALE_EXERCISES, options)
            elapsed = time.perf_counter() - started
        d = dataset.size_named(size)
        rows.append(
            [size, d.users, d.tasks, elapsed]
            + [e.duration for e in report.exercises]
            + [f"{report.score}/{report.max_score}"]
        )
    print(table(["size", "users", "tasks", "total s", *SCALE_EXERCISES, "score"], rows))
    print("\n(no_n_plus_one always grades a second run on the large size)\n")
    students = "6" if quick else "100"
    _script("bulk.py", "--students", students)


def _script(name: str, *args: str) -> None:
    """Run another bench script of this folder and show its output."""
    import subprocess

    print(f"$ python bench/{name} {' '.join(args)}\n")
    subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], check=False)
    print()


def section_mutants(catalog: Catalog, quick: bool, dialects: list[str]) -> None:
    print("## 8. Mutation analysis: mutants of each reference, per dialect\n")
    print(
        "Each mutant (a dropped predicate, a flipped comparison, a swapped join …) is\n"
        "graded like a submission until a seed costs it a point. `equivalent` are\n"
        "survivors the spec declares equivalent (with a reason); `surviving` must be 0.\n"
    )
    seeds = DEFAULT_SEEDS[:1] if quick else DEFAULT_SEEDS
    for dialect in dialects:
        url = None if dialect == "sqlite" else dialect
        started = time.perf_counter()
        report = analyse(catalog, seeds=seeds, db_url=url)
        seconds = time.perf_counter() - started
        print(f"### {report.dialect} (seeds {', '.join(map(str, seeds))}, {seconds:.0f} s)\n")
        rows = [
            [e.exercise_id, e.made, e.killed, e.equivalent, len(e.surviving)]
            for e in report.exercises
        ]
        totals = [sum(r[i] for r in rows) for i in range(1, 5)]
        rows.append(["**total**", *totals])
        print(table(["exercise", "made", "killed", "equivalent", "surviving"], rows))
        print()


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: the whole run in about a minute"
    )
    parser.add_argument(
        "--section", action="append", choices=SECTIONS, help="run only these sections"
    )
    parser.add_argument(
        "--teaching", nargs="*", metavar="ID", help="teaching evidence for these exercises only"
    )
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        metavar="URL",
        help="also grade the catalog on this server (PostgreSQL or MariaDB URL)",
    )
    args = parser.parse_args(argv)
    sections = args.section or (["teaching"] if args.teaching is not None else list(SECTIONS))
    catalog = Catalog(ROOT)
    os.environ.setdefault("ORMGRADE_CACHE", tempfile.mkdtemp(prefix="ormgrade-bench-cache-"))
    print(f"# ormgrade bench ({'quick' if args.quick else 'full'})\n\nmachine: {machine()}\n")
    started = time.perf_counter()
    if "grading" in sections:
        section_grading(catalog, args.quick, ["sqlite", *args.db])
    if "capture" in sections:
        section_capture(args.quick, ["sqlite", *args.db])
    if "dataset" in sections:
        section_dataset(args.quick)
    if "teaching" in sections:
        section_teaching(catalog, args.quick, args.teaching or [], ["sqlite", *args.db])
    if "scale" in sections:
        section_scale(catalog, args.quick)
    if "sandbox" in sections:
        print("## 6. Child process overhead per run\n")
        _script("sandbox_overhead.py", "--runs", "5" if args.quick else "20")
    if "dashboard" in sections:
        print("## 7. Dashboard: ingest and render a class\n")
        _script("dashboard.py", "--students", "200" if args.quick else "2000")
    if "mutants" in sections:
        section_mutants(catalog, args.quick, ["sqlite", *args.db])
    if "loop" in sections:
        print("## 9. The edit-grade loop: each command a fresh process\n")
        _script("loop.py", "--repeat", "3" if args.quick else "7")
    print(f"bench finished in {time.perf_counter() - started:.1f} s")
    shutil.rmtree(os.environ["ORMGRADE_CACHE"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
