"""The rules an exercise README follows, checked by ``ormgrade verify``.

A student reads the README before anything else, so its shape is part of the
exercise: a query exercise's README has its sections in order, three hints
that students open one at a time, a table naming every check with its points
and a measured figure that shows why the exercise matters; a migration
exercise's README names every scored check in a table. Both say which command
grades the exercise. `readme_problems` returns what is missing, one sentence
each, so that a new exercise learns the rules from ``verify`` itself.
"""

from __future__ import annotations

import re

from grader.course.spec import ExerciseSpec

#: The sections of a query exercise's README, in this order.
QUERY_SECTIONS = (
    "## The task",
    "## Why it matters",
    "## What the grader checks",
    "## Reading the feedback",
    "## Hints",
)
#: How many hints (``<details>`` blocks) a query exercise's README gives.
HINTS = 3
#: A measured figure: a factor such as ``12×`` or ``3.5×``.
FIGURE = re.compile(r"\d+(\.\d+)?×")
#: Where a figure may come from (one of these must be named next to it).
FIGURE_SOURCES = ("bench/run.py --teaching", "measured on SQLite")

NO_README = "no README.md"
MISSING_SECTION = "the README has no section {section!r}"
SECTIONS_ORDER = "the README's sections are out of order; expected {order}"
HINT_COUNT = "the README has {found} hint(s) (<details> blocks); expected {expected}"
NO_GRADE_COMMAND = "the README never shows the command that grades it: `ormgrade grade {id}`"
NO_CHECK_ROW = "the README's table has no row for check {name!r} (| `{name}` | … |)"
WRONG_POINTS = "the README's table gives check {name!r} {found} point(s); the spec gives {points}"
NO_FIGURE = (
    "'Why it matters' quotes no measured figure (a factor such as 12×) "
    "with where it was measured ({sources})"
)


def readme_problems(spec: ExerciseSpec) -> list[str]:
    """What the README of ``spec`` lacks, one sentence each (empty when it follows the rules)."""
    if not spec.readme.is_file():
        return [NO_README]
    text = spec.readme.read_text(encoding="utf-8")
    problems = []
    if f"ormgrade grade {spec.id}" not in text:
        problems.append(NO_GRADE_COMMAND.format(id=spec.id))
    if spec.kind == "query":
        problems += _query_problems(spec, text)
    else:
        for check in spec.checks:
            if check.points and _row(text, check.name) is None:
                problems.append(NO_CHECK_ROW.format(name=check.name))
    return problems


def _row(text: str, name: str) -> re.Match[str] | None:
    return re.search(rf"^\| `{re.escape(name)}` \|([^|]*)\|", text, re.MULTILINE)


def _query_problems(spec: ExerciseSpec, text: str) -> list[str]:
    problems = []
    positions = [text.find(section) for section in QUERY_SECTIONS]
    for section, position in zip(QUERY_SECTIONS, positions, strict=True):
        if position < 0:
            problems.append(MISSING_SECTION.format(section=section))
    found = [p for p in positions if p >= 0]
    if found != sorted(found):
        problems.append(SECTIONS_ORDER.format(order=", ".join(QUERY_SECTIONS)))
    opened, closed = text.count("<details>"), text.count("</details>")
    if opened != HINTS or closed != HINTS:
        problems.append(HINT_COUNT.format(found=min(opened, closed), expected=HINTS))
    for check in spec.checks:
        row = _row(text, check.name)
        if row is None:
            problems.append(NO_CHECK_ROW.format(name=check.name))
        elif row.group(1).strip() != str(check.points):
            found_points = row.group(1).strip() or "no"
            problems.append(
                WRONG_POINTS.format(name=check.name, found=found_points, points=check.points)
            )
    why = _section(text, "## Why it matters")
    words = " ".join(why.split()).lower()
    if not (FIGURE.search(why) and any(s.lower() in words for s in FIGURE_SOURCES)):
        problems.append(NO_FIGURE.format(sources=" or ".join(repr(s) for s in FIGURE_SOURCES)))
    return problems


def _section(text: str, heading: str) -> str:
    """The text of the section ``heading`` up to the next ``## `` heading."""
    start = text.find(heading)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]
