"""The migration exercise kind: stage the submission, run it in a child, judge.

A submission's ``models.py`` and ``migrations/versions/`` are laid over a
private copy of the starter (the shared Alembic scaffold of
`grader.migrations.project`, with the revisions and models of the catalog's
pristine starter), and `grader.migrations.execute.execute` runs the lot in a
sandboxed child on a fresh database from the session's backend. The checks
of `grader.checks.migration` judge the `MigrationReport` that comes back;
the results are those of every other exercise kind.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from grader.checks import Evaluation, build_check, judge_all
from grader.checks.base import NOT_JUDGED
from grader.checks.migration import DefaultForNewRows, LockFeedback
from grader.course.spec import ExerciseSpec
from grader.course.submission import locate, stage
from grader.databases.dataset import size_named
from grader.errors import SpecError
from grader.execution.run import Job, RunRecord
from grader.execution.sandbox import run_job
from grader.grading.session import EXERCISE_KINDS, GradingSession, crash_message, failed_result
from grader.migrations.execute import MigrationReport, execute
from grader.migrations.project import MODELS_FILE, VERSIONS, starter_copy
from grader.results import CheckResult, ExerciseResult, Outcome

#: The dataset size of the empty database a run starts from: the backend keys
#: its templates by size, and an empty metadata makes the template empty.
EMPTY_SIZE = "tiny"

#: The message of checks left unjudged because the starter's history is not intact.
HISTORY_NOT_JUDGED = "not judged: the starter's migration history must be intact first"
HISTORY_NOT_JUDGED_HINT = (
    "Make correct_result pass first: the history must read, with the starter's revisions "
    "as they are."
)


def grade_migration_exercise(
    session: GradingSession, spec: ExerciseSpec, submission: Path
) -> ExerciseResult:
    """Grade a migration exercise: one child run, then the checks on its report."""
    checks = [build_check(c) for c in spec.checks]
    locks = [c for c in checks if isinstance(c, LockFeedback)]
    defaults = [c for c in checks if isinstance(c, DefaultForNewRows)]
    found = locate(submission, spec)
    if not found.complete:
        return failed_result(spec, Outcome.CRASHED, "; ".join(found.problems))
    starter = session.catalog.oracle_dir(spec.id)
    hooks_path = spec.hooks_path
    if hooks_path is None:
        raise SpecError(f"{spec.id}: a migration exercise needs grading.py with rows()")
    template = session.backend.template(size_named(EMPTY_SIZE), session.seed, MetaData())
    with tempfile.TemporaryDirectory(prefix=f"ormgrade-{spec.id}-") as scratch:
        work = Path(scratch)
        starter_run = starter_copy(starter, work / "starter")
        project = stage(found, starter_copy(starter, work / "project"))
        url = session.backend.copy(template)
        try:
            job = Job(
                exercise_id=spec.id,
                role="submission",
                purpose="migration",
                module_path=str(project / MODELS_FILE),
                entry="upgrade",
                call="alembic",
                databases={"main": url},
                params={
                    "starter": str(starter_run),
                    "seed": session.seed,
                    "versions_present": VERSIONS in found.files,
                    # squawk's feedback for an ungraded lock_feedback; the upgrade's
                    # statements recorded for a graded one.
                    "lint": any(not c.graded for c in locks),
                    "locks": any(c.graded for c in locks),
                    "probe": (defaults[0].table, defaults[0].column) if defaults else None,
                },
                hooks_path=str(hooks_path),
                options=dict(spec.options),
                workdir=str(project),
            )
            session.check_running()
            record = run_job(job, session.timeout(spec), session.memory_mb(spec), execute)
        finally:
            session.backend.drop(url)
    if not record.ok:
        assert record.failure is not None
        outcome = Outcome.GRADER_ERROR if record.failure.is_grader_error else Outcome.CRASHED
        prefix = "grader error: " if record.failure.is_grader_error else ""
        return failed_result(spec, outcome, prefix + crash_message(record.failure, record.output))
    report: MigrationReport = record.value
    evaluation = Evaluation(
        spec=spec,
        oracle=RunRecord(role="oracle", purpose="starter_head", snapshot=report.before),
        main=record,
        metadata=MetaData(),
        seed=session.seed,
        plans=report.lookup_plans,
        extra={"migration": report},
    )
    results = tuple(_history_first(r) for r in judge_all(checks, evaluation))
    return ExerciseResult(
        id=spec.id,
        title=spec.title,
        max_score=spec.max_score,
        checks=results,
        stats=_stats(report, record),
    )


def _history_first(result: CheckResult) -> CheckResult:
    """Say why a check was not judged in the terms of a migration exercise."""
    if result.message != NOT_JUDGED:
        return result
    return replace(result, message=HISTORY_NOT_JUDGED, hint=HISTORY_NOT_JUDGED_HINT)


def _stats(report: MigrationReport, record: RunRecord) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "revisions": [r.id for r in report.history.written],
        "rows": report.before.row_count,
        "seconds": round(record.duration, 4),
    }
    if report.upgrade is not None:
        stats["upgrade_seconds"] = round(report.upgrade.seconds, 4)
    return stats


EXERCISE_KINDS["migration"] = grade_migration_exercise
