"""GitHub Classroom: the workflow, the step output blob, and the reporter's arithmetic.

The workflow's grading steps are run as GitHub Actions would run them (each
with its own ``$GITHUB_OUTPUT`` file), on the reference solutions and on the
starters, and their outputs go through a test double of
``classroom-resources/autograding-grading-reporter@v1``.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from grader.authoring.release import (
    CHECKOUT_ACTION,
    INSTALL_COMMAND,
    NO_RESULT_MESSAGE,
    NO_RESULT_NAME,
    PYTHON_VERSION,
    REPORTER_ACTION,
    RUNNERS_PATTERN,
    SETUP_PYTHON_ACTION,
    grade_command,
    no_result,
    render_workflow,
    results_env,
    step_id,
)
from grader.cli import EXIT_GRADER, EXIT_OK, EXIT_USAGE, main
from grader.course.catalog import Catalog
from grader.report.classroom import (
    CRASHED_MESSAGE,
    GRADER_ERROR_MESSAGE,
    NO_OUTPUT_MESSAGE,
    OUTPUT_ENV,
    POINTS_LINE,
    RESULT_VERSION,
    append_output,
    classroom_result,
    encode_result,
    feedback,
)
from grader.report.sanitize import (
    QUOTE_PREFIX,
    looks_like_workflow_command,
    neutralize_workflow_commands,
    quote_workflow_commands,
)
from grader.results import CheckResult, Evidence, ExerciseResult, GradeReport, Outcome, from_json
from tests.conftest import case_dir

IDS = ("filter_limit", "eager_loading", "column_projection")
STEP_IDS = ("filterLimit", "eagerLoading", "columnProjection")
SEED = 7
TEST_KEYS = {"name", "status", "score", "message", "test_code", "filename", "line_no", "duration"}


# -- a test double of the reporter ----------------------------------------------------


@dataclass(frozen=True)
class ReporterView:
    """What the reporter shows and sends, computed by its rules.

    Attributes:
        notice: The check-run annotation GitHub Classroom reads the grade from
            (None when the reporter failed before posting it).
        table: Per runner, the "Test Score" column: passed tests / tests x max_score.
        console: Per runner, the "Total points for <runner>: X/100" figure.
        grand_total: The "Grand total points: X/100" figure.
        error: What the reporter printed when it failed.
    """

    notice: str | None
    table: dict[str, float]
    console: dict[str, float]
    grand_total: float
    error: str | None = None


class ReporterFailed(Exception):
    """A runner's result could not be decoded (the reporter's ``catch`` branch)."""


def _decode_like_the_reporter(encoded: str | None) -> dict[str, Any]:
    # Buffer.from(undefined, "base64") throws; "" decodes to "", which JSON.parse refuses.
    if encoded is None:
        raise ReporterFailed("The first argument must be of type string")
    text = base64.b64decode(encoded).decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReporterFailed(f"Unexpected end of JSON input ({exc})") from None


def reporter(runners: str, env: dict[str, str]) -> ReporterView:
    """The reporter's documented rules: decode every ``<RUNNER>_RESULTS``, then total.

    Any runner whose result cannot be decoded fails the whole action before
    any total is posted; its message then depends on whether ``runners``
    matches `RUNNERS_PATTERN`.
    """
    try:
        results = [
            (runner, _decode_like_the_reporter(env.get(f"{runner.strip().upper()}_RESULTS")))
            for runner in runners.split(",")
        ]
    except ReporterFailed as exc:
        message = (
            "The runners input must be a comma-separated list of strings."
            if not RUNNERS_PATTERN.match(runners)
            else str(exc)
        )
        return ReporterView(None, {}, {}, 0.0, message)
    total = max_total = 0
    for _, result in results:
        if not result.get("max_score"):
            continue
        max_total += result["max_score"]
        total += sum(test["score"] for test in result["tests"])
    table, console = {}, {}
    passed_all = tests_all = 0
    for runner, result in results:
        passed = sum(1 for test in result["tests"] if test["status"] == "pass")
        count = len(result["tests"])
        table[runner] = passed / count * (result.get("max_score") or 1)
        console[runner] = passed / count * 100
        passed_all += passed
        tests_all += count
    return ReporterView(
        notice=f"Points {total}/{max_total}" if max_total else None,
        table=table,
        console=console,
        grand_total=passed_all / tests_all * 100,
    )


_EXPRESSION = re.compile(
    r"^\$\{\{ steps\.(?P<step>[A-Za-z0-9]+)\.outputs\.(?P<output>\w+)"
    r"(?: \|\| '(?P<fallback>[A-Za-z0-9+/=]*)')? \}\}$"
)


def evaluate(expression: str, outputs: dict[str, dict[str, str]]) -> str:
    """A reporter variable's ``${{ steps.<id>.outputs.<name> || '<literal>' }}``, as GitHub does.

    A step that set no output gives the empty string, which ``||`` replaces
    with the literal.
    """
    found = _EXPRESSION.match(expression)
    assert found is not None, f"not an expression this workflow writes: {expression}"
    value = outputs.get(found["step"], {}).get(found["output"], "")
    return value or (found["fallback"] or "")


# -- the workflow ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow(catalog: Catalog) -> dict[str, Any]:
    return yaml.safe_load(render_workflow(catalog.select(IDS)))


def steps_of(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    return job["steps"]


def grading_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps_of(workflow) if str(s.get("run", "")).startswith("ormgrade ")]


def test_workflow_runs_on_push_with_the_classroom_permissions(workflow: dict[str, Any]) -> None:
    assert workflow["name"] == "Autograding Tests"
    assert "push" in workflow["on"]
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert "github-classroom[bot]" in job["if"]


def test_workflow_sets_up_python_then_installs_with_the_readme_command(
    workflow: dict[str, Any],
) -> None:
    steps = steps_of(workflow)
    assert steps[0]["uses"] == CHECKOUT_ACTION == "actions/checkout@v4"
    assert steps[1]["uses"] == SETUP_PYTHON_ACTION == "actions/setup-python@v5"
    assert steps[1]["with"]["python-version"] == PYTHON_VERSION == "3.11"
    assert steps[2]["run"] == INSTALL_COMMAND


def test_workflow_pins_every_action(workflow: dict[str, Any]) -> None:
    used = [s["uses"] for s in steps_of(workflow) if "uses" in s]
    assert len(used) == 3
    assert all(name.rsplit("@", 1)[1].startswith("v") for name in used)


def test_workflow_has_one_grading_step_per_exercise(workflow: dict[str, Any]) -> None:
    steps = grading_steps(workflow)
    assert [s["id"] for s in steps] == [step_id(i) for i in IDS] == list(STEP_IDS)
    assert [s["run"] for s in steps] == [grade_command(i) for i in IDS]
    assert all("-" not in s["id"] for s in steps)
    assert all(s["if"] == "${{ !cancelled() }}" for s in steps)


def test_reporter_step_is_last_and_wired_to_every_grading_step(
    workflow: dict[str, Any], catalog: Catalog
) -> None:
    last = steps_of(workflow)[-1]
    assert last["uses"] == REPORTER_ACTION == "classroom-resources/autograding-grading-reporter@v1"
    assert last["with"]["runners"] == ",".join(STEP_IDS)
    assert RUNNERS_PATTERN.match(last["with"]["runners"])
    assert list(last["env"]) == [f"{s.upper()}_RESULTS" for s in STEP_IDS]
    for step, spec, (name, expression) in zip(
        STEP_IDS, catalog.select(IDS), last["env"].items(), strict=True
    ):
        fallback = encode_result(no_result(spec))
        assert expression == f"${{{{ steps.{step}.outputs.result || '{fallback}' }}}}", name
        assert evaluate(expression, {}) == fallback
        assert evaluate(expression, {step: {"result": "abc"}}) == "abc"


def test_step_ids_are_letters_and_digits_the_reporter_accepts() -> None:
    assert step_id("filter_limit") == "filterLimit"
    assert step_id("migration-add-column") == "migrationAddColumn"
    assert results_env("migration_add_column") == "MIGRATIONADDCOLUMN_RESULTS"
    assert step_id("2fast") == "x2fast"
    assert not RUNNERS_PATTERN.match("filter_limit,eager_loading")  # what was written before
    assert RUNNERS_PATTERN.match(",".join(step_id(i) for i in IDS))


def test_every_catalog_step_id_is_accepted_and_unique(catalog: Catalog) -> None:
    workflow = yaml.safe_load(render_workflow(catalog.select()))
    runners = steps_of(workflow)[-1]["with"]["runners"]
    assert RUNNERS_PATTERN.match(runners)
    assert len(set(runners.split(","))) == len(catalog.ids)


# -- running the workflow's grading steps ---------------------------------------------


@dataclass(frozen=True)
class StepRun:
    """One grading step as GitHub Actions ran it."""

    exit_code: int
    log: str
    outputs: dict[str, str]
    report: GradeReport


def run_step(
    command: str, submission: Path, out_dir: Path, extra_env: dict[str, str] | None = None
) -> StepRun:
    """Run a workflow step's command with a fresh ``$GITHUB_OUTPUT`` (in-process)."""
    name = shlex.split(command)
    assert name[0] == "ormgrade"
    output = out_dir / "github_output"
    report = out_dir / "report.json"
    args = [*name[1:], "--submission", str(submission), "--seed", str(SEED), "--json", str(report)]
    env = {OUTPUT_ENV: str(output), **(extra_env or {})}
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    outputs = {}
    for line in output.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        outputs[key] = value
    return StepRun(result.exit_code, result.output, outputs, from_json(report.read_text("utf-8")))


