"""The class dashboard: one self-contained HTML page from a gradebook.

`summarize` turns every student's latest results (and, when there is one, the
reference solutions' results) into plain figures; `render` lays them out with
the Jinja2 templates in ``grader/templates/dashboard`` and draws the charts
with Plotly, whose JavaScript is inlined so the page works offline.

Everything a student controls (their folder name, messages that quote their
code or SQL, error text) is escaped: by Jinja2's autoescaping in the page, and
as JSON that cannot close its ``<script>`` element in the chart data. Chart
labels are HTML-escaped as well, since Plotly reads a few tags in labels.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from grader import __version__
from grader.classbook.gradebook import SkippedFile, StudentRecord
from grader.results import ExerciseResult, GradeReport, Outcome, write_atomic

#: Where the dashboard's templates are.
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "dashboard"
#: The page template.
PAGE_TEMPLATE = "dashboard.html.j2"
#: Most failure messages listed per exercise.
TOP_FAILURES = 5
#: Above this many students the heatmap drops its student labels (hover still names them).
HEATMAP_LABELLED = 80
#: Longest evidence text shown per item; the results files keep it all.
EVIDENCE_CHARS = 4000
#: Bars of the score distribution (10 % each).
SCORE_BINS = 10
#: Most bars of a query-count histogram (counts are binned in whole numbers).
QUERY_BINS = 40
#: The label of a crashed exercise among the failure messages.
CRASHED = "submission crashed"
#: The label of a grader error among the failure messages.
GRADER_ERROR = "grader error"

#: The label of the reference solution's query count in the queries chart.
REFERENCE_LABEL = "reference"
#: The label of the starter's query count in the queries chart.
STARTER_LABEL = "starter"
#: Vertical step between the two marks' labels, as a share of a panel's height.
MARK_LABEL_STEP = 0.14
#: What the queries chart says when no exercise has query counts.
NO_QUERY_COUNTS = "No query counts in these results (migration exercises emit none)."

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class FailureCount:
    """A failure message and how many students got one like it.

    Messages that differ only in their figures ("29 queries emitted" and
    "31 queries emitted") count together; the most frequent wording is shown.

    Attributes:
        check: The check's name, or `CRASHED` / `GRADER_ERROR`.
        message: The most frequent wording.
        students: Students who got it.
    """

    check: str
    message: str
    students: int


@dataclass(frozen=True)
class CheckSummary:
    """How the class did on one check of one exercise.

    Attributes:
        name: The check's name.
        max_points: Points it is worth.
        passed: Students who met it.
        students: Students graded on the exercise (crashed ones included).
    """

    name: str
    max_points: int
    passed: int
    students: int

    @property
    def pass_rate(self) -> float:
        """Share of the students who met the check, 0 to 1."""
        return self.passed / self.students if self.students else 0.0


@dataclass(frozen=True)
class ExerciseSummary:
    """How the class did on one exercise.

    Attributes:
        id: The exercise id.
        title: Its title.
        max_score: Points it is worth.
        students: Students with results for it.
        full_marks: Students with every point.
        crashed: Students whose code crashed on it.
        grader_errors: Students whose grading of it failed on the grader's side.
        mean_score: Mean points earned.
        checks: Each check, in the spec's order.
        failures: The most common failure messages, most frequent first.
        queries: Queries emitted by each graded submission.
        reference_queries: Queries of the reference solution (None when unknown).
        starter_queries: Queries of the starter (None when unknown).
    """

    id: str
    title: str
    max_score: int
    students: int
    full_marks: int
    crashed: int
    grader_errors: int
    mean_score: float
    checks: tuple[CheckSummary, ...]
    failures: tuple[FailureCount, ...]
    queries: tuple[int, ...]
    reference_queries: int | None
    starter_queries: int | None

    @property
    def pass_rate(self) -> float:
        """Share of the students at full marks, 0 to 1."""
        return self.full_marks / self.students if self.students else 0.0


@dataclass(frozen=True)
class ClassSummary:
    """Everything the dashboard shows.

    Attributes:
        students: Each student's latest grading, by student id.
        exercises: Each exercise, in catalog order.
        reference: The reference solutions' results, when known.
        skipped: Results files that could not be read.
        generated_at: When the summary was made (UTC, ISO 8601).
    """

    students: tuple[StudentRecord, ...]
    exercises: tuple[ExerciseSummary, ...]
    reference: GradeReport | None = None
    skipped: tuple[SkippedFile, ...] = ()
    generated_at: str = ""

    @property
    def percents(self) -> tuple[float, ...]:
        """Each student's total as a percentage of their points available."""
        return tuple(
            100.0 * r.report.score / r.report.max_score if r.report.max_score else 0.0
            for r in self.students
        )

    @property
    def mean_percent(self) -> float:
        """The class's mean total, in percent."""
        return statistics.fmean(self.percents) if self.students else 0.0

    @property
    def median_percent(self) -> float:
        """The class's median total, in percent."""
        return statistics.median(self.percents) if self.students else 0.0

    @property
    def crashed_students(self) -> int:
        """Students whose code crashed on at least one exercise."""
        return sum(
            1
            for r in self.students
            if any(e.outcome is Outcome.CRASHED for e in r.report.exercises)
        )

    @property
    def grader_error_students(self) -> int:
        """Students with at least one grader error (never their fault)."""
        return sum(1 for r in self.students if r.report.grader_errors)

    def row(self, record: StudentRecord) -> list[ExerciseResult | None]:
        """``record``'s result of each exercise of the class, in order (None when not graded)."""
        by_id = {r.id: r for r in record.report.exercises}
        return [by_id.get(e.id) for e in self.exercises]

    @property
    def seeds(self) -> tuple[int, ...]:
        """The dataset seeds the class was graded with."""
        return tuple(sorted({r.report.seed for r in self.students}))

    @property
    def dialects(self) -> tuple[str, ...]:
        """The databases the class was graded on."""
        return tuple(sorted({r.report.dialect for r in self.students}))


