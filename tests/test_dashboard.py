"""The class dashboard: figures, one self-contained page, escaping, a real browser."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Locator, Page, expect

from grader.classbook.dashboard import (
    CHART_KEYS,
    CRASHED,
    NO_QUERY_COUNTS,
    REFERENCE_LABEL,
    STARTER_LABEL,
    charts,
    summarize,
)
from grader.classbook.gradebook import (
    DEFAULT_FILE,
    REFERENCE_FILE,
    Gradebook,
    StudentRecord,
    read_results,
    results_file_name,
)
from grader.classbook.gradebook.export import STUDENT_COLUMN, TOTAL_COLUMN
from grader.classbook.gradebook.folder import (
    BAD_VALUE,
    FOREIGN,
    MALFORMED,
    MAX_DEPTH,
    NOT_JSON,
    TOO_DEEP,
)
from grader.cli import main
from grader.results import to_json, write_atomic
from tests.browser import chromium_path, system_chromium, watched_page
from tests.conftest import REQUIRE_ENV
from tests.synthetic import (
    LOCK_FEEDBACK,
    MIGRATION,
    REFERENCE_QUERIES,
    exercise_result,
    migration_result,
    report,
    write_report,
)

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
def browser() -> Iterator[Browser]:
    """The system Chromium under Playwright; skip without it.

    Under ORMGRADE_REQUIRE_SERVERS=1 (CI) a missing Chromium fails instead.
    """
    path = chromium_path()
    if path is None:
        reason = "chromium is not installed (apt-get install chromium)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)")
        pytest.skip(reason)
    with system_chromium(path) as launched:
        yield launched


def _png(path: Path) -> Path:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    return path


def _student(page: Page, name: str) -> Locator:
    """The feedback block of the student called exactly ``name``."""
    exact = re.compile(f"^{re.escape(name)}$")
    return page.locator("details.student").filter(has=page.locator(".name", has_text=exact))


def _in_view(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    return box["y"] < viewport["height"] and box["y"] + box["height"] > 0


def test_an_instructor_reads_the_dashboard_in_chromium(
    rendered: Rendered, browser: Browser, tmp_path: Path
) -> None:
    with watched_page(browser) as watched:
        page = watched.page
        page.goto(rendered.page.resolve().as_uri())

        # Every chart is drawn.
        for key in CHART_KEYS:
            expect(page.locator(f"#chart-{key} .main-svg").first).to_be_visible()
        assert page.locator("#chart-heatmap .hm image").count() == 1
        assert page.locator("#chart-exercises .bars .point").count() == 4  # 2 exercises × 2
        # filter_limit's reference and starter share one line; eager_loading's are apart.
        assert page.locator("#chart-queries .shapelayer path").count() == 3
        page.screenshot(path=tmp_path / "page.png", full_page=True)

        # Hovering a bar shows its tooltip.
        page.locator("#chart-exercises").scroll_into_view_if_needed()
        page.locator("#chart-exercises .bars .point path").first.hover(force=True)
        tooltip = page.locator("#chart-exercises .hoverlayer .hovertext")
        expect(tooltip).to_have_count(1)
        expect(tooltip).to_contain_text("filter_limit: 50% at full marks")
        page.locator("#chart-exercises").screenshot(path=tmp_path / "tooltip.png")

        # Switching students in the picker opens each one's feedback.
        bob, eve = (_student(page, name) for name in ("bob", "eve"))
        expect(bob).not_to_have_attribute("open", "")
        page.select_option("#student-picker", label="bob")
        expect(bob).to_have_attribute("open", "")
        assert _in_view(page, f"#{bob.get_attribute('id')}")
        page.select_option("#student-picker", label="eve")
        expect(eve).to_have_attribute("open", "")
        assert _in_view(page, f"#{eve.get_attribute('id')}")
        assert page.evaluate("location.hash") == f"#{eve.get_attribute('id')}"
        eve.screenshot(path=tmp_path / "student.png")

        # Following the roster's link to a student opens their feedback (their name stays text).
        page.locator("table.roster a", has_text=SCRIPT_NAME).click()
        attacker = _student(page, SCRIPT_NAME)
        expect(attacker).to_have_attribute("open", "")
        expect(attacker.locator(".name")).to_have_text(SCRIPT_NAME)
        expect(page.locator("#student-picker")).to_have_value(attacker.get_attribute("id") or "")

        # And the navigation bar's links reach their sections.
        page.locator("nav a", has_text="Query counts").click()
        assert page.evaluate("location.hash") == "#queries"
        assert _in_view(page, "#queries h2")
        page.screenshot(path=tmp_path / "queries.png")

    assert watched.problems == []
    shots = [_png(tmp_path / f"{n}.png") for n in ("page", "tooltip", "student", "queries")]
    assert shots[0].stat().st_size > 100_000  # the whole page, every chart drawn


# -- results that would break the dashboard, and charts of awkward figures ---------------


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """A class with a migration exercise, equal reference and starter counts, and bad files."""
    root = tmp_path_factory.mktemp("edges")
    results = root / "results"
    for student, failed in (("alice", ()), ("bob", ("models_match",))):
        document = report(student=student)
        document = replace(document, exercises=(*document.exercises, migration_result(failed)))
        write_report(results, student, document)
    good = json.dumps(report().to_dict())
    for name, text in HOSTILE_FILES.items():
        (results / name).write_text(text(good), encoding="utf-8")
    reference = report(student="solutions")
    reference = replace(reference, exercises=(*reference.exercises, migration_result()))
    write_atomic(results / REFERENCE_FILE, to_json(reference))
    page = root / "dashboard.html"
    result = CliRunner().invoke(
        main, ["dashboard", str(results), "-o", str(page)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return Rendered(results, page, page.read_text(encoding="utf-8"), result.output)


#: Results files that once broke the dashboard or slipped into it, by file name.
HOSTILE_FILES = {
    "deep.json": lambda good: good.replace(
        '"stats": {', '"stats": {"x": ' + "[" * 100_000 + "]" * 100_000 + ", ", 1
    ),
    "huge.json": lambda good: good.replace('"points": 2,', f'"points": {10**400},', 1),
    "nan.json": lambda good: good.replace('"points": 2,', '"points": NaN,', 1),
    "negative.json": lambda good: good.replace('"points": 2,', '"points": -2,', 1),
}


def test_broken_results_are_named_and_the_class_is_still_shown(edges: Rendered) -> None:
    assert "3 exercise(s)" in edges.output and ": 2 student(s)" in edges.output
    for name in HOSTILE_FILES:
        assert f"skipped {name}: " in edges.output
        assert f"<code>{name}</code>: " in edges.html
    assert f"skipped deep.json: {TOO_DEEP.format(limit=MAX_DEPTH)}" in edges.output
    assert (
        "skipped negative.json: "
        + MALFORMED.format(
            detail=BAD_VALUE.format(
                field="exercises[0].checks[1].points", expected="an integer from 0 to 2", found="-2"
            )
        )
        in edges.output
    )
    assert "Traceback" not in edges.output


def test_the_charts_show_only_what_they_can_show(edges: Rendered) -> None:
    with Gradebook.open(edges.results / DEFAULT_FILE) as book:
        summary = summarize(book.latest(), read_results(edges.results / REFERENCE_FILE))
    figures = {key: json.loads(str(chart.spec)) for key, chart in charts(summary).items()}

    check_labels = figures["checks"]["data"][0]["y"]
    assert f"{MIGRATION} · models_match" in check_labels
    assert not any(LOCK_FEEDBACK in label for label in check_labels)

    queries = figures["queries"]
    assert [trace["name"] for trace in queries["data"]] == ["filter_limit", "eager_loading"]
    marks = [a["text"] for a in queries["layout"]["annotations"] if ":" in a["text"]]
    # filter_limit's reference and starter both emit 1 query: one label, not two on one line.
    assert marks == [
        f"{REFERENCE_LABEL} = {STARTER_LABEL}: 1",
        f"{REFERENCE_LABEL}: 2",
        f"{STARTER_LABEL}: 29",
    ]
    assert f"No panel for {MIGRATION}: no query counts in their results." in edges.html


def test_a_class_without_query_counts_gets_a_note_not_an_empty_panel() -> None:
    record = StudentRecord(
        "alice", replace(report(), exercises=(migration_result(),)), gradings=1, source="a"
    )
    figure = json.loads(str(charts(summarize([record]))["queries"].spec))
    assert figure["data"] == []
    assert [a["text"] for a in figure["layout"]["annotations"]] == [NO_QUERY_COUNTS]


def _boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return page.eval_on_selector_all(
        selector,
        "nodes => nodes.map(n => { const r = n.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height, text: n.textContent}; })",
    )


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_query_labels_neither_overlap_nor_clip_in_chromium(
    edges: Rendered, browser: Browser, tmp_path: Path
) -> None:
    with watched_page(browser, width=900) as watched:
        page = watched.page
        page.goto(edges.page.resolve().as_uri())
        chart = page.locator("#chart-queries")
        chart.scroll_into_view_if_needed()
        expect(chart.locator(".main-svg").first).to_be_visible()
        frame = chart.locator(".main-svg").first.bounding_box()
        labels = _boxes(page, "#chart-queries .annotation-text-g")
        chart.screenshot(path=tmp_path / "queries.png")
        check_ticks = page.locator("#chart-checks .ytick text").all_text_contents()
        page.locator("#chart-checks").screenshot(path=tmp_path / "checks.png")

    assert watched.problems == []
    assert frame is not None
    texts = [label["text"] for label in labels]
    assert texts.count(f"{REFERENCE_LABEL} = {STARTER_LABEL}: 1") == 1
    assert f"{MIGRATION}" not in texts  # no empty panel for the migration
    for label in labels:
        assert label["width"] > 0, label
        assert (
            frame["x"] <= label["x"] and label["x"] + label["width"] <= frame["x"] + frame["width"]
        ), label
        assert frame["y"] <= label["y"] <= frame["y"] + frame["height"], label
    for number, label in enumerate(labels):
        for other in labels[number + 1 :]:
            assert not _overlap(label, other), (label, other)
    assert not any(LOCK_FEEDBACK in tick for tick in check_ticks)
    assert any("models_match" in tick for tick in check_ticks)
    _png(tmp_path / "queries.png")
    _png(tmp_path / "checks.png")