def run_workflow(
    workflow: dict[str, Any], submission: Path, tmp: Path, lost: tuple[str, ...] = ()
) -> tuple[dict[str, StepRun], ReporterView]:
    """Run every grading step, then hand their outputs to the reporter double.

    The steps named in ``lost`` are not run: they stand for a step that timed
    out or could not start, and set no output.
    """
    runs: dict[str, StepRun] = {}
    for step in grading_steps(workflow):
        if step["id"] in lost:
            continue
        folder = tmp / step["id"]
        folder.mkdir()
        runs[step["id"]] = run_step(step["run"], submission, folder)
    last = steps_of(workflow)[-1]
    outputs = {step: run.outputs for step, run in runs.items()}
    env = {name: evaluate(expression, outputs) for name, expression in last["env"].items()}
    return runs, reporter(last["with"]["runners"], env)


@pytest.fixture(scope="module")
def solutions(workflow: dict[str, Any], catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    return run_workflow(workflow, catalog.solutions_dir, tmp_path_factory.mktemp("solutions"))


@pytest.fixture(scope="module")
def starters(workflow: dict[str, Any], catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    return run_workflow(workflow, catalog.exercises_dir, tmp_path_factory.mktemp("starters"))


def decode(run: StepRun) -> dict[str, Any]:
    return json.loads(base64.b64decode(run.outputs["result"], validate=True).decode("utf-8"))


def assert_reporter_format(blob: dict[str, Any]) -> None:
    assert set(blob) == {"version", "status", "max_score", "tests"}
    assert blob["version"] == RESULT_VERSION == 1
    assert blob["status"] in ("pass", "fail", "error")
    assert type(blob["max_score"]) is int and blob["max_score"] > 0
    for test in blob["tests"]:
        assert set(test) == TEST_KEYS
        assert test["status"] in ("pass", "fail", "error")
        assert type(test["score"]) is int and test["score"] in (0, 1)
        assert all(type(test[k]) is int for k in ("line_no", "duration"))
        assert all(type(test[k]) is str for k in ("name", "message", "test_code", "filename"))


@pytest.mark.parametrize("side", ["solutions", "starters"])
def test_each_step_writes_one_result_in_the_reporter_format(
    side: str, request: pytest.FixtureRequest
) -> None:
    runs, _ = request.getfixturevalue(side)
    for run in runs.values():
        assert list(run.outputs) == ["result"]
        assert_reporter_format(decode(run))


def test_a_step_that_left_no_result_still_gives_a_grade(
    workflow: dict[str, Any], catalog: Catalog, tmp_path: Path
) -> None:
    runs, view = run_workflow(workflow, catalog.solutions_dir, tmp_path, lost=("eagerLoading",))
    assert set(runs) == {"filterLimit", "columnProjection"}
    graded = sum(run.report.score for run in runs.values())
    assert graded == 20
    assert view.error is None
    assert view.notice == "Points 20/30"
    assert view.table["eagerLoading"] == 0
    spec = catalog.spec("eager_loading")
    blob = no_result(spec)
    assert blob["tests"][0]["name"] == NO_RESULT_NAME.format(exercise="eager_loading")
    assert blob["tests"][0]["message"] == NO_RESULT_MESSAGE.format(
        exercise="eager_loading", points=spec.max_score
    )
    assert_reporter_format(blob)


def test_without_the_fallback_one_lost_step_loses_the_whole_grade(
    workflow: dict[str, Any], catalog: Catalog, tmp_path: Path
) -> None:
    """The failure the fallback prevents, by the reporter's own rules."""
    run = run_step(grade_command("filter_limit"), catalog.solutions_dir, tmp_path)
    env = {"FILTERLIMIT_RESULTS": run.outputs["result"]}
    view = reporter("filterLimit,eagerLoading", env)
    assert view.notice is None
    assert view.error is not None
    underscored = reporter(
        "filter_limit,eager_loading", {"FILTER_LIMIT_RESULTS": env["FILTERLIMIT_RESULTS"]}
    )
    assert underscored.notice is None
    assert underscored.error == "The runners input must be a comma-separated list of strings."


def test_solutions_earn_full_points_in_classroom(solutions) -> None:
    runs, view = solutions
    assert view.notice == "Points 30/30"
    assert all(run.exit_code == EXIT_OK for run in runs.values())
    assert all(decode(run)["status"] == "pass" for run in runs.values())
    assert view.grand_total == 100


def test_starters_earn_the_graders_partial_points_and_exit_0(starters) -> None:
    runs, view = starters
    graded = sum(run.report.score for run in runs.values())
    assert 0 < graded < 30
    assert view.notice == f"Points {graded}/30"
    assert all(run.exit_code == EXIT_OK for run in runs.values())
    assert {decode(run)["status"] for run in runs.values()} == {"fail"}


@pytest.mark.parametrize("side", ["solutions", "starters"])
def test_reporter_log_totals_agree_with_the_grade(
    side: str, request: pytest.FixtureRequest
) -> None:
    runs, view = request.getfixturevalue(side)
    for step, run in runs.items():
        assert view.table[step] == run.report.score
        assert view.console[step] == pytest.approx(100 * run.report.score / run.report.max_score)
    score = sum(run.report.score for run in runs.values())
    assert view.grand_total == pytest.approx(100 * score / 30)


def test_one_test_per_point_of_every_check(starters) -> None:
    runs, _ = starters
    blob = decode(runs["filterLimit"])
    report = runs["filterLimit"].report.exercise("filter_limit")
    assert blob["max_score"] == len(blob["tests"]) == report.max_score
    names = [t["name"] for t in blob["tests"]]
    assert names[:4] == [f"correct_result (point {n} of 4)" for n in range(1, 5)]
    failed = [t for t in blob["tests"] if t["status"] == "fail"]
    assert len(failed) == report.max_score - report.score
    assert all("hint:" in t["message"] for t in failed)
    assert blob["tests"][0]["test_code"] == f"ormgrade grade filter_limit --seed {SEED}"


def test_step_log_shows_the_feedback_and_the_points(starters) -> None:
    runs, _ = starters
    run = runs["filterLimit"]
    assert "FAIL  where_in_sql" in run.log
    assert "hint:" in run.log
    score = run.report.score
    assert POINTS_LINE.format(score=score, max_score=10) in run.log


def test_missing_github_output_is_a_clear_usage_error(catalog: Catalog) -> None:
    result = CliRunner().invoke(
        main,
        ["grade", "filter_limit", "--classroom", "--submission", str(catalog.solutions_dir)],
        env={OUTPUT_ENV: ""},
        catch_exceptions=False,
    )
    assert result.exit_code == EXIT_USAGE
    assert NO_OUTPUT_MESSAGE in result.output


def test_feedback_defuses_workflow_commands_from_submission_output(tmp_path: Path) -> None:
    submission = case_dir("test_classroom_feedback_defuses_workflow_commands")
    run = run_step(grade_command("filter_limit"), submission, tmp_path)
    assert run.exit_code == EXIT_OK
    lines = run.log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("::stop-commands::"))
    token = lines[start].split("::")[2]
    end = lines.index(f"::{token}::")
    assert any("::add-mask::Points" in line for line in lines[start:end])
    outside = lines[:start] + lines[end + 1 :]
    assert not [line for line in outside if looks_like_workflow_command(line)]
    assert "guessed-token" not in token
    blob = decode(run)
    assert blob["status"] == "fail"
    assert blob["tests"][0]["message"].startswith(CRASHED_MESSAGE.split("{")[0])
    assert not any(
        looks_like_workflow_command(line)
        for test in blob["tests"]
        for line in test["message"].splitlines()
    )


# -- the blob, unit by unit --------------------------------------------------------------


def report_of(*exercises: ExerciseResult) -> GradeReport:
    return GradeReport(exercises=exercises, dialect="sqlite", seed=SEED)


def weighted(passed: dict[str, bool]) -> ExerciseResult:
    points = {"correct_result": 4, "max_queries": 2, "where_in_sql": 2, "limit_in_sql": 2}
    return ExerciseResult(
        id="filter_limit",
        title="Filter and limit",
        max_score=10,
        checks=tuple(
            CheckResult(name, passed[name], points[name] if passed[name] else 0, points[name], "m")
            for name in points
        ),
    )


def test_unequal_weights_still_agree_with_the_reporters_log() -> None:
    # One test per check would show 3 of 4 passed: 7.5 in the reporter's table, 6 as the grade.
    exercise = weighted(
        {"correct_result": False, "max_queries": True, "where_in_sql": True, "limit_in_sql": True}
    )
    blob = classroom_result(report_of(exercise))
    view = reporter("filter_limit", {"FILTER_LIMIT_RESULTS": encode_result(blob)})
    assert view.notice == "Points 6/10"
    assert view.table["filter_limit"] == 6


def test_grader_error_is_reported_as_an_error_not_a_failure() -> None:
    broken = ExerciseResult(
        id="filter_limit",
        title="Filter and limit",
        max_score=2,
        checks=(CheckResult("correct_result", False, 0, 2, "not judged: grader error"),),
        outcome=Outcome.GRADER_ERROR,
        error="grader error: the starter (oracle) failed",
    )
    blob = classroom_result(report_of(broken))
    assert blob["status"] == "error"
    assert {t["status"] for t in blob["tests"]} == {"error"}
    assert blob["tests"][0]["message"] == GRADER_ERROR_MESSAGE.format(
        error="grader error: the starter (oracle) failed"
    )


def test_grader_error_exits_3_after_writing_the_result(tmp_path: Path, monkeypatch) -> None:
    broken = report_of(
        ExerciseResult(
            id="filter_limit",
            title="Filter and limit",
            max_score=2,
            checks=(CheckResult("correct_result", False, 0, 2, "not judged"),),
            outcome=Outcome.GRADER_ERROR,
            error="grader error: boom",
        )
    )
    # The command imports the runner when it runs: its grade is the one it calls.
    monkeypatch.setattr("grader.grading.runner.grade", lambda *args, **kwargs: broken)
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["grade", "filter_limit", "--classroom"], env={OUTPUT_ENV: str(output)}
    )
    assert result.exit_code == EXIT_GRADER
    assert output.read_text(encoding="utf-8").startswith("result=")


