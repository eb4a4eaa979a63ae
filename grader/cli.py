"""The ``ormgrade`` command line: a thin layer over the verbs in the package.

Exit codes: 0 success (full marks for ``grade``), 1 some check not met or the
self-check failed, 2 bad usage or a broken catalog, 3 a grader error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from grader import __version__
from grader.course.catalog import Catalog, discover
from grader.course.schema_page import SCHEMA_PAGE
from grader.databases.cache import (
    DEFAULT_CACHE_MAX_MB,
    cache_entries,
    cache_max_bytes,
    clear_cache,
    default_cache_dir,
)
from grader.errors import OrmgradeError
from grader.results import GradeReport, write_atomic

#: The check reference page a course keeps (see `grader.course.reference`).
CHECKS_PAGE = "docs/checks.md"

# A command imports what it needs when it runs: `ormgrade list` and `--help` must not
# pay for SQLAlchemy, Alembic, nbformat or the grading engine.
if TYPE_CHECKING:
    from grader.authoring.mutation import ExerciseMutation

EXIT_OK, EXIT_NOT_MET, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])

SUBMISSION_HELP = (
    "The submission: a student repository (with exercises/<id>/), a folder of exercise "
    "folders such as solutions/, or one exercise's folder; or a notebook WORK.ipynb (its "
    "exercise by default), or a folder of <id>.ipynb notebooks. Default: the current folder."
)
SEED_HELP = "Dataset seed; the same seed reproduces a run. Default: a fresh random seed."
DB_HELP = (
    "Database URL to grade on (postgresql+psycopg://…, mysql+pymysql://…). Default: the "
    "db of the course repository's ormgrade.toml or [tool.ormgrade] in pyproject.toml, "
    "else a SQLite file per run."
)
CLASSROOM_HELP = (
    "GitHub Classroom step: append result=<base64 JSON> (one test per point) to the file "
    "named by $GITHUB_OUTPUT, print the feedback with workflow commands defused, and exit 0 "
    "unless the grader itself failed."
)
GRADESCOPE_HELP = "Write Gradescope's results.json (one test per check) to this file."
CATALOG_HELP = "The course repository holding exercises/ (default: found automatically)."


def errors_to_messages(fn: F) -> F:
    """Turn ormgrade's own errors into one-line messages and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OrmgradeError as exc:
            click.echo(f"ormgrade: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def _style(text: str, **kwargs: Any) -> str:
    return click.style(text, **kwargs)


def load_catalog(path: Path | None) -> Catalog:
    """The catalog named on the command line, or the one found automatically."""
    return discover(path)


def default_submission() -> Path:
    """The current folder (a student repository holds exercises/ there)."""
    return Path.cwd()


catalog_option = click.option(
    "--catalog", type=click.Path(file_okay=False, path_type=Path), default=None, help=CATALOG_HELP
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ormgrade")
def main() -> None:
    """ormgrade: exercises and an autograder that teach ORM performance."""


@main.command("list")
@click.option("--ids", "ids_only", is_flag=True, help="Print the exercise ids only, one a line.")
@catalog_option
@errors_to_messages
def list_command(ids_only: bool, catalog: Path | None) -> None:
    """List the exercises: id, kind, points and title."""
    cat = load_catalog(catalog)
    for spec in cat.select():
        if ids_only:
            click.echo(spec.id)
        else:
            click.echo(f"{spec.id:<28} {spec.kind:<9} {spec.max_score:>3} pts  {spec.title}")


def _grades_migrations(cat: Any, ids: tuple[str, ...]) -> bool:
    """Whether grading ``ids`` (all when empty) may grade a migration exercise."""
    try:
        return any(spec.kind == "migration" for spec in cat.select(ids))
    except OrmgradeError:  # an unknown id: reported by the grading itself
        return True


@main.command("grade")
@click.argument("ids", nargs=-1)
@click.option(
    "--submission",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help=SUBMISSION_HELP,
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the results JSON here.",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help=SEED_HELP)
@click.option("--db", "db_url", default=None, help=DB_HELP)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Seconds per run (overrides the spec).",
)
@click.option(
    "--memory-mb",
    type=click.IntRange(min=64),
    default=None,
    help="Memory limit per run in MiB (overrides the spec).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Exercises graded side by side (default: 2, at most one per core); "
    "1 grades one at a time. Grades do not depend on it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show evidence for passed checks too.")
@click.option("--classroom", "classroom_mode", is_flag=True, help=CLASSROOM_HELP)
@click.option(
    "--gradescope",
    "gradescope_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=GRADESCOPE_HELP,
)
@catalog_option
@errors_to_messages
def grade_command(
    ids: tuple[str, ...],
    submission: Path | None,
    json_path: Path | None,
    seed: int | None,
    db_url: str | None,
    timeout: float | None,
    memory_mb: int | None,
    jobs: int | None,
    verbose: bool,
    classroom_mode: bool,
    gradescope_path: Path | None,
    catalog: Path | None,
) -> None:
    """Grade a submission on the exercises IDS (default: all of them)."""
    from grader.config_file import resolve_db_url
    from grader.execution.warmup import start_forkserver

    cat = load_catalog(catalog)
    db_url = resolve_db_url(db_url, cat.root)
    # The process runs are forked from starts now, beside the engine's import and the
    # templates, not after them; on SQLite it need not preload the server drivers.
    start_forkserver(
        servers=db_url is not None,
        migrations=_grades_migrations(cat, ids),
    )
    from grader.course.notebook import exercise_of, notebook_ids
    from grader.course.submission import is_notebook_submission
    from grader.grading.runner import GradeOptions, grade
    from grader.report import classroom, gradescope, terminal
    from grader.results import to_json

    classroom_output = classroom.output_file() if classroom_mode else None
    options = GradeOptions(
        seed=seed, db_url=db_url, timeout=timeout, memory_mb=memory_mb, exercise_workers=jobs
    )
    target = submission or default_submission()
    if not ids and target.is_file():
        ids = (exercise_of(target, cat),)
    elif not ids and is_notebook_submission(target):
        # A folder of notebooks: the exercises that have one (not the migrations).
        ids = tuple(notebook_ids(cat))
    click.echo(_style(cat.description, dim=True))

    def progress(result: Any) -> None:
        click.echo(terminal.render_exercise(result, _style, verbose) + "\n")

    report = grade(target, cat, ids, options, progress=None if classroom_mode else progress)
    if gradescope_path is not None:
        gradescope.write_results(report, gradescope_path)
    if classroom_output is not None:
        # The log shows submission output: printed only with workflow commands defused.
        click.echo(classroom.feedback(report), nl=False)
        classroom.write_result(report, classroom_output)
        click.echo(f"Classroom result written to ${classroom.OUTPUT_ENV} ({classroom_output})")
        if json_path is not None:
            write_atomic(json_path, to_json(report))
        # Checks not met are a grade: the Classroom reporter decides what fails.
        sys.exit(EXIT_GRADER if report.grader_errors else EXIT_OK)
    for warning in report.warnings:
        click.echo(terminal.render_warning(warning, _style))
    click.echo(terminal.summary_line(report))
    if json_path is not None:
        write_atomic(json_path, to_json(report))
        click.echo(f"results written to {json_path}")
    if gradescope_path is not None:
        click.echo(f"Gradescope results written to {gradescope_path}")
    sys.exit(exit_code(report))


def exit_code(report: GradeReport) -> int:
    """3 when the grader failed somewhere, 1 below full marks, else 0."""
    if report.grader_errors:
        return EXIT_GRADER
    return EXIT_OK if report.score == report.max_score else EXIT_NOT_MET


@main.command("notebook")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("ids", nargs=-1)
@catalog_option
@errors_to_messages
def notebook_command(out_dir: Path, ids: tuple[str, ...], catalog: Path | None) -> None:
    """Write the exercises IDS (default: all) as Jupyter notebooks OUT_DIR/<id>.ipynb.

    Each notebook holds the task, a setup cell that builds a small local
    database, the starter in the one code cell tagged `solution` (the only
    graded cell) and a cell that grades it inline. Exercises that are more
    than one cell (migrations) are left out with a note.
    """
    from grader.course.notebook import write_notebooks

    cat = load_catalog(catalog)
    batch = write_notebooks(cat, out_dir, ids)
    for path in batch.written:
        click.echo(f"wrote {path}")
    for exercise_id, reason in batch.left_out:
        click.echo(_style(f"left out {exercise_id}: {reason}", fg="yellow"))


@main.command("release")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("ids", nargs=-1)
@catalog_option
@errors_to_messages
def release_command(out_dir: Path, ids: tuple[str, ...], catalog: Path | None) -> None:
    """Write the student template repository for IDS (default: all) into OUT_DIR.

    OUT_DIR must be new or empty. It gets the exercises, the grader, a student
    README, the pytest configuration that grades the copy, the GitHub
    Classroom workflow and the manifest of protected files; never a solution.
    """
    from grader.authoring.release import release

    cat = load_catalog(catalog)
    made = release(cat, out_dir, ids)
    click.echo(
        f"released {len(made.exercises)} exercise(s) to {out_dir}: {len(made.files)} files, "
        f"{len(made.manifest.files)} protected"
    )


@main.command("gradescope-bundle")
@click.argument("out_zip", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ids", nargs=-1)
@catalog_option
@errors_to_messages
def gradescope_bundle_command(out_zip: Path, ids: tuple[str, ...], catalog: Path | None) -> None:
    """Write the Gradescope autograder zip OUT_ZIP for IDS (default: all).

    Upload it as the assignment's autograder: setup.sh installs Python and the
    grader's dependencies, run_autograder grades /autograder/submission into
    /autograder/results/results.json.
    """
    from grader.authoring.release import gradescope_bundle

    cat = load_catalog(catalog)
    bundle = gradescope_bundle(cat, out_zip, ids)
    click.echo(f"wrote {out_zip}: {len(bundle.exercises)} exercise(s), {len(bundle.members)} files")


MUTANTS_HELP = (
    "Mutation analysis instead: grade every mutant of each reference solution "
    "(a dropped predicate, a flipped comparison, a swapped join …) on several seeds."
)
MUTANT_SEEDS_HELP = "With --mutants: a seed to grade mutants on; repeat for several (default: 3)."


@main.command("verify")
@click.argument("ids", nargs=-1)
@click.option("--seed", type=click.IntRange(min=0), default=None, help=SEED_HELP)
@click.option("--db", "db_url", default=None, help=DB_HELP)
@click.option("--mutants", is_flag=True, help=MUTANTS_HELP)
@click.option(
    "--mutant-seed",
    "mutant_seeds",
    type=click.IntRange(min=0),
    multiple=True,
    help=MUTANT_SEEDS_HELP,
)
@catalog_option
@errors_to_messages
def verify_command(
    ids: tuple[str, ...],
    seed: int | None,
    db_url: str | None,
    mutants: bool,
    mutant_seeds: tuple[int, ...],
    catalog: Path | None,
) -> None:
    """Self-check the catalog: solutions earn full marks, starters are correct but slow.

    With --mutants: every mutant of each reference is killed (loses a point on
    some seed) or declared equivalent in the spec.
    """
    from grader.authoring.mutation import DEFAULT_SEEDS, analyse
    from grader.authoring.verify import verify
    from grader.config_file import resolve_db_url
    from grader.grading.runner import GradeOptions

    cat = load_catalog(catalog)
    click.echo(_style(cat.description, dim=True))
    db_url = resolve_db_url(db_url, cat.root)
    if mutants:
        report = analyse(cat, ids, mutant_seeds or DEFAULT_SEEDS, db_url, progress=_echo_mutation)
        seeds = ", ".join(str(s) for s in report.seeds)
        made = sum(e.made for e in report.exercises)
        killed = sum(e.killed for e in report.exercises)
        equivalent = sum(e.equivalent for e in report.exercises)
        surviving = sum(len(e.surviving) for e in report.exercises)
        summary = (
            f"{report.dialect} · seeds {seeds}: {made} mutants, {killed} killed, "
            f"{equivalent} declared equivalent, {surviving} surviving"
        )
        click.echo(
            f"mutants OK: {summary}"
            if report.ok
            else _style(f"mutants NOT OK: {summary}", fg="red")
        )
        sys.exit(EXIT_OK if report.ok else EXIT_NOT_MET)

    def progress(side: str, result: Any) -> None:
        click.echo(f"{side:<8} {result.id:<28} {result.score:>3}/{result.max_score:<3}")

    found = verify(cat, ids, GradeOptions(seed=seed, db_url=db_url), progress=progress)
    for reason in found.left_out:
        click.echo(_style(f"skipped: {reason}", dim=True))
    for problem in found.problems:
        click.echo(
            _style(f"problem: {problem.exercise_id} ({problem.side}): {problem.message}", fg="red")
        )
    if found.ok:
        click.echo(
            f"catalog OK: {len(found.solutions.exercises)} exercises · "
            f"{found.solutions.dialect} · seed {found.solutions.seed}"
        )
    sys.exit(EXIT_OK if found.ok else EXIT_NOT_MET)


@main.command("new")
@click.argument("exercise_id", metavar="ID")
@click.option(
    "--kind",
    type=click.Choice(["query", "migration"]),
    required=True,
    help="query: the student edits task.py; migration: models.py and an Alembic revision.",
)
@catalog_option
@errors_to_messages
def new_command(exercise_id: str, kind: str, catalog: Path | None) -> None:
    """Scaffold the exercise ID: exercises/ID/ and solutions/ID/, its starter recorded.

    Every file says what to fill in (TODO); `ormgrade verify ID` runs at once
    and names what is still missing. The reference of every spec key and check
    is `ormgrade checks`, the data model and dataset sizes `ormgrade schema`.
    """
    # A course's first exercise goes into a folder that is no catalog yet.
    root = catalog.resolve() if catalog is not None else load_catalog(None).root
    from grader.authoring.scaffold import scaffold

    made = scaffold(root, exercise_id, kind)
    for name in made.files:
        click.echo(f"wrote {name}")
    click.echo(
        f"next: fill in the TODOs, write solutions/{exercise_id}/, then "
        f"`ormgrade verify {exercise_id}`"
    )


@main.command("record-starters")
@click.argument("ids", nargs=-1)
@catalog_option
@errors_to_messages
def record_starters_command(ids: tuple[str, ...], catalog: Path | None) -> None:
    """Record the starters of IDS (default: all) as the oracle, in exercises/<id>/starter.sha256.

    The starter is the oracle every answer is compared with; grading refuses
    a starter that differs from its record, so that an edited copy never
    calls a wrong answer correct. Run this after changing a starter on
    purpose (then `ormgrade verify`).
    """
    cat = load_catalog(catalog)
    click.echo(_style(cat.description, dim=True))
    for spec in cat.select(ids):
        click.echo(f"recorded {cat.record_starter(spec.id).relative_to(cat.root)}")


@main.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Also write the page to this file (the course keeps it as {SCHEMA_PAGE}).",
)
@errors_to_messages
def schema_command(output: Path | None) -> None:
    """Print the data model of the query exercises: a Mermaid ER diagram, every column,
    and the dataset sizes (rows per table, tags per task, …).

    Generated from the models in grader/domain.py and the size table of
    grader/databases/dataset.py, so it always agrees with them.
    """
    from grader.course.schema_page import render_schema

    page = render_schema()
    click.echo(page, nl=False)
    if output is not None:
        write_atomic(output, page)
        click.echo(f"schema written to {output}", err=True)


@main.command("checks")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Also write the page to this file (the course keeps it as {CHECKS_PAGE}).",
)
@errors_to_messages
def checks_command(output: Path | None) -> None:
    """Print the authoring reference: every spec key, check kind and option, and the hooks.

    Generated from the engine (the spec's fields, each check class's docstring
    and the options it reads), so it always agrees with the code. The data
    model and the dataset sizes are `ormgrade schema`.
    """
    from grader.course.reference import render_reference

    page = render_reference()
    click.echo(page, nl=False)
    if output is not None:
        write_atomic(output, page)
        click.echo(f"reference written to {output}", err=True)


def _echo_mutation(analysis: ExerciseMutation) -> None:
    """One line per exercise, then each surviving mutant with its diff."""
    line = (
        f"mutants  {analysis.exercise_id:<28} made {analysis.made:>3} · killed {analysis.killed:>3}"
        f" · equivalent {analysis.equivalent:>2} · surviving {len(analysis.surviving):>2}"
    )
    click.echo(line if analysis.ok else _style(line, fg="red"))
    for verdict in analysis.surviving:
        mutant = verdict.mutant
        click.echo(f"  surviving {mutant.name}: {mutant.description} (full marks on every seed)")
        click.echo("    " + mutant.diff.rstrip().replace("\n", "\n    "))
    for stale in analysis.stale_declarations:
        click.echo(_style(f"  stale equivalent_mutants entry: {stale}", fg="red"))


GRADE_ALL_OUT_HELP = (
    "The results folder: one <student>.json each, the gradebook, grade-all's state."
)
JOBS_HELP = "Students graded at once, each in a worker process of its own (default: 1)."
STUDENT_HELP = "Grade only this student (a folder name in ROOT); repeat for several."
FORCE_HELP = "Grade every student again, even those whose submission has not changed."
GRADE_ALL_SEED_HELP = (
    "Dataset seed for the whole class. Default: the seed recorded in RESULTS_DIR by an "
    "earlier run, else a fresh one (recorded for the next run)."
)
GRADEBOOK_HELP = (
    "The results database: a file path or any SQLAlchemy URL. Default: "
    "RESULTS_DIR/gradebook.sqlite."
)
NO_REFERENCE_HELP = (
    "Do not grade the catalog's solutions/ (the dashboard's reference query counts)."
)
REFERENCE_HELP = (
    "Results JSON of the reference solutions, for the reference query counts. Default: the "
    "one grade-all wrote into RESULTS_DIR."
)
BROKER_HELP = (
    "Grade on Celery workers listening on this broker (redis://host:6379/0 or "
    "amqp://user:password@host:5672/vhost) instead of on this machine; -j is then unused. "
    "Default: the broker of the course repository's ormgrade.toml or [tool.ormgrade], else "
    "grade here."
)
QUEUE_HELP = "The queue the workers consume (default: ormgrade)."
TIMEOUT_HELP = "Seconds per run (overrides the spec)."
MEMORY_HELP = "Memory limit per run in MiB (overrides the spec)."
EXIT_INTERRUPTED = 130


def _gradebook_target(results_dir: Path, gradebook: str | None) -> str:
    from grader.classbook.gradebook import DEFAULT_FILE

    return gradebook if gradebook is not None else str(results_dir / DEFAULT_FILE)


def _echo_skipped(skipped: Any) -> None:
    for item in skipped:
        click.echo(_style(f"skipped {item.path.name}: {item.reason}", fg="yellow"), err=True)


@main.command("grade-all")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("ids", nargs=-1)
@click.option(
    "--out",
    "results_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help=GRADE_ALL_OUT_HELP,
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, help=JOBS_HELP)
@click.option("--student", "students", multiple=True, help=STUDENT_HELP)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--seed", type=click.IntRange(min=0), default=None, help=GRADE_ALL_SEED_HELP)
@click.option("--db", "db_url", default=None, help=DB_HELP)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None, help=TIMEOUT_HELP)
@click.option("--memory-mb", type=click.IntRange(min=64), default=None, help=MEMORY_HELP)
@click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
@click.option("--no-reference", is_flag=True, help=NO_REFERENCE_HELP)
@click.option("--broker", "broker_url", default=None, help=BROKER_HELP)
@click.option("--queue", default=None, help=QUEUE_HELP)
@catalog_option
@errors_to_messages
def grade_all_command(
    root: Path,
    ids: tuple[str, ...],
    results_dir: Path,
    jobs: int,
    students: tuple[str, ...],
    force: bool,
    seed: int | None,
    db_url: str | None,
    timeout: float | None,
    memory_mb: int | None,
    gradebook: str | None,
    no_reference: bool,
    broker_url: str | None,
    queue: str | None,
    catalog: Path | None,
) -> None:
    """Grade every student's submission in ROOT on the exercises IDS (default: all).

    Each child folder of ROOT is one student's repository or notebooks; the
    folder name is the student. Students are graded in parallel (-j), each
    into RESULTS_DIR/<student>.json, and ingested into the gradebook. A
    student whose submission has not changed since their results were
    written is skipped (--force grades them again). Ctrl-C keeps what is
    finished; the next run resumes. With --broker, each student is one task
    for the Celery workers (`ormgrade worker`) and this machine only writes
    the results. Exit codes: 0 done, 2 bad usage (or a broker that does not
    answer), 3 the grader failed some student (a worker refused or died), 130
    interrupted.
    """
    from grader.classbook.bulk import run_grade_all
    from grader.classbook.planning import REFERENCE_ID, StudentOutcome, plan_grade_all
    from grader.config_file import resolve_broker_url, resolve_db_url
    from grader.grading.runner import GradeOptions

    cat = load_catalog(catalog)
    db_url = resolve_db_url(db_url, cat.root)
    broker_url = resolve_broker_url(broker_url, cat.root)
    options = GradeOptions(seed=seed, db_url=db_url, timeout=timeout, memory_mb=memory_mb)
    plan = plan_grade_all(
        root,
        results_dir,
        cat,
        ids,
        students=students,
        options=options,
        force=force,
        reference=not no_reference,
        gradebook=_gradebook_target(results_dir, gradebook),
    )
    unchanged = sum(1 for o in plan.unchanged if o.student != REFERENCE_ID)
    if broker_url is None:
        where = f"{min(jobs, len(plan.tasks))} worker(s)"
    else:
        from grader.classbook.coordinator import workers_answering

        answering = workers_answering(broker_url) if plan.tasks else []
        where = f"{len(answering)} Celery worker(s) answering on {_redacted(broker_url)}"
        if plan.tasks and not answering:
            click.echo(
                _style("no worker answers yet: the tasks wait in the queue", fg="yellow"),
                err=True,
            )
    click.echo(
        f"grade-all: {plan.students} student(s) to grade, {unchanged} unchanged · seed "
        f"{plan.seed} · {where}"
    )
    counts = {"failed": 0, "crashed": 0}
    interactive = sys.stdout.isatty()

    def line(outcome: StudentOutcome) -> str:
        name = "reference solutions" if outcome.student == REFERENCE_ID else outcome.student
        if outcome.status.value == "failed":
            return f"{name}: FAILED ({(outcome.error or '').splitlines()[0]})"
        notes = [f"crashed in {', '.join(outcome.crashed)}"] if outcome.crashed else []
        if outcome.grader_errors:
            notes.append(f"grader error in {', '.join(outcome.grader_errors)}")
        score = f"{name}: {outcome.score}/{outcome.max_score}"
        return score + (f" ({'; '.join(notes)})" if notes else "")

    def status(outcome: StudentOutcome | None) -> str:
        last = line(outcome) if outcome is not None else ""
        return f"{counts['failed']} failed · {counts['crashed']} crashed · {last}"[:100]

    with click.progressbar(
        length=len(plan.tasks),
        label="grading",
        show_eta=True,
        show_pos=True,
        item_show_func=status,
    ) as bar:

        def progress(outcome: StudentOutcome) -> None:
            counts["failed"] += outcome.failed
            counts["crashed"] += bool(outcome.crashed)
            if interactive:
                bar.update(1, outcome)
            else:
                click.echo(line(outcome))

        if broker_url is None:
            report = run_grade_all(plan, jobs, progress)
        else:
            from grader.classbook.coordinator import run_grade_all_on_workers
            from grader.classbook.worker import DEFAULT_QUEUE

            report = run_grade_all_on_workers(
                plan, broker_url, queue=queue or DEFAULT_QUEUE, progress=progress
            )
    for outcome in report.failures:
        click.echo(_style(line(outcome), fg="magenta"), err=True)
    if report.ingested is not None:
        _echo_skipped(report.ingested.skipped)
    click.echo(
        f"graded {report.graded} · unchanged {report.unchanged} · failed {len(report.failures)} · "
        f"seed {report.seed} · {report.seconds:.1f} s · results in {results_dir}"
    )
    if report.interrupted:
        click.echo(
            _style(
                f"interrupted: {len(report.left)} student(s) left; "
                "run the same command again to resume",
                fg="yellow",
            ),
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_GRADER if report.failures else EXIT_OK)