def _masked(message: str) -> str:
    return _NUMBER.sub("#", message)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _failures(results: Iterable[ExerciseResult]) -> tuple[FailureCount, ...]:
    groups: dict[tuple[str, str], Counter[str]] = {}
    for result in results:
        found: dict[tuple[str, str], str] = {}
        if result.outcome is not Outcome.GRADED:
            label = CRASHED if result.outcome is Outcome.CRASHED else GRADER_ERROR
            line = _first_line(result.error)
            found[(label, _masked(line))] = line
        else:
            for check in result.checks:
                if not check.passed:
                    found.setdefault((check.name, _masked(check.message)), check.message)
        for key, message in found.items():
            groups.setdefault(key, Counter())[message] += 1
    ranked = sorted(groups.items(), key=lambda item: (-item[1].total(), item[0]))
    return tuple(
        FailureCount(check, wordings.most_common(1)[0][0], wordings.total())
        for (check, _), wordings in ranked[:TOP_FAILURES]
    )


def _queries(result: ExerciseResult | None, key: str = "queries") -> int | None:
    if result is None:
        return None
    value = result.stats.get(key)
    return value if isinstance(value, int) else None


def summarize(
    records: Sequence[StudentRecord],
    reference: GradeReport | None = None,
    skipped: Sequence[SkippedFile] = (),
) -> ClassSummary:
    """The figures of the dashboard, from every student's latest results."""
    order: dict[str, ExerciseResult] = {}
    if reference is not None:
        for result in reference.exercises:
            order.setdefault(result.id, result)
    for record in records:
        for result in record.report.exercises:
            order.setdefault(result.id, result)
    exercises = []
    for exercise_id, first in order.items():
        results = [r for record in records for r in record.report.exercises if r.id == exercise_id]
        check_names = list(dict.fromkeys(c.name for r in results for c in r.checks))
        max_points = {c.name: c.max_points for r in results for c in r.checks}
        checks = tuple(
            CheckSummary(
                name=name,
                max_points=max_points[name],
                passed=sum(
                    1
                    for r in results
                    if r.outcome is Outcome.GRADED
                    and any(c.name == name and c.passed for c in r.checks)
                ),
                students=len(results),
            )
            for name in check_names
        )
        starters = [q for r in results if (q := _queries(r, "starter_queries")) is not None]
        reference_result = None
        if reference is not None:
            reference_result = next((r for r in reference.exercises if r.id == exercise_id), None)
        exercises.append(
            ExerciseSummary(
                id=exercise_id,
                title=first.title,
                max_score=first.max_score,
                students=len(results),
                full_marks=sum(1 for r in results if r.passed),
                crashed=sum(1 for r in results if r.outcome is Outcome.CRASHED),
                grader_errors=sum(1 for r in results if r.outcome is Outcome.GRADER_ERROR),
                mean_score=statistics.fmean(r.score for r in results) if results else 0.0,
                checks=checks,
                failures=_failures(results),
                queries=tuple(
                    q
                    for r in results
                    if r.outcome is Outcome.GRADED and (q := _queries(r)) is not None
                ),
                reference_queries=_queries(reference_result),
                starter_queries=Counter(starters).most_common(1)[0][0] if starters else None,
            )
        )
    return ClassSummary(
        students=tuple(sorted(records, key=lambda r: r.student)),
        exercises=tuple(exercises),
        reference=reference,
        skipped=tuple(skipped),
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    )


