"""End to end: grade example submissions through the runner, in child processes."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from grader.checks.base import NOT_JUDGED
from grader.checks.query import TOO_MANY_QUERIES, WRONG_RESULT, WRONG_STATE
from grader.course.catalog import Catalog
from grader.databases.dataset import size_named
from grader.databases.template import Template
from grader.execution import sandbox
from grader.execution.run import Failure, FailureKind, Job, RunRecord
from grader.grading.peaks import PEAKS_DIR
from grader.grading.runner import GradeOptions, _longest_first, _starter_peak, grade
from grader.grading.session import SharedOracles, shared_oracles
from grader.results import ExerciseResult, Outcome, from_json, to_json
from tests.conftest import case_dir

FIRST = ["filter_limit", "eager_loading", "column_projection"]


@pytest.fixture(scope="module")
def solutions(catalog: Catalog):
    return grade(catalog.solutions_dir, catalog, FIRST, GradeOptions(seed=11))


@pytest.fixture(scope="module")
def starters(catalog: Catalog):
    return grade(catalog.exercises_dir, catalog, FIRST, GradeOptions(seed=11))


def test_reference_solutions_earn_full_marks(solutions) -> None:
    assert [(e.id, e.score, e.max_score) for e in solutions.exercises] == [
        (e.id, e.max_score, e.max_score) for e in solutions.exercises
    ]
    assert solutions.score == solutions.max_score == 30


def test_starters_are_correct_but_score_below_full(starters) -> None:
    for result in starters.exercises:
        assert result.check("correct_result").passed, result.id
        assert result.score < result.max_score, result.id


def test_results_json_round_trips(solutions) -> None:
    text = to_json(solutions)
    document = json.loads(text)
    assert document["schema_version"] == 1
    assert document["dialect"] == "sqlite"
    assert document["seed"] == 11
    assert document["score"] == 30
    first = document["exercises"][0]
    assert set(first) >= {"id", "title", "score", "max_score", "error", "checks"}
    assert set(first["checks"][0]) == {
        "name",
        "passed",
        "points",
        "max_points",
        "message",
        "hint",
        "evidence",
    }
    assert from_json(text).to_dict() == solutions.to_dict()


def test_hard_coded_answer_fails_on_another_seed(catalog: Catalog) -> None:
    submission = case_dir("test_hard_coded_answer_fails_on_another_seed")
    copied = grade(submission, catalog, ["filter_limit"], GradeOptions(seed=7)).exercises[0]
    assert copied.check("correct_result").passed  # the seed it was copied from
    fresh = grade(submission, catalog, ["filter_limit"], GradeOptions(seed=8)).exercises[0]
    gate = fresh.check("correct_result")
    assert not gate.passed
    assert gate.message.startswith(WRONG_RESULT.split("{")[0])
    assert fresh.score == 0


def test_raw_driver_cursor_is_counted(catalog: Catalog) -> None:
    result = grade(
        case_dir("test_raw_driver_cursor_is_counted"),
        catalog,
        ["filter_limit"],
        GradeOptions(seed=3),
    ).exercises[0]
    assert result.check("correct_result").passed
    queries = result.check("max_queries")
    assert not queries.passed
    assert queries.message == TOO_MANY_QUERIES.format(observed=2, bound=1)
    assert all("(raw driver cursor)" in e.label for e in queries.evidence)
    assert result.check("where_in_sql").passed
    assert result.check("limit_in_sql").passed


def test_wrong_answer_scores_nothing(catalog: Catalog) -> None:
    result = grade(
        case_dir("test_wrong_answer_scores_nothing"),
        catalog,
        ["filter_limit"],
        GradeOptions(seed=3),
    ).exercises[0]
    assert result.outcome is Outcome.GRADED
    assert not result.check("correct_result").passed
    assert result.score == 0
    assert {c.message for c in result.checks if c.name != "correct_result"} == {NOT_JUDGED}


@pytest.mark.parametrize("strategy", ["joinedload", "subqueryload", "contains_eager"])
def test_alternative_eager_strategies(catalog: Catalog, strategy: str) -> None:
    submission = case_dir("test_alternative_eager_strategies") / strategy
    result = grade(submission, catalog, ["eager_loading"], GradeOptions(seed=5)).exercises[0]
    assert result.score == result.max_score, [c.message for c in result.checks]


def test_missing_task_file_is_a_crash_not_a_grader_error(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "filter_limit").mkdir()
    result = grade(tmp_path, catalog, ["filter_limit"], GradeOptions(seed=1)).exercises[0]
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None and "task.py is missing" in result.error
    assert result.score == 0


def test_unknown_exercise_is_refused_before_anything_runs(catalog: Catalog, tmp_path: Path) -> None:
    from grader.errors import UnknownExerciseError

    with pytest.raises(UnknownExerciseError, match="unknown exercise 'nope'"):
        grade(tmp_path, catalog, ["nope"])


# -- exercises side by side ------------------------------------------------------------

SIDE_BY_SIDE = ["count_exists", "filter_limit", "column_projection"]


@pytest.mark.parametrize("workers", [1, 2])
def test_exercises_graded_side_by_side_come_back_in_the_order_asked(
    catalog: Catalog, workers: int
) -> None:
    shown: list[str] = []
    report = grade(
        catalog.solutions_dir,
        catalog,
        SIDE_BY_SIDE,
        GradeOptions(seed=11, exercise_workers=workers),
        progress=lambda result: shown.append(result.id),
    )
    assert [r.id for r in report.exercises] == SIDE_BY_SIDE
    assert shown == SIDE_BY_SIDE
    assert all(r.passed for r in report.exercises), report.exercises


def test_an_interrupt_stops_the_exercises_still_running(catalog: Catalog, tmp_path: Path) -> None:
    # column_projection ends at once; filter_limit's run would sleep for ten minutes.
    shutil.copytree(catalog.solutions_dir / "column_projection", tmp_path / "column_projection")
    (tmp_path / "filter_limit").mkdir()
    (tmp_path / "filter_limit" / "task.py").write_text(
        "import time\n\ndef run(session, country, limit):\n    time.sleep(600)\n",
        encoding="utf-8",
    )
    assert catalog.spec("filter_limit").entry == "run"

    def interrupt(result: ExerciseResult) -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        grade(
            tmp_path,
            catalog,
            ["column_projection", "filter_limit"],
            GradeOptions(seed=11, timeout=600, exercise_workers=2),
            progress=interrupt,
        )
    assert time.monotonic() - started < 60
    assert not sandbox._live, "a child was left running"


#: A wrong export (the header only) whose traced run would sleep ten minutes.
WRONG_AND_SLOW_WHEN_TRACED = """\
import time, tracemalloc