def _redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    head, sep, tail = url.partition("://")
    if "@" not in tail:
        return url
    credentials, _, rest = tail.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{rest}" if ":" in credentials else url


WORKER_BROKER_HELP = (
    "The broker to take tasks from (redis://host:6379/0 or amqp://user:password@host:5672/"
    "vhost). Default: the broker of the course repository's config file."
)
CONCURRENCY_HELP = "Students graded at once by this worker, each in a process of its own."
WORKER_DB_HELP = (
    "Database URL this worker grades on (the coordinator's must be of the same kind). "
    "Default: the db of the course repository's config file, else a SQLite file per run."
)
NAME_HELP = "This worker's node name (default: ormgrade-<pid>@<host>)."
VISIBILITY_HELP = (
    "Redis only: seconds after which a task not acknowledged (its worker lost with its "
    "machine) is given to another worker. Longer than any student's grading."
)


@main.command("worker")
@click.option("--broker", "broker_url", default=None, help=WORKER_BROKER_HELP)
@click.option("--concurrency", type=click.IntRange(min=1), default=1, help=CONCURRENCY_HELP)
@click.option("--db", "db_url", default=None, help=WORKER_DB_HELP)
@click.option("--queue", default=None, help=QUEUE_HELP)
@click.option("--name", default=None, help=NAME_HELP)
@click.option(
    "--visibility-timeout", type=click.FloatRange(min=1), default=None, help=VISIBILITY_HELP
)
@click.option(
    "--loglevel",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="What the worker logs.",
)
@catalog_option
@errors_to_messages
def worker_command(
    broker_url: str | None,
    concurrency: int,
    db_url: str | None,
    queue: str | None,
    name: str | None,
    visibility_timeout: float | None,
    loglevel: str,
    catalog: Path | None,
) -> None:
    """Grade students sent by `grade-all --broker` on this machine, until stopped.

    A Celery worker: each task is one student's editable files, graded with
    the same engine, sandbox and limits as `ormgrade grade`, on this
    machine's copy of the catalog. A task made for another catalog (specs,
    starters, hooks or engine differ) is refused and the coordinator reports
    it. Stop it with Ctrl-C or SIGTERM (the task in progress is finished
    first; a second Ctrl-C stops at once and the task goes to another worker).
    Workers run students' code: see the README on where to run them.
    """
    from grader.classbook.worker import DEFAULT_QUEUE, DEFAULT_VISIBILITY_TIMEOUT, run_worker
    from grader.config_file import resolve_broker_url, resolve_db_url
    from grader.errors import UsageError

    cat = load_catalog(catalog)
    broker_url = resolve_broker_url(broker_url, cat.root)
    if broker_url is None:
        raise UsageError('--broker URL is needed (or broker = "…" in ormgrade.toml)')
    run_worker(
        broker_url,
        cat,
        concurrency=concurrency,
        db_url=resolve_db_url(db_url, cat.root),
        queue=queue or DEFAULT_QUEUE,
        name=name,
        visibility_timeout=visibility_timeout or DEFAULT_VISIBILITY_TIMEOUT,
        loglevel=loglevel.upper(),
    )


