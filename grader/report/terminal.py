"""The human-readable report: a table of exercises and checks, with evidence."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome

PASS_MARK = "PASS"
FAIL_MARK = "FAIL"

Style = Callable[..., str]


def _plain(text: str, **_: object) -> str:
    return text


def _indent(text: str, prefix: str) -> str:
    return textwrap.indent(text.rstrip(), prefix, lambda _line: True)


def render_check(check: CheckResult, style: Style = _plain, verbose: bool = False) -> str:
    """One check: a status line, then (when not met) evidence and hint."""
    mark = style(PASS_MARK, fg="green") if check.passed else style(FAIL_MARK, fg="red", bold=True)
    lines = [f"  {mark}  {check.name:<24} {check.points:>2}/{check.max_points:<2}  {check.message}"]
    if not check.passed or verbose:
        for item in check.evidence:
            lines.append(style(f"        {item.label}:", fg="yellow"))
            lines.append(_indent(item.text, "          "))
        if check.hint:
            lines.append(style(f"        hint: {check.hint}", fg="cyan"))
    return "\n".join(lines)


def render_exercise(result: ExerciseResult, style: Style = _plain, verbose: bool = False) -> str:
    """One exercise: its header with the score, then each check."""
    full = result.passed
    score = style(f"{result.score}/{result.max_score}", fg="green" if full else "red", bold=True)
    head = f"{result.id} — {result.title}  [{score}]"
    if result.outcome is Outcome.CRASHED:
        head += style("  submission crashed", fg="red", bold=True)
    elif result.outcome is Outcome.GRADER_ERROR:
        head += style("  GRADER ERROR (not your fault; tell the course staff)", fg="magenta", bold=True)
    lines = [style(head, bold=True)]
    if result.error:
        lines.append(_indent(result.error, "    "))
    if result.outcome is Outcome.GRADED:
        lines.extend(render_check(c, style, verbose) for c in result.checks)
    stats = result.stats
    if "queries" in stats:
        line = f"    queries: {stats['queries']}"
        if "starter_queries" in stats:
            line += f" (starter: {stats['starter_queries']})"
        lines.append(style(line, dim=True))
    return "\n".join(lines)


def render(report: GradeReport, style: Style = _plain, verbose: bool = False) -> str:
    """The whole report, ending in the total and the line that reproduces the run."""
    parts = [render_exercise(e, style, verbose) for e in report.exercises]
    for warning in report.warnings:
        parts.append(style(f"warning: {warning}", fg="yellow"))
    parts.append(summary_line(report))
    return "\n\n".join(parts) + "\n"


def summary_line(report: GradeReport) -> str:
    """``Total: 17/30 points · 1 of 3 exercises at full marks · sqlite · seed 42``."""
    full = sum(1 for e in report.exercises if e.passed)
    line = (
        f"Total: {report.score}/{report.max_score} points · {full} of {len(report.exercises)} "
        f"exercises at full marks · {report.dialect} · seed {report.seed}"
    )
    if report.grader_errors:
        line += f" · {len(report.grader_errors)} grader error(s)"
    return line
