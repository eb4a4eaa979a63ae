"""The pytest plugin: ``pytest`` in a student copy grades it.

Registered through the ``pytest11`` entry point and inert until switched on
(``--ormgrade`` on the command line, or ``ormgrade = true`` in the pytest
configuration of a student repository). Switched on, every exercise's
``spec.toml`` is collected as a group of test items, one per check: the
exercise is graded once, when its first item runs, and each item passes or
fails with its check's message, evidence and hint. The session ends with the
score summary; ``--ormgrade-json`` writes the results file.

This module holds only hooks; grading itself is `grader.grading.runner.grade`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grader.config_file import resolve_db_url
from grader.course.catalog import Catalog, discover
from grader.course.manifest import protected_file_warnings
from grader.course.spec import SPEC_FILE, ExerciseSpec
from grader.errors import OrmgradeError
from grader.execution.platform import isolation_notes
from grader.grading.runner import GradeOptions, GradingSession, grade_exercise, open_session
from grader.report import terminal
from grader.report.sanitize import neutralize_workflow_commands, strip_terminal_controls
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome, to_json, write_atomic

HELP_ON = "Grade the exercises of this repository: one test per check (default: off)."
HELP_SEED = "Dataset seed for grading; the same seed reproduces a run (default: random)."
HELP_DB = (
    "Database URL to grade on (default: the db of ormgrade.toml or [tool.ormgrade] in "
    "pyproject.toml, else a SQLite file per run)."
)
HELP_JSON = "Write the grading results JSON to this file."
HELP_SUBMISSION = "Folder holding the submission (default: the rootdir)."


class CheckNotMet(AssertionError):
    """A check was not met: the expectation, with its evidence and hint."""

    def __init__(self, exercise: ExerciseResult, check: CheckResult) -> None:
        super().__init__(check.message)
        self.exercise = exercise
        self.check = check


class SubmissionCrashed(AssertionError):
    """The submission raised, hung, ran out of memory or is missing."""


class GraderFailure(Exception):
    """The grader itself failed: not the student's fault."""


class GradingState:
    """Per-session grading state, kept in ``config.stash``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.catalog: Catalog | None = None
        self.session: GradingSession | None = None
        self.results: dict[str, ExerciseResult] = {}
        self.order: list[str] = []
        self.submission = Path(config.getoption("ormgrade_submission") or config.rootpath).resolve()

    def open(self) -> GradingSession:
        if self.session is None:
            seed = self.config.getoption("ormgrade_seed") or _ini(self.config, "ormgrade_seed")
            db = self.config.getoption("ormgrade_db") or _ini(self.config, "ormgrade_db")
            try:
                seed_value = int(seed) if seed not in (None, "") else None
            except ValueError:
                raise pytest.UsageError(
                    f"ormgrade_seed must be a whole number, got {seed!r} "
                    "(from --ormgrade-seed or the ormgrade_seed ini key)"
                ) from None
            assert self.catalog is not None
            try:
                db_url = resolve_db_url(db or None, self.catalog.root)
                self.session = open_session(
                    self.catalog, GradeOptions(seed=seed_value, db_url=db_url)
                )
            except OrmgradeError as exc:  # a bad URL or a server that does not answer
                raise pytest.UsageError(f"ormgrade: {exc}") from None
        return self.session

    def result(self, spec: ExerciseSpec) -> ExerciseResult:
        if spec.id not in self.results:
            self.results[spec.id] = grade_exercise(self.open(), spec, self.submission)
            self.order.append(spec.id)
        return self.results[spec.id]

    def report(self) -> GradeReport | None:
        if self.session is None:
            return None
        return GradeReport(
            exercises=tuple(self.results[i] for i in self.order),
            dialect=self.session.backend.dialect,
            seed=self.session.seed,
            submission=str(self.submission),
            grader_version=__import__("grader").__version__,
            warnings=(
                protected_file_warnings(self.catalog.root, self.submission)
                if self.catalog is not None
                else ()
            )
            + isolation_notes(),
        )

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


state_key = pytest.StashKey[GradingState]()


def _untrusted(text: str) -> str:
    """Text that carries submission output, made safe for a CI log."""
    return neutralize_workflow_commands(strip_terminal_controls(text))


def _ini(config: pytest.Config, name: str) -> Any:
    try:
        return config.getini(name)
    except ValueError:
        return None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ormgrade", "ORM performance grading")
    group.addoption("--ormgrade", action="store_true", default=None, dest="ormgrade", help=HELP_ON)
    group.addoption("--ormgrade-seed", dest="ormgrade_seed", default=None, help=HELP_SEED)
    group.addoption("--ormgrade-db", dest="ormgrade_db", default=None, help=HELP_DB)
    group.addoption("--ormgrade-json", dest="ormgrade_json", default=None, help=HELP_JSON)
    group.addoption(
        "--ormgrade-submission", dest="ormgrade_submission", default=None, help=HELP_SUBMISSION
    )
    parser.addini("ormgrade", HELP_ON, type="bool", default=False)
    parser.addini("ormgrade_seed", HELP_SEED, default="")
    parser.addini("ormgrade_db", HELP_DB, default="")
    parser.addini("ormgrade_json", HELP_JSON, default="")


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("ormgrade") or config.getini("ormgrade"))


def pytest_configure(config: pytest.Config) -> None:
    if not _active(config):
        return
    state = GradingState(config)
    try:
        state.catalog = discover(start=config.rootpath)
    except OrmgradeError as exc:
        raise pytest.UsageError(f"ormgrade: {exc}") from None
    config.stash[state_key] = state


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(state_key, None)
    if state is None:
        return None
    session = state.open()
    assert state.catalog is not None
    return [
        f"ormgrade: grading {state.submission} · {session.backend.dialect} · seed {session.seed} "
        f"(rerun with --ormgrade-seed {session.seed})",
        f"ormgrade: {state.catalog.description}",
    ]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    state = parent.config.stash.get(state_key, None)
    if state is None or file_path.name != SPEC_FILE or state.catalog is None:
        return None
    if file_path.parent.parent.resolve() != state.catalog.exercises_dir.resolve():
        return None
    return ExerciseFile.from_parent(parent, path=file_path)


class ExerciseFile(pytest.File):
    """An exercise's spec, collected as one item per check."""

    def collect(self) -> Iterator[CheckItem]:
        state = self.config.stash[state_key]
        assert state.catalog is not None
        try:
            spec = state.catalog.spec(self.path.parent.name)
        except OrmgradeError as exc:
            raise self.CollectError(f"ormgrade: {exc}") from None
        for check in spec.checks:
            yield CheckItem.from_parent(self, name=check.name, spec=spec)