def test_checks_worth_no_points_add_no_test() -> None:
    exercise = ExerciseResult(
        id="filter_limit",
        title="t",
        max_score=1,
        checks=(
            CheckResult("correct_result", True, 1, 1, "ok"),
            CheckResult("advice", False, 0, 0, "informative"),
        ),
    )
    blob = classroom_result(report_of(exercise))
    assert [t["name"] for t in blob["tests"]] == ["correct_result"]
    assert blob["status"] == "pass"


def test_feedback_ends_with_the_points_classroom_records() -> None:
    exercise = weighted(
        {"correct_result": True, "max_queries": False, "where_in_sql": True, "limit_in_sql": True}
    )
    report = GradeReport(
        exercises=(exercise,), dialect="sqlite", seed=SEED, warnings=("spec.toml differs",)
    )
    text = feedback(report)
    assert text.endswith(POINTS_LINE.format(score=8, max_score=10) + "\n")
    assert "warning: spec.toml differs" in text


def test_append_output_keeps_earlier_outputs_on_their_own_lines(tmp_path: Path) -> None:
    path = tmp_path / "github_output"
    path.write_text("earlier=1", encoding="utf-8")
    append_output(path, "result", "abc=")
    append_output(path, "result2", "x")
    assert path.read_text(encoding="utf-8") == "earlier=1\nresult=abc=\nresult2=x\n"