# -- charts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """One chart of the page.

    Attributes:
        key: The chart's element id suffix (``scores``, ``heatmap`` …).
        title: Its heading.
        spec: The Plotly figure as JSON, safe to place inside a ``<script>`` element.
    """

    key: str
    title: str
    spec: Markup


def script_safe_json(text: str) -> Markup:
    """JSON text that cannot end its ``<script>`` element or open a comment there."""
    safe = (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return Markup(safe)


def _label(text: str) -> str:
    # Plotly reads <b>, <br> and friends in labels; entities show as the characters.
    return html.escape(text, quote=False)


@cache
def _template() -> dict[str, Any]:
    import plotly.io as pio

    template: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()
    return template


def _figure(data: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    """A Plotly figure in its JSON form (traces and layout, as plotly.js reads them)."""
    base: dict[str, Any] = {
        "template": _template(),
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "font": {"family": "system-ui, sans-serif", "size": 12},
    }
    base.update(layout)
    return {"data": data, "layout": base}


def _figure_json(figure: dict[str, Any]) -> Markup:
    import plotly.io as pio

    return script_safe_json(pio.to_json(figure, validate=False, pretty=False))


def _count_axis(counts: Iterable[int]) -> dict[str, Any]:
    """A y axis of whole students: integer ticks, about six of them."""
    highest = max(counts, default=0)
    return {
        "title": {"text": "students"},
        "rangemode": "tozero",
        "tickformat": ",d",
        "dtick": max(1, math.ceil(highest / 6)),
    }


def _score_chart(summary: ClassSummary) -> dict[str, Any]:
    counts = [0] * SCORE_BINS
    for percent in summary.percents:
        counts[min(SCORE_BINS - 1, int(percent // (100 / SCORE_BINS)))] += 1
    size = 100 / SCORE_BINS
    bars = {
        "type": "bar",
        "x": [size * (i + 0.5) for i in range(SCORE_BINS)],
        "y": counts,
        "width": size * 0.95,
        "customdata": [f"{size * i:.0f}–{size * (i + 1):.0f}%" for i in range(SCORE_BINS)],
        "marker": {"color": "#4c78a8"},
        "hovertemplate": "%{customdata}: %{y} students<extra></extra>",
    }
    return _figure(
        [bars],
        xaxis={"title": {"text": "total score (% of points)"}, "range": [0, 100]},
        yaxis=_count_axis(counts),
        height=320,
    )


def _exercise_chart(summary: ClassSummary) -> dict[str, Any]:
    ids = [_label(e.id) for e in summary.exercises]
    full = [100 * e.pass_rate for e in summary.exercises]
    crashed = [100 * e.crashed / e.students if e.students else 0 for e in summary.exercises]
    return _figure(
        [
            {
                "type": "bar",
                "name": "full marks",
                "x": ids,
                "y": full,
                "marker": {"color": "#54a24b"},
                "hovertemplate": "%{x}: %{y:.0f}% at full marks<extra></extra>",
            },
            {
                "type": "bar",
                "name": "crashed",
                "x": ids,
                "y": crashed,
                "marker": {"color": "#e45756"},
                "hovertemplate": "%{x}: %{y:.0f}% crashed<extra></extra>",
            },
        ],
        barmode="group",
        yaxis={"title": {"text": "% of students"}, "range": [0, 100]},
        height=320,
    )


def _scored(exercise: ExerciseSummary) -> list[CheckSummary]:
    # A 0-point check (lock_feedback) is feedback, not a pass/fail rule of the class.
    return [c for c in exercise.checks if c.max_points > 0]


def _check_chart(summary: ClassSummary) -> dict[str, Any]:
    labels = [f"{_label(e.id)} · {_label(c.name)}" for e in summary.exercises for c in _scored(e)]
    rates = [100 * c.pass_rate for e in summary.exercises for c in _scored(e)]
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": rates,
        "y": labels,
        "marker": {"color": "#72b7b2"},
        "hovertemplate": "%{y}: %{x:.0f}% passed<extra></extra>",
    }
    return _figure(
        [bars],
        xaxis={"title": {"text": "% of students who met the check"}, "range": [0, 100]},
        yaxis={"autorange": "reversed", "automargin": True},
        height=max(260, 24 * len(labels) + 80),
    )


def has_query_counts(exercise: ExerciseSummary) -> bool:
    """Whether the exercise has any query count to chart (migration exercises have none)."""
    return bool(exercise.queries) or (
        exercise.reference_queries is not None or exercise.starter_queries is not None
    )


def _marks(exercise: ExerciseSummary) -> list[tuple[int, str, str, str]]:
    """The reference and starter lines of one panel: value, label, colour, dash.

    Equal counts share one label: two labels on one line would cover each other.
    """
    reference, starter = exercise.reference_queries, exercise.starter_queries
    if reference is not None and reference == starter:
        return [(reference, f"{REFERENCE_LABEL} = {STARTER_LABEL}: {reference}", "#555", "solid")]
    marks = []
    if reference is not None:
        marks.append((reference, f"{REFERENCE_LABEL}: {reference}", "#2ca02c", "solid"))
    if starter is not None:
        marks.append((starter, f"{STARTER_LABEL}: {starter}", "#d62728", "dash"))
    return marks


def _query_chart(summary: ClassSummary) -> dict[str, Any]:
    """One histogram per exercise, stacked, with the reference and starter counts marked.

    Exercises without query counts (migrations) get no panel. Each mark's label
    sits on the side of its line with more room, the second one lower than the
    first, so labels neither cover each other nor run off the chart.
    """
    exercises = [e for e in summary.exercises if has_query_counts(e)]
    if not exercises:
        return _figure(
            [],
            height=160,
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[
                {
                    "text": NO_QUERY_COUNTS,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                    "showarrow": False,
                }
            ],
        )
    rows = len(exercises)
    spacing = min(0.12, 0.6 / rows)
    height = (1 - spacing * (rows - 1)) / rows
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {"shapes": [], "annotations": [], "showlegend": False}
    for row, exercise in enumerate(exercises):
        suffix = "" if row == 0 else str(row + 1)
        x_name, y_name = f"x{suffix}", f"y{suffix}"
        top = 1 - row * (height + spacing)
        known = (exercise.reference_queries, exercise.starter_queries)
        marked = [v for v in known if v is not None]
        highest = max([*exercise.queries, *marked, 1])
        width = max(1, math.ceil((highest + 1) / QUERY_BINS))
        binned = sorted(Counter(q // width for q in exercise.queries).items())
        low, high = -0.5, highest * 1.15 + width
        data.append(
            {
                "type": "bar",
                "xaxis": x_name,
                "yaxis": y_name,
                "name": _label(exercise.id),
                "x": [b * width + (width - 1) / 2 for b, _ in binned],
                "y": [students for _, students in binned],
                "width": width * 0.9,
                "customdata": [
                    f"{b * width}" if width == 1 else f"{b * width}–{(b + 1) * width - 1}"
                    for b, _ in binned
                ],
                "marker": {"color": "#4c78a8"},
                "hovertemplate": "%{customdata} queries: %{y} students<extra></extra>",
            }
        )
        layout[f"xaxis{suffix}"] = {
            "anchor": y_name,
            "range": [low, high],
            "dtick": max(1, math.ceil((highest + 1) / 10)),
            **({"title": {"text": "queries emitted"}} if row == rows - 1 else {}),
        }
        layout[f"yaxis{suffix}"] = {
            "anchor": x_name,
            "domain": [max(0.0, top - height), top],
            **_count_axis(n for _, n in binned),
        }
        layout["annotations"].append(
            {
                "text": _label(exercise.id),
                "x": 0.5,
                "xref": "paper",
                "y": top,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 14},
            }
        )
        for number, (value, text, color, dash) in enumerate(_marks(exercise)):
            layout["shapes"].append(
                {
                    "type": "line",
                    "xref": x_name,
                    "yref": f"{y_name} domain",
                    "x0": value,
                    "x1": value,
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": color, "dash": dash, "width": 2},
                }
            )
            layout["annotations"].append(
                {
                    "text": text,
                    "x": value,
                    "xref": x_name,
                    "y": 1 - MARK_LABEL_STEP * number,
                    "yref": f"{y_name} domain",
                    "xanchor": "left" if value - low <= (high - low) / 2 else "right",
                    "xshift": 4 if value - low <= (high - low) / 2 else -4,
                    "yanchor": "top",
                    "showarrow": False,
                    "bgcolor": "rgba(255,255,255,0.8)",
                    "font": {"color": color},
                }
            )
    return _figure(data, height=60 + 230 * rows, bargap=0.05, **layout)


def _heatmap(summary: ClassSummary) -> dict[str, Any]:
    exercises = [e.id for e in summary.exercises]
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for record in summary.students:
        row: list[float | None] = []
        labels: list[str] = []
        for result in summary.row(record):
            if result is None:
                row.append(None)
                labels.append("not graded")
                continue
            row.append(result.score / result.max_score if result.max_score else 0.0)
            note = "" if result.outcome is Outcome.GRADED else f" ({result.outcome.value})"
            labels.append(f"{result.score}/{result.max_score}{note}")
        z.append(row)
        text.append(labels)
    students = [_label(r.student) for r in summary.students]
    many = len(students) > HEATMAP_LABELLED
    cells = {
        "type": "heatmap",
        "z": z,
        "x": [_label(e) for e in exercises],
        "y": students,
        "text": text,
        "zmin": 0,
        "zmax": 1,
        "colorscale": [[0, "#d73027"], [0.5, "#fee08b"], [1, "#1a9850"]],
        "colorbar": {"title": {"text": "share of points"}},
        "hovertemplate": "%{y} · %{x}: %{text}<extra></extra>",
        "xgap": 1,
        "ygap": 0 if many else 1,
    }
    return _figure(
        [cells],
        yaxis={"autorange": "reversed", "showticklabels": not many, "automargin": True},
        height=min(1200, max(300, 22 * len(students) + 120)),
    )


#: The page's charts in page order: key, heading, figure builder.
CHARTS: tuple[tuple[str, str, Callable[[ClassSummary], dict[str, Any]]], ...] = (
    ("scores", "Class score distribution", _score_chart),
    ("exercises", "Pass rate per exercise", _exercise_chart),
    ("checks", "Pass rate per check", _check_chart),
    ("queries", "Queries emitted per exercise", _query_chart),
    ("heatmap", "Students × exercises", _heatmap),
)
#: The chart keys, in page order (each chart's element id is ``chart-<key>``).
CHART_KEYS = tuple(key for key, _, _ in CHARTS)


def charts(summary: ClassSummary) -> dict[str, Chart]:
    """The page's charts by key, each a Plotly figure in script-safe JSON."""
    return {key: Chart(key, title, _figure_json(build(summary))) for key, title, build in CHARTS}