class CheckItem(pytest.Item):
    """One check of one exercise."""

    def __init__(self, *, spec: ExerciseSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.result: ExerciseResult | None = None

    def setup(self) -> None:
        state = self.config.stash[state_key]
        dialect = state.open().backend.dialect
        if not self.spec.runs_on(dialect):
            pytest.skip(self.spec.not_on(dialect))
        # Grading happens here, so a grader error shows as ERROR, not as FAILED.
        result = state.result(self.spec)
        self.result = result
        if result.outcome is Outcome.GRADER_ERROR:
            raise GraderFailure(result.error or "grader error")

    def runtest(self) -> None:
        assert self.result is not None
        if self.result.outcome is Outcome.CRASHED:
            raise SubmissionCrashed(self.result.error or "the submission crashed")
        check = self.result.check(self.name)
        if not check.passed:
            raise CheckNotMet(self.result, check)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        exc = excinfo.value
        if isinstance(exc, CheckNotMet):
            return terminal.render_check(exc.check)
        if isinstance(exc, SubmissionCrashed):
            return _untrusted(f"the submission crashed:\n{exc}")
        if isinstance(exc, GraderFailure):
            return _untrusted(f"grader error (not your fault; tell the course staff):\n{exc}")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.spec.id}::{self.name}"


def write_score(terminalreporter: Any, report: GradeReport) -> None:
    """The ``ormgrade score`` section: each exercise's points, warnings, the total."""
    terminalreporter.write_sep("=", "ormgrade score")
    for result in report.exercises:
        terminalreporter.write_line(
            f"{result.id:<28} {result.score:>3}/{result.max_score:<3} {result.outcome.value}"
        )
    for warning in report.warnings:
        terminalreporter.write_line(terminal.render_warning(warning), yellow=True)
    terminalreporter.write_line(terminal.summary_line(report))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    """Write the results file, and print the score last of all.

    The terminal reporter prints its summary (failures, the short summary,
    the counts) when this session ends; wrapped around it, the score comes
    after all of that, so it is the last thing a student sees.
    """
    try:
        return (yield)
    finally:
        state = session.config.stash.get(state_key, None)
        report = state.report() if state is not None else None
        target = session.config.getoption("ormgrade_json") or _ini(session.config, "ormgrade_json")
        if report is not None and target:
            write_atomic(Path(target), to_json(report))
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if report is not None and report.exercises and reporter is not None:
            write_score(reporter, report)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is not None:
        state.close()