def test_blob_is_one_line_of_base64() -> None:
    blob = classroom_result(
        report_of(
            weighted(
                dict.fromkeys(
                    ("correct_result", "max_queries", "where_in_sql", "limit_in_sql"), True
                )
            )
        )
    )
    encoded = encode_result(blob)
    assert "\n" not in encoded
    assert json.loads(base64.b64decode(encoded, validate=True)) == blob


# -- sanitising text for the Actions log ------------------------------------------------


def test_text_without_commands_is_left_alone() -> None:
    text = "PASS  max_queries\n  SELECT users.id FROM users WHERE a::text = 'x'\n"
    assert neutralize_workflow_commands(text) == text


@pytest.mark.parametrize(
    "line",
    ["::error::x", "   ::add-mask::secret", "\t::set-output name=result::e30=", "##[error]x"],
)
def test_command_looking_lines_are_bracketed_by_a_random_token(line: str) -> None:
    text = f"before\n{line}\nafter"
    first, second = neutralize_workflow_commands(text), neutralize_workflow_commands(text)
    lines = first.splitlines()
    token = lines[0].removeprefix("::stop-commands::")
    assert lines[0].startswith("::stop-commands::ormgrade-")
    assert lines[1:-1] == ["before", line, "after"]
    assert lines[-1] == f"::{token}::"
    assert first != second


def test_quoting_prefixes_only_command_looking_lines() -> None:
    text = "ok\n  ::error::x\nfine"
    assert quote_workflow_commands(text) == f"ok\n{QUOTE_PREFIX}  ::error::x\nfine"


def test_evidence_is_kept_in_the_log() -> None:
    exercise = ExerciseResult(
        id="filter_limit",
        title="t",
        max_score=2,
        checks=(
            CheckResult(
                "max_queries",
                False,
                0,
                2,
                "3 queries emitted; at most 1 allowed",
                hint="one SELECT",
                evidence=(Evidence("statement ×3", "SELECT 1"),),
            ),
        ),
    )
    text = feedback(report_of(exercise))
    assert "statement ×3" in text and "SELECT 1" in text and "hint: one SELECT" in text
