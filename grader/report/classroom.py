"""GitHub Classroom: a grade as the step output the autograding reporter reads.

Each grading step of a Classroom workflow sets the output ``result``: base64
of the JSON ``{"version": 1, "status", "max_score", "tests": [...]}``.
``classroom-resources/autograding-grading-reporter`` sums ``tests[].score``
and ``max_score`` over the steps into the grade (``Points X/Y``), but prints
its own totals as passed tests over all tests times ``max_score``. With one
test per check, a check worth 4 points would count like one worth 2 in that
log and disagree with the grade; so every check becomes one test per point,
all passing or all failing together, and every count the reporter shows
equals the grader's points. Scores are integers (the reporter's notice
drops fractions).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.errors import UsageError
from grader.report import terminal
from grader.report.sanitize import neutralize_workflow_commands, quote_workflow_commands
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome

#: The version of the result format the reporter reads.
RESULT_VERSION = 1
#: The step output the reporter reads (``steps.<id>.outputs.result``).
OUTPUT_NAME = "result"
#: The variable naming the file step outputs are appended to.
OUTPUT_ENV = "GITHUB_OUTPUT"
#: Longest ``message`` of one test (the reporter prints it under the test's name).
MAX_MESSAGE_CHARS = 2000

NO_OUTPUT_MESSAGE = (
    "--classroom appends the step output `result` to the file named by $GITHUB_OUTPUT, "
    "which is not set: run it as a step of a GitHub Actions workflow (or set "
    "GITHUB_OUTPUT to a file)"
)
GRADER_ERROR_MESSAGE = "grader error (not your fault; tell the course staff): {error}"
CRASHED_MESSAGE = "the submission did not run to the end: {error}"
POINTS_LINE = "Points {score}/{max_score}"


def point_test_name(check: CheckResult, point: int) -> str:
    """The reporter's name of the ``point``-th test (1-based) of ``check``."""
    if check.max_points == 1:
        return check.name
    return f"{check.name} (point {point} of {check.max_points})"


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else "no detail"


def _message(exercise: ExerciseResult, check: CheckResult) -> str:
    if exercise.outcome is Outcome.GRADER_ERROR:
        text = GRADER_ERROR_MESSAGE.format(error=_first_line(exercise.error))
    elif exercise.outcome is Outcome.CRASHED:
        text = CRASHED_MESSAGE.format(error=_first_line(exercise.error))
    elif check.passed or not check.hint:
        text = check.message
    else:
        text = f"{check.message}\nhint: {check.hint}"
    # The reporter prints messages to the log itself, line by line.
    return quote_workflow_commands(text[:MAX_MESSAGE_CHARS])


def _status(exercise: ExerciseResult, check: CheckResult) -> str:
    if exercise.outcome is Outcome.GRADER_ERROR:
        return "error"
    return "pass" if exercise.outcome is Outcome.GRADED and check.passed else "fail"


def classroom_result(report: GradeReport) -> dict[str, Any]:
    """The reporter's result document for ``report``: one test per point.

    ``max_score`` is the number of tests, and every test scores 1 or 0, so
    the sum of scores is the grade and the reporter's passed-tests ratio
    gives the same figure. ``status`` is ``error`` when the grader failed on
    any exercise (not the student's fault), else ``pass`` at full marks and
    ``fail`` below.
    """
    tests: list[dict[str, Any]] = []
    for exercise in report.exercises:
        test_code = f"ormgrade grade {exercise.id} --seed {report.seed}"
        count = sum(c.max_points for c in exercise.checks) or 1
        duration = round(exercise.duration * 1000 / count)
        for check in exercise.checks:
            status = _status(exercise, check)
            message = _message(exercise, check)
            for point in range(1, check.max_points + 1):
                tests.append(
                    {
                        "name": point_test_name(check, point),
                        "status": status,
                        "score": 1 if status == "pass" else 0,
                        "message": message,
                        "test_code": test_code,
                        "filename": f"exercises/{exercise.id}",
                        "line_no": 0,
                        "duration": duration,
                    }
                )
    if report.grader_errors:
        status = "error"
    elif all(t["status"] == "pass" for t in tests):
        status = "pass"
    else:
        status = "fail"
    return {
        "version": RESULT_VERSION,
        "status": status,
        "max_score": len(tests),
        "tests": tests,
    }


def encode_result(result: Mapping[str, Any]) -> str:
    """Base64 of the compact JSON of ``result`` (one line, as step outputs need)."""
    text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def output_file(environ: Mapping[str, str] | None = None) -> Path:
    """The file named by ``$GITHUB_OUTPUT``.

    Raises:
        UsageError: The variable is not set (not inside a GitHub Actions step).
    """
    value = (os.environ if environ is None else environ).get(OUTPUT_ENV, "")
    if not value:
        raise UsageError(NO_OUTPUT_MESSAGE)
    return Path(value)


def append_output(path: Path, name: str, value: str) -> None:
    """Append the step output ``name=value`` to ``path``, as GitHub Actions reads it."""
    with path.open("a+", encoding="utf-8") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(handle.tell() - 1)
            if handle.read(1) != "\n":
                handle.write("\n")
        handle.write(f"{name}={value}\n")


def write_result(report: GradeReport, path: Path) -> dict[str, Any]:
    """Append ``result=<base64 JSON>`` for ``report`` to ``path``; returns the document."""
    result = classroom_result(report)
    append_output(path, OUTPUT_NAME, encode_result(result))
    return result


def feedback(report: GradeReport) -> str:
    """The student feedback for the Actions log, safe to print there.

    The full report (evidence and hints included) ending with the points as
    Classroom records them; submission output cannot issue workflow commands.
    """
    result = classroom_result(report)
    score = sum(t["score"] for t in result["tests"])
    text = (
        terminal.render(report)
        + POINTS_LINE.format(score=score, max_score=result["max_score"])
        + "\n"
    )
    return neutralize_workflow_commands(text)