@main.command("dashboard")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("dashboard.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=REFERENCE_HELP,
)
@errors_to_messages
def dashboard_command(
    results_dir: Path, output: Path, gradebook: str | None, reference: Path | None
) -> None:
    """Ingest RESULTS_DIR into the gradebook and write the class dashboard.

    One self-contained HTML file (charts inlined, no network needed to view
    it): score distribution, pass rates per exercise and per check, the most
    common failures, query counts against the reference solution's, a
    student x exercise heatmap and every student's feedback. Files in
    RESULTS_DIR that are not results are named and skipped.
    """
    from grader.classbook.dashboard import write_dashboard
    from grader.classbook.gradebook import REFERENCE_FILE, Gradebook, SkippedFile, read_results
    from grader.errors import UsageError

    with Gradebook.open(_gradebook_target(results_dir, gradebook)) as book:
        ingested = book.ingest_directory(results_dir)
        records = book.latest()
    _echo_skipped(ingested.skipped)
    reference_path = reference or results_dir / REFERENCE_FILE
    reference_report = None
    if reference_path.is_file():
        try:
            reference_report = read_results(reference_path)
        except ValueError as exc:
            if reference is not None:
                raise UsageError(f"--reference {reference}: {exc}") from None
            _echo_skipped([SkippedFile(reference_path, str(exc))])
    summary = write_dashboard(output, records, reference_report, ingested.skipped)
    click.echo(
        f"dashboard written to {output}: {len(summary.students)} student(s), "
        f"{len(summary.exercises)} exercise(s); {len(ingested.added)} new grading(s) ingested"
    )


