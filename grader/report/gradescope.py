"""Gradescope: a grade as the ``results.json`` its autograder harness reads.

One Gradescope test per check, scored with the check's own points, so the
total Gradescope shows is the grader's. Each test's ``output`` is Markdown:
the message, the evidence in code blocks, the hint. The ``leaderboard``
ranks submissions by their points first, then by the queries each exercise
emitted (fewer is better), for correct answers only: a wrong answer that
sends no query at all must not top the board.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from grader.report import terminal
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome, write_atomic

#: Visibility of the results and of each test (Gradescope: hidden, after_due_date,
#: after_published, visible).
VISIBILITY = "visible"
PASSED, FAILED = "passed", "failed"
GRADER_ERROR_OUTPUT = "**Grader error** (not your fault; tell the course staff):"
CRASHED_OUTPUT = "**Your submission did not run to the end**, so this check was not judged:"
LEADERBOARD_NAME = "{exercise} queries"
LEADERBOARD_POINTS = "points"
#: The check whose pass makes an answer correct (a wrong answer earns nothing else).
CORRECTNESS_CHECK = "correct_result"


def code_block(text: str, language: str = "") -> str:
    """``text`` as a fenced Markdown block that its own backticks cannot close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def check_output(exercise: ExerciseResult, check: CheckResult) -> str:
    """The Markdown shown under one Gradescope test."""
    if exercise.outcome is Outcome.GRADER_ERROR:
        return f"{GRADER_ERROR_OUTPUT}\n\n{code_block(exercise.error or '')}"
    if exercise.outcome is Outcome.CRASHED:
        return f"{CRASHED_OUTPUT}\n\n{code_block(exercise.error or '')}"
    parts = [check.message]
    for item in check.evidence:
        language = "sql" if item.label.startswith("statement") else ""
        parts.append(f"**{item.label}**\n\n{code_block(item.text, language)}")
    if check.hint and not check.passed:
        parts.append(f"*Hint:* {check.hint}")
    return "\n\n".join(parts)


def _summary(report: GradeReport) -> str:
    lines = [terminal.summary_line(report), ""]
    for exercise in report.exercises:
        line = f"- `{exercise.id}` {exercise.title}: {exercise.score}/{exercise.max_score}"
        if exercise.outcome is Outcome.CRASHED:
            line += " (your submission crashed)"
        elif exercise.outcome is Outcome.GRADER_ERROR:
            line += " (grader error: not your fault; the course staff will look at it)"
        lines.append(line)
    for warning in report.warnings:
        lines.append(f"\n**Warning:** {warning}")
    lines.append(f"\nReproduce this run locally with `ormgrade grade --seed {report.seed}`.")
    return "\n".join(lines)


def correct(exercise: ExerciseResult) -> bool:
    """Whether the exercise was graded and its answer is the starter's."""
    if exercise.outcome is not Outcome.GRADED:
        return False
    gates = [c for c in exercise.checks if c.name == CORRECTNESS_CHECK]
    return bool(gates) and all(c.passed for c in gates)


def _leaderboard(report: GradeReport) -> list[dict[str, Any]]:
    """Points first (more is better), then queries of each correct answer (fewer is better).

    A wrong answer gets no queries entry at all, so it is never ranked by
    how little it asked of the database.
    """
    board: list[dict[str, Any]] = [
        {"name": LEADERBOARD_POINTS, "value": report.score, "order": "desc"}
    ]
    for exercise in report.exercises:
        queries = exercise.stats.get("queries")
        if correct(exercise) and isinstance(queries, int):
            board.append(
                {
                    "name": LEADERBOARD_NAME.format(exercise=exercise.id),
                    "value": queries,
                    "order": "asc",
                }
            )
    return board


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """The ``results.json`` document for ``report`` (Gradescope's autograder format)."""
    tests = []
    for number, exercise in enumerate(report.exercises, start=1):
        graded = exercise.outcome is Outcome.GRADED
        for index, check in enumerate(exercise.checks, start=1):
            passed = graded and check.passed
            tests.append(
                {
                    "name": f"{exercise.id}: {check.name}",
                    "number": f"{number}.{index}",
                    "score": check.points if graded else 0,
                    "max_score": check.max_points,
                    "status": PASSED if passed else FAILED,
                    "output": check_output(exercise, check),
                    "output_format": "md",
                    "tags": [exercise.id],
                    "visibility": VISIBILITY,
                }
            )
    return {
        "score": report.score,
        "execution_time": round(sum(e.duration for e in report.exercises)),
        "output": _summary(report),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": VISIBILITY,
        "tests": tests,
        "leaderboard": _leaderboard(report),
        "extra_data": {
            "seed": report.seed,
            "dialect": report.dialect,
            "grader_version": report.grader_version,
            "grader_errors": [e.id for e in report.grader_errors],
            "warnings": list(report.warnings),
        },
    }


def write_results(report: GradeReport, path: Path) -> dict[str, Any]:
    """Write ``results.json`` for ``report`` to ``path`` atomically; returns the document."""
    document = gradescope_results(report)
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return document
