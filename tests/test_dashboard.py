"""The class dashboard: figures, one self-contained page, escaping, a real browser."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.dashboard import CHART_KEYS, CRASHED, summarize
from grader.gradebook import (
    DEFAULT_FILE,
    REFERENCE_FILE,
    Gradebook,
    StudentRecord,
    results_file_name,
)
from grader.gradebook.export import STUDENT_COLUMN, TOTAL_COLUMN
from grader.gradebook.folder import FOREIGN, NOT_JSON
from grader.results import to_json, write_atomic
from tests.browser import chromium_path, headless_chromium
from tests.conftest import REQUIRE_ENV
from tests.synthetic import REFERENCE_QUERIES, exercise_result, report, write_report

#: A student's folder name that tries to run a script in the instructor's browser.
SCRIPT_NAME = "<script>alert(1)</script>"
#: Student-controlled text that tries to end the page's script elements.
CLOSING_SCRIPT = "</script><script>alert('closing')</script>"
IMG_ATTACK = "<img src=x onerror=alert(2)>"
#: Every piece of student text the page must show as text, never as markup.
ATTACKS = (SCRIPT_NAME, CLOSING_SCRIPT, IMG_ATTACK)


@dataclass(frozen=True)
class Rendered:
    """The dashboard written by the CLI for the synthetic class."""

    results: Path
    page: Path
    html: str
    output: str


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = tmp_path_factory.mktemp("dashboard")
    results = root / "results"
    write_report(results, "alice", report())
    write_report(
        results,
        "bob",
        report(
            {
                "filter_limit": exercise_result("filter_limit", ["where_in_sql", "limit_in_sql"]),
                "eager_loading": exercise_result(
                    "eager_loading", ["no_n_plus_one", "max_queries"], 29
                ),
            }
        ),
    )
    write_report(
        results,
        "eve",
        report(
            {
                "eager_loading": exercise_result(
                    "eager_loading", ["no_n_plus_one", "max_queries"], 31
                )
            }
        ),
    )
    write_report(
        results,
        "carol",
        report(
            {
                "filter_limit": exercise_result(
                    "filter_limit", crashed=f"run() raised ValueError: {CLOSING_SCRIPT}"
                )
            }
        ),
    )
    write_report(
        results,
        SCRIPT_NAME,
        report(
            {
                "filter_limit": exercise_result(
                    "filter_limit",
                    ["max_queries"],
                    3,
                    message=f"3 queries emitted {IMG_ATTACK}",
                    evidence=f"SELECT '{CLOSING_SCRIPT}' FROM users",
                )
            },
            warnings=[f"edited {IMG_ATTACK}"],
        ),
    )
    with Gradebook.open(results / DEFAULT_FILE) as book:
        book.ingest(
            "dave", report({"filter_limit": exercise_result("filter_limit", ["where_in_sql"])})
        )
    write_report(results, "dave", report(created_at="2026-01-09T10:00:00+00:00"))
    (results / "notes.json").write_text("{oops", encoding="utf-8")
    (results / "package.json").write_text('{"name": "x"}', encoding="utf-8")
    reference = report(student="solutions")
    write_atomic(results / REFERENCE_FILE, to_json(reference))

    page = root / "dashboard.html"
    result = CliRunner().invoke(
        main, ["dashboard", str(results), "-o", str(page)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return Rendered(results, page, page.read_text(encoding="utf-8"), result.output)


def test_the_cli_writes_the_page_and_names_skipped_files(rendered: Rendered) -> None:
    assert f"dashboard written to {rendered.page}: 6 student(s), 2 exercise(s)" in rendered.output
    assert f"skipped package.json: {FOREIGN}" in rendered.output
    assert "skipped notes.json: " + NOT_JSON.split("{")[0] in rendered.output
    assert rendered.results.joinpath(results_file_name(SCRIPT_NAME)).is_file()


def _latest(rendered: Rendered) -> list[StudentRecord]:
    with Gradebook.open(rendered.results / DEFAULT_FILE) as book:
        return book.latest()


def test_the_summary_has_the_class_figures(rendered: Rendered) -> None:
    records = _latest(rendered)
    reference = report()
    summary = summarize(records, reference)
    filter_limit, eager_loading = summary.exercises

    assert [r.student for r in summary.students] == sorted(
        ["alice", "bob", "carol", "dave", "eve", SCRIPT_NAME]
    )
    assert next(r for r in summary.students if r.student == "dave").gradings == 2
    assert (filter_limit.students, filter_limit.full_marks, filter_limit.crashed) == (6, 3, 1)
    assert filter_limit.reference_queries == REFERENCE_QUERIES["filter_limit"]
    assert eager_loading.reference_queries == REFERENCE_QUERIES["eager_loading"]
    assert eager_loading.starter_queries == 29
    assert sorted(eager_loading.queries) == [2, 2, 2, 2, 29, 31]
    assert filter_limit.queries.count(1) == 4  # the crashed run is not counted
    checks = {c.name: c for c in eager_loading.checks}
    assert (checks["no_n_plus_one"].passed, checks["no_n_plus_one"].students) == (4, 6)
    assert summary.crashed_students == 1


def test_failures_that_differ_only_in_figures_count_together(rendered: Rendered) -> None:
    summary = summarize(_latest(rendered))
    filter_limit, eager_loading = summary.exercises

    top = eager_loading.failures[0]
    assert top.students == 2
    assert top.check in ("max_queries", "no_n_plus_one")
    crash = next(f for f in filter_limit.failures if f.check == CRASHED)
    assert crash.students == 1
    assert crash.message == f"run() raised ValueError: {CLOSING_SCRIPT}"


def test_the_page_has_every_chart_and_needs_no_network(rendered: Rendered) -> None:
    page = rendered.html
    for key in CHART_KEYS:
        assert page.count(f'data-chart="chart-{key}"') == 1
        assert page.count(f'<div class="chart" id="chart-{key}"></div>') == 1
    assert "Plotly.newPlot" in page
    assert len(page) > 1_000_000  # plotly.js is inlined
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page)


def test_student_text_is_escaped_everywhere(rendered: Rendered) -> None:
    page = rendered.html
    for attack in ATTACKS:
        assert attack not in page
    assert html.escape(SCRIPT_NAME, quote=False) in page
    assert html.escape(IMG_ATTACK, quote=False) in page
    # Only the page's own script elements: plotly.js, the bootstrap and one per chart.
    assert len(re.findall(r"<script\b", page, re.IGNORECASE)) == 2 + len(CHART_KEYS)
    assert len(re.findall(r"</script", page, re.IGNORECASE)) == 2 + len(CHART_KEYS)

    specs = re.findall(
        r'<script type="application/json" data-chart="[^"]+">(.*?)</script>', page, re.S
    )
    assert len(specs) == len(CHART_KEYS)
    assert all("<" not in spec and ">" not in spec for spec in specs)
    heatmap = json.loads(specs[CHART_KEYS.index("heatmap")])
    # Plotly reads tags in labels, so names reach it HTML-escaped (shown as typed).
    assert html.escape(SCRIPT_NAME, quote=False) in heatmap["data"][0]["y"]


def test_the_export_writes_the_gradebook_csv(rendered: Rendered, tmp_path: Path) -> None:
    target = tmp_path / "grades.csv"
    result = CliRunner().invoke(
        main, ["export", str(rendered.results), "--csv", str(target)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert f"{target}: 6 student(s)" in result.output
    rows = {row[STUDENT_COLUMN]: row for row in csv.DictReader(io.StringIO(target.read_text()))}
    assert list(next(iter(rows.values()))) == [
        STUDENT_COLUMN,
        "filter_limit",
        "eager_loading",
        TOTAL_COLUMN,
    ]
    assert rows["alice"] == {
        STUDENT_COLUMN: "alice",
        "filter_limit": "10",
        "eager_loading": "10",
        TOTAL_COLUMN: "20",
    }
    assert (rows["carol"]["filter_limit"], rows["carol"][TOTAL_COLUMN]) == ("0", "10")
    assert rows["dave"][TOTAL_COLUMN] == "20"  # the latest of dave's two gradings
    assert rows[SCRIPT_NAME][TOTAL_COLUMN] == "18"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system Chromium; skip without it (fail under ORMGRADE_REQUIRE_SERVERS=1)."""
    path = chromium_path()
    if path is None:
        reason = "chromium is not installed (apt-get install chromium)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)")
        pytest.skip(reason)
    return path