@main.command("export")
@click.argument("results_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The gradebook CSV to write: student, points per exercise, total.",
)
@click.option("--gradebook", default=None, help=GRADEBOOK_HELP)
@errors_to_messages
def export_command(results_dir: Path, csv_path: Path, gradebook: str | None) -> None:
    """Ingest RESULTS_DIR into the gradebook and write each student's latest points as CSV."""
    from grader.classbook.gradebook import Gradebook, gradebook_csv

    with Gradebook.open(_gradebook_target(results_dir, gradebook)) as book:
        ingested = book.ingest_directory(results_dir)
        records = book.latest()
    _echo_skipped(ingested.skipped)
    write_atomic(csv_path, gradebook_csv(records))
    click.echo(f"{csv_path}: {len(records)} student(s)")


CACHE_HELP = (
    "The cache of seeded SQLite templates ($ORMGRADE_CACHE, else ~/.cache/ormgrade). It is "
    "kept under $ORMGRADE_CACHE_MAX_MB MiB (default {default}), least recently used "
    "templates removed first; a template a running grading uses is never removed."
)


@main.group("cache", help=CACHE_HELP.format(default=DEFAULT_CACHE_MAX_MB))
def cache_group() -> None:
    """The seeded-template cache."""


@cache_group.command("show")
@errors_to_messages
def cache_show_command() -> None:
    """List the cached templates (least recently used first), their sizes and the cap."""
    entries = cache_entries()
    total = sum(e.size for e in entries)
    click.echo(f"cache: {default_cache_dir()}")
    for entry in entries:
        pinned = "  (in use)" if entry.pinned else ""
        click.echo(f"  {entry.path.name}  {entry.size / 2**20:8.1f} MiB{pinned}")
    cap = cache_max_bytes() / 2**20
    click.echo(f"{len(entries)} template(s), {total / 2**20:.1f} MiB of {cap:.0f} MiB")


@cache_group.command("clear")
@errors_to_messages
def cache_clear_command() -> None:
    """Remove every cached template that no running grading uses."""
    removed = clear_cache()
    click.echo(f"removed {len(removed)} template(s) from {default_cache_dir()}")


if __name__ == "__main__":  # pragma: no cover
    main()
