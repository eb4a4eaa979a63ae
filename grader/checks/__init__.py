"""Checks: small rules that judge one recorded run against an expectation.

A check is built from its `CheckSpec` (options are validated then, so a bad
spec fails when the catalog loads) and judges an `Evaluation`: the oracle's
run, the submission's runs and their analysis. It returns a `Verdict`; the
engine turns verdicts into scored `CheckResult`s. Checks never print, never
run SQL and never know how the runs were made.
"""

from grader.checks.base import (
    CHECK_KINDS,
    Check,
    Evaluation,
    Verdict,
    build_check,
    judge_all,
    register,
)

# Importing the modules registers their check kinds.
from grader.checks import query as _query  # noqa: F401  isort: skip
from grader.checks import aggregate as _aggregate  # noqa: F401  isort: skip
from grader.checks import migration as _migration  # noqa: F401  isort: skip
from grader.checks import memory as _memory  # noqa: F401  isort: skip
from grader.checks import write as _write  # noqa: F401  isort: skip
from grader.checks import routing as _routing  # noqa: F401  isort: skip
from grader.checks import window as _window  # noqa: F401  isort: skip
from grader.checks import concurrency as _concurrency  # noqa: F401  isort: skip
from grader.checks import partition as _partition  # noqa: F401  isort: skip

__all__ = [
    "CHECK_KINDS",
    "Check",
    "Evaluation",
    "Verdict",
    "build_check",
    "judge_all",
    "register",
]