def test_the_dashboard_renders_in_headless_chromium(
    rendered: Rendered, chromium: str, tmp_path: Path
) -> None:
    with headless_chromium(chromium) as page:
        page.open(rendered.page.resolve().as_uri())
        svgs = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('div.chart'))"
            ".map(c => [c.id.replace('chart-', ''), c.querySelectorAll('.main-svg').length]))"
        )
        heatmap_cells = page.evaluate(
            "document.querySelectorAll('#chart-heatmap .hm image').length"
        )
        bars = page.evaluate("document.querySelectorAll('#chart-exercises .bars .point').length")
        lines = page.evaluate("document.querySelectorAll('#chart-queries .shapelayer path').length")
        names = page.evaluate(
            "Array.from(document.querySelectorAll('details.student .name')).map(n => n.textContent)"
        )
        dialogs = page.evaluate("window.__dialogs")
        page.evaluate("document.querySelectorAll('details.student').forEach(d => d.open = true)")
        shot = page.screenshot(tmp_path / "dashboard.png")
        problems = list(page.problems)

    assert set(svgs) == set(CHART_KEYS)
    assert all(count >= 2 for count in svgs.values()), svgs
    assert heatmap_cells == 1
    assert bars == 4  # two exercises × (full marks, crashed)
    assert lines == 4  # reference and starter marked on each exercise
    assert SCRIPT_NAME in names
    assert dialogs == []
    assert problems == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000
