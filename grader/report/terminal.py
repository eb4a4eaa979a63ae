"""The human-readable report: a table of exercises and checks, with evidence.

Much of what it prints comes from the submission: error text and printed
output, returned values quoted in messages, SQL in evidence. That text is
stripped of terminal controls, and every rendered block in which a line would
read as a GitHub Actions workflow command is bracketed by stop-commands
markers (`grader.report.sanitize`), so a submission cannot forge a grade in a
CI log or redraw the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from grader.report.sanitize import neutralize_workflow_commands, strip_terminal_controls
from grader.results import CheckResult, ExerciseResult, GradeReport, Outcome

PASS_MARK = "PASS"
FAIL_MARK = "FAIL"

Style = Callable[..., str]


def _plain(text: str, **_: object) -> str:
    return text


def _indent(text: str, prefix: str) -> str:
    return textwrap.indent(text.rstrip(), prefix, lambda _line: True)


def _untrusted(text: str) -> str:
    return strip_terminal_controls(text)


def render_check(check: CheckResult, style: Style = _plain, verbose: bool = False) -> str:
    """One check: a status line, then (when not met) evidence and hint."""
    return neutralize_workflow_commands(_check_lines(check, style, verbose))


def _check_lines(check: CheckResult, style: Style, verbose: bool) -> str:
    mark = style(PASS_MARK, fg="green") if check.passed else style(FAIL_MARK, fg="red", bold=True)
    message = _untrusted(check.message)
    lines = [f"  {mark}  {check.name:<24} {check.points:>2}/{check.max_points:<2}  {message}"]
    if not check.passed or verbose:
        for item in check.evidence:
            lines.append(style(f"        {_untrusted(item.label)}:", fg="yellow"))
            lines.append(_indent(_untrusted(item.text), "          "))
        if check.hint:
            lines.append(style(f"        hint: {_untrusted(check.hint)}", fg="cyan"))
    return "\n".join(lines)


def render_exercise(result: ExerciseResult, style: Style = _plain, verbose: bool = False) -> str:
    """One exercise: its header with the score, then each check."""
    full = result.passed
    score = style(f"{result.score}/{result.max_score}", fg="green" if full else "red", bold=True)
    head = f"{result.id} — {result.title}  [{score}]"
    if result.outcome is Outcome.CRASHED:
        head += style("  submission crashed", fg="red", bold=True)
    elif result.outcome is Outcome.GRADER_ERROR:
        head += style(
            "  GRADER ERROR (not your fault; tell the course staff)", fg="magenta", bold=True
        )
    lines = [style(head, bold=True)]
    if result.error:
        lines.append(_indent(_untrusted(result.error), "    "))
    if result.outcome is Outcome.GRADED:
        lines.extend(_check_lines(c, style, verbose) for c in result.checks)
    stats = result.stats
    if "queries" in stats:
        line = f"    queries: {stats['queries']}"
        if "starter_queries" in stats:
            line += f" (starter: {stats['starter_queries']})"
        lines.append(style(line, dim=True))
    return neutralize_workflow_commands("\n".join(lines))


def render_warning(warning: str, style: Style = _plain) -> str:
    """One warning of the report (it may quote the submission's file names)."""
    return neutralize_workflow_commands(style(f"warning: {_untrusted(warning)}", fg="yellow"))


def render(report: GradeReport, style: Style = _plain, verbose: bool = False) -> str:
    """The whole report, ending in the total and the line that reproduces the run."""
    parts = [render_exercise(e, style, verbose) for e in report.exercises]
    for warning in report.warnings:
        parts.append(render_warning(warning, style))
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