# -- page -----------------------------------------------------------------------


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["percent"] = lambda value: f"{100 * value:.0f}%"
    environment.filters["clip"] = _clip
    return environment


def _clip(text: str, limit: int = EVIDENCE_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[… {len(text) - limit} more characters in the results file]"


@cache
def plotly_js() -> Markup:
    """Plotly's JavaScript bundle, to inline in the page (no network needed to view it)."""
    from plotly.offline import get_plotlyjs

    # The bundle is the library's own code; it must still not end its element early.
    return Markup(re.sub(r"</(script)", r"<\\/\1", get_plotlyjs(), flags=re.IGNORECASE))


def render(summary: ClassSummary) -> str:
    """The dashboard page for ``summary``: one HTML document with everything inlined."""
    template = _environment().get_template(PAGE_TEMPLATE)
    return template.render(
        summary=summary,
        charts=charts(summary),
        plotly_js=plotly_js(),
        grader_version=__version__,
        outcome=Outcome,
        without_queries=[e.id for e in summary.exercises if not has_query_counts(e)],
    )


def write_dashboard(
    path: str | Path,
    records: Sequence[StudentRecord],
    reference: GradeReport | None = None,
    skipped: Sequence[SkippedFile] = (),
) -> ClassSummary:
    """Summarize ``records`` and write the page to ``path`` atomically."""
    summary = summarize(records, reference, skipped)
    write_atomic(path, render(summary))
    return summary