def run(session, path):
    if tracemalloc.is_tracing():
        time.sleep(600)
    with open(path, "w", encoding="utf-8") as out:
        out.write("id\\n")
    return 0
"""


def test_a_wrong_answer_stops_the_runs_only_a_correct_answer_needs(
    catalog: Catalog, tmp_path: Path
) -> None:
    (tmp_path / "bulk_export").mkdir()
    (tmp_path / "bulk_export" / "task.py").write_text(WRONG_AND_SLOW_WHEN_TRACED, "utf-8")
    started = time.monotonic()
    report = grade(tmp_path, catalog, ["bulk_export"], GradeOptions(seed=7, timeout=600))
    assert time.monotonic() - started < 120  # the traced run was stopped, not waited for
    result = report.exercise("bulk_export")
    assert (result.outcome, result.score) == (Outcome.GRADED, 0)
    correct, memory = result.checks
    assert correct.message.startswith((WRONG_RESULT.split("{")[0], WRONG_STATE.split("{")[0])), (
        correct.message
    )
    assert memory.message == NOT_JUDGED, memory.message
    assert not sandbox._live, "a child was left running"


def test_a_cancelled_run_is_stopped_or_never_started(tmp_path: Path) -> None:
    task = tmp_path / "task.py"
    task.write_text("import time\n\ndef run(engine):\n    time.sleep(600)\n", "utf-8")
    job = Job(
        exercise_id="cancel",
        role="submission",
        purpose="memory",
        module_path=str(task),
        entry="run",
        call="engine",
        databases={"main": f"sqlite:///{tmp_path}/run.sqlite"},
        workdir=str(tmp_path),
    )
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    record = sandbox.run_job(job, timeout=600, memory_mb=1536, cancel=cancel)
    assert time.monotonic() - started < 30
    assert record.failure == Failure(FailureKind.GRADER, sandbox.CANCELLED)
    assert record.purpose == "memory"
    assert not sandbox._live, "the child was left running"

    started = time.monotonic()
    record = sandbox.run_job(job, timeout=600, memory_mb=1536, cancel=cancel)
    assert time.monotonic() - started < 1  # already cancelled: no child at all
    assert record.failure == Failure(FailureKind.GRADER, sandbox.CANCELLED)


def test_the_exercises_with_the_longest_runs_start_first(catalog: Catalog) -> None:
    specs = catalog.select()
    ordered = [spec.id for spec in _longest_first(specs)]
    long = {"bulk_export", "lost_update"}  # a traced export; four concurrent workers
    assert set(ordered[: len(long)]) == long
    assert ordered[len(long) :] == [spec.id for spec in specs if spec.id not in long]


# -- the starter's peak, kept between gradings ----------------------------------------


def test_the_starters_peak_is_traced_once_and_kept_for_the_same_inputs(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORMGRADE_CACHE", str(tmp_path / "cache"))
    spec = catalog.spec("bulk_export")
    starter = tmp_path / "task.py"
    starter.write_text("def run(session, path):\n    return 0\n", encoding="utf-8")
    template = Template(size_named(spec.dataset), 7, "t-1.sqlite", "sqlite:///t-1.sqlite")
    traced: list[int] = []

    def trace(peak: int | None = 5_000_000, failure: Failure | None = None):
        def run() -> RunRecord:
            traced.append(1)
            return RunRecord("oracle", "memory", peak_memory=peak, failure=failure)

        return run

    def peak_of(tmpl: Template = template, how=None) -> int | None:
        files = (starter, spec.hooks_path)
        return _starter_peak(spec, tmpl, files, {"path": "tasks.csv"}, how or trace()).peak_memory

    assert peak_of() == 5_000_000
    assert peak_of() == 5_000_000
    assert len(traced) == 1  # kept: the second grading reads it
    other = Template(template.size, 8, "t-2.sqlite", "sqlite:///t-2.sqlite")
    assert peak_of(other, trace(6_000_000)) == 6_000_000  # other data, traced again
    assert len(traced) == 2
    starter.write_text("def run(session, path):\n    return 1\n", encoding="utf-8")
    assert peak_of(how=trace(7_000_000)) == 7_000_000  # another starter, traced again
    assert len(traced) == 3

    # A damaged figure is measured again; a failed run's is not kept.
    kept = list((tmp_path / "cache" / PEAKS_DIR).iterdir())
    assert len(kept) == 3
    for path in kept:
        path.write_text("not a number", encoding="ascii")
    failed = Failure(FailureKind.MEMORY, "out of memory")
    assert peak_of(how=trace(None, failed)) is None
    assert peak_of(how=trace(7_000_000)) == 7_000_000
    assert len(traced) == 5
    assert peak_of() == 7_000_000
    assert len(traced) == 5


# -- the starter's runs, shared by the sessions of a process ---------------------------


def test_sessions_on_the_same_data_share_the_starters_runs(catalog: Catalog) -> None:
    shared_oracles.clear()
    first, second = (
        grade(catalog.solutions_dir, catalog, ["count_exists"], GradeOptions(seed=4242)).exercise(
            "count_exists"
        )
        for _ in range(2)
    )
    assert "oracle_main" in first.stats["timing"]
    assert "oracle_main" not in second.stats["timing"]  # the first session's run, reused
    assert second.passed and second.checks == first.checks
    other = grade(catalog.solutions_dir, catalog, ["count_exists"], GradeOptions(seed=4243))
    assert "oracle_main" in other.exercise("count_exists").stats["timing"]  # other data


def test_the_shared_starter_runs_keep_the_most_recently_used() -> None:
    kept = SharedOracles(capacity=2)
    records = {name: RunRecord("oracle", name) for name in ("a", "b", "c")}
    kept.put(("a",), records["a"])
    kept.put(("b",), records["b"])
    assert kept.get(("a",)) is records["a"]  # a is now the most recent
    kept.put(("c",), records["c"])
    assert kept.get(("b",)) is None
    assert kept.get(("a",)) is records["a"]
    assert kept.get(("c",)) is records["c"]
