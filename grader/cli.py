"""The ``ormgrade`` command line: a thin layer over the verbs in the package.

Exit codes: 0 success (full marks for ``grade``), 1 some check not met or the
self-check failed, 2 bad usage or a broken catalog, 3 a grader error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from grader import __version__
from grader.catalog import Catalog, discover
from grader.errors import OrmgradeError
from grader.report import terminal
from grader.results import GradeReport, to_json, write_atomic
from grader.runner import GradeOptions, grade
from grader.verify import verify

EXIT_OK, EXIT_NOT_MET, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])

SUBMISSION_HELP = (
    "The submission: a student repository (with exercises/<id>/), a folder of exercise "
    "folders such as solutions/, or one exercise's folder. Default: the current folder."
)
SEED_HELP = "Dataset seed; the same seed reproduces a run. Default: a fresh random seed."
DB_HELP = (
    "Database URL to grade on (postgresql+psycopg://…, mysql+pymysql://…). Default: a "
    "SQLite file per run."
)
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


@main.command("grade")
@click.argument("ids", nargs=-1)
@click.option(
    "--submission",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help=SUBMISSION_HELP,
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the results JSON here.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help=SEED_HELP)
@click.option("--db", "db_url", default=None, help=DB_HELP)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None, help="Seconds per run (overrides the spec).")
@click.option("--memory-mb", type=click.IntRange(min=64), default=None, help="Memory limit per run in MiB (overrides the spec).")
@click.option("-v", "--verbose", is_flag=True, help="Show evidence for passed checks too.")
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
    verbose: bool,
    catalog: Path | None,
) -> None:
    """Grade a submission on the exercises IDS (default: all of them)."""
    cat = load_catalog(catalog)
    options = GradeOptions(seed=seed, db_url=db_url, timeout=timeout, memory_mb=memory_mb)
    target = submission or default_submission()

    def progress(result: Any) -> None:
        click.echo(terminal.render_exercise(result, _style, verbose) + "\n")

    report = grade(target, cat, ids, options, progress=progress)
    click.echo(terminal.summary_line(report))
    if json_path is not None:
        write_atomic(json_path, to_json(report))
        click.echo(f"results written to {json_path}")
    sys.exit(exit_code(report))


def exit_code(report: GradeReport) -> int:
    """3 when the grader failed somewhere, 1 below full marks, else 0."""
    if report.grader_errors:
        return EXIT_GRADER
    return EXIT_OK if report.score == report.max_score else EXIT_NOT_MET


@main.command("verify")
@click.argument("ids", nargs=-1)
@click.option("--seed", type=click.IntRange(min=0), default=None, help=SEED_HELP)
@click.option("--db", "db_url", default=None, help=DB_HELP)
@catalog_option
@errors_to_messages
def verify_command(ids: tuple[str, ...], seed: int | None, db_url: str | None, catalog: Path | None) -> None:
    """Self-check the catalog: solutions earn full marks, starters are correct but slow."""
    cat = load_catalog(catalog)

    def progress(side: str, result: Any) -> None:
        click.echo(f"{side:<8} {result.id:<28} {result.score:>3}/{result.max_score:<3}")

    found = verify(cat, ids, GradeOptions(seed=seed, db_url=db_url), progress=progress)
    for problem in found.problems:
        click.echo(_style(f"problem: {problem.exercise_id} ({problem.side}): {problem.message}", fg="red"))
    if found.ok:
        click.echo(
            f"catalog OK: {len(found.solutions.exercises)} exercises · "
            f"{found.solutions.dialect} · seed {found.solutions.seed}"
        )
    sys.exit(EXIT_OK if found.ok else EXIT_NOT_MET)


if __name__ == "__main__":  # pragma: no cover
    main()
