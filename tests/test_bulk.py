"""grade-all over a small generated class: reference, starter, mixed, broken, hostile.

The class is built under tmp from the catalog's own exercises/ and solutions/
and graded once per module (two workers, a short timeout for the hostile
student's endless loop; an assassin's attempt to kill its worker is refused); the other
tests plan against a copy of what it left, or run the CLI in a subprocess to
interrupt it with Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.classbook.bulk import WORKER_DIED, grade_all
from grader.classbook.gradebook import DEFAULT_FILE, REFERENCE_FILE, Gradebook, read_results
from grader.classbook.planning import (
    FINGERPRINT_DIR,
    REFERENCE_ID,
    RUN_FILE,
    UNKNOWN_STUDENTS,
    BulkReport,
    StudentOutcome,
    StudentStatus,
    catalog_fingerprint,
    find_students,
    plan_grade_all,
    recorded_seed,
)
from grader.course.catalog import Catalog
from grader.errors import SubmissionError
from grader.execution.audit import REFUSED
from grader.execution.platform import descendants
from grader.grading.runner import GradeOptions
from grader.results import GradeReport, Outcome
from tests.conftest import case_dir

IDS = ("filter_limit", "column_projection")
SEED = 7
#: Seconds per run: short, so the hostile student's endless loop costs little.
TIMEOUT = 2.0
#: The hostile and broken submissions of the class, each kept in the case folder
#: of the test that judges it: ``tests/cases/<test>/<exercise>/task.py``.
BROKEN = "test_a_broken_submission_crashes_only_its_exercise"
HOSTILE = "test_a_hostile_endless_loop_is_stopped_and_the_rest_graded"
ASSASSIN = "test_a_worker_killed_by_a_submission_costs_only_that_student"
#: The solution of filter_limit that first sleeps while a marker file exists
#: (generated: the marker's path is the test's own tmp path), leaving its pid in
#: its run's folder (under the grading's TMPDIR).
SLEEPY = """import os
import time
from pathlib import Path

from sqlalchemy import select

from grader.domain import User

MARKER = Path({marker!r})


def run(session, country, limit):
    if MARKER.exists():
        Path("sleepy.pid").write_text(str(os.getpid()))  # in the run's own folder
        time.sleep(120)
    stmt = (
        select(User.id, User.name)
        .where(User.country == country, User.is_active.is_(True))
        .order_by(User.age, User.id)
        .limit(limit)
    )
    return [(row.id, row.name) for row in session.execute(stmt)]
"""


def case_source(case: str, exercise_id: str = "filter_limit") -> str:
    """The ``task.py`` kept for ``exercise_id`` in the case folder ``case``."""
    return (case_dir(case) / exercise_id / "task.py").read_text(encoding="utf-8")


def make_student(
    root: Path,
    name: str,
    catalog: Catalog,
    ids: Iterable[str] = IDS,
    solved: Iterable[str] = (),
    sources: Mapping[str, str] | None = None,
) -> Path:
    """A student repository: the catalog's exercises, some solved, some replaced."""
    repository = root / name
    for exercise_id in ids:
        folder = repository / "exercises" / exercise_id
        shutil.copytree(catalog.exercises_dir / exercise_id, folder)
        if exercise_id in solved:
            shutil.copyfile(catalog.solutions_dir / exercise_id / "task.py", folder / "task.py")
    for exercise_id, source in (sources or {}).items():
        (repository / "exercises" / exercise_id / "task.py").write_text(source, encoding="utf-8")
    return repository


@dataclass(frozen=True)
class GradedClass:
    """The generated class, where its results went, and what grade-all said."""

    root: Path
    results_dir: Path
    report: BulkReport
    events: tuple[StudentOutcome, ...]

    def outcome(self, student: str) -> StudentOutcome:
        return next(o for o in self.report.outcomes if o.student == student)

    def results(self, student: str) -> GradeReport:
        return read_results(self.results_dir / f"{student}.json")

    def solution_score(self, exercise_id: str) -> int:
        """What the catalog's own solution of ``exercise_id`` earned in this run."""
        return read_results(self.results_dir / REFERENCE_FILE).exercise(exercise_id).score


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> GradedClass:
    base = tmp_path_factory.mktemp("class")
    root = base / "class"
    make_student(root, "reference", catalog, solved=IDS)
    make_student(root, "starter", catalog)
    make_student(root, "mixed", catalog, solved=["filter_limit"])
    make_student(root, "broken", catalog, solved=IDS, sources={"filter_limit": case_source(BROKEN)})
    make_student(
        root, "hostile", catalog, solved=IDS, sources={"filter_limit": case_source(HOSTILE)}
    )
    make_student(
        root, "assassin", catalog, solved=IDS, sources={"filter_limit": case_source(ASSASSIN)}
    )
    (root / ".git").mkdir()  # hidden folders are not students
    events: list[StudentOutcome] = []
    results = base / "results"
    report = grade_all(
        root,
        results,
        catalog,
        IDS,
        options=GradeOptions(seed=SEED, timeout=TIMEOUT),
        jobs=2,
        gradebook=str(results / DEFAULT_FILE),
        progress=events.append,
    )
    return GradedClass(root, results, report, tuple(events))


#: The students of the class that get results (the assassin's kill is refused: graded too).
GRADED = ["assassin", "broken", "hostile", "mixed", "reference", "starter"]


def test_every_student_is_graded_into_a_results_file(graded_class: GradedClass) -> None:
    report = graded_class.report
    assert sorted(o.student for o in report.outcomes) == GRADED
    assert (report.graded, report.unchanged, report.interrupted) == (6, 0, False)
    assert sorted(e.student for e in graded_class.events) == sorted([REFERENCE_ID, *GRADED])
    for student in GRADED:
        results = graded_class.results(student)
        assert results.submission == student
        assert [e.id for e in results.exercises] == list(IDS)
        assert (graded_class.results_dir / FINGERPRINT_DIR / f"{student}.sha256").is_file()
    assert not list(graded_class.results_dir.rglob("*.tmp"))


def test_the_scores_of_the_class(graded_class: GradedClass) -> None:
    solution = {exercise_id: graded_class.solution_score(exercise_id) for exercise_id in IDS}
    assert graded_class.outcome("reference").score == sum(solution.values())
    starter = graded_class.results("starter")
    assert all(e.check("correct_result").passed for e in starter.exercises)
    assert all(e.score < solution[e.id] for e in starter.exercises)
    mixed = graded_class.results("mixed")
    assert mixed.exercise("filter_limit").score == solution["filter_limit"]
    assert mixed.exercise("column_projection").score == starter.exercise("column_projection").score


def test_a_broken_submission_crashes_only_its_exercise(graded_class: GradedClass) -> None:
    broken = graded_class.results("broken")
    crashed = broken.exercise("filter_limit")
    assert crashed.outcome is Outcome.CRASHED
    assert "does not compile" in (crashed.error or "")
    assert broken.exercise("column_projection").score == graded_class.solution_score(
        "column_projection"
    )
    assert graded_class.outcome("broken").crashed == ("filter_limit",)
    assert not graded_class.outcome("broken").failed


def test_a_hostile_endless_loop_is_stopped_and_the_rest_graded(graded_class: GradedClass) -> None:
    hostile = graded_class.results("hostile")
    stopped = hostile.exercise("filter_limit")
    assert stopped.outcome is Outcome.CRASHED
    assert f"did not finish within {TIMEOUT:g} s" in (stopped.error or "")
    assert hostile.exercise("column_projection").score == graded_class.solution_score(
        "column_projection"
    )


def test_one_seed_for_the_class_recorded_for_the_next_run(graded_class: GradedClass) -> None:
    seeds = {read_results(p).seed for p in graded_class.results_dir.glob("*.json")}
    assert seeds == {SEED} == {graded_class.report.seed}
    assert recorded_seed(graded_class.results_dir) == SEED
    assert (graded_class.results_dir / RUN_FILE).is_file()


def test_the_reference_solutions_are_graded_with_the_class(graded_class: GradedClass) -> None:
    reference = read_results(graded_class.results_dir / REFERENCE_FILE)
    assert [e.id for e in reference.exercises] == list(IDS)
    assert reference.seed == SEED
    assert graded_class.report.reference is not None
    assert graded_class.report.reference.status is StudentStatus.GRADED


def test_the_results_are_ingested_into_the_gradebook(graded_class: GradedClass) -> None:
    assert graded_class.report.ingested is not None
    assert graded_class.report.ingested.skipped == ()
    with Gradebook.open(graded_class.results_dir / DEFAULT_FILE) as book:
        assert book.students() == GRADED
        scores = {r.student: r.report.score for r in book.latest()}
    assert scores == {o.student: o.score for o in graded_class.report.outcomes if not o.failed}


@pytest.fixture()
def class_copy(graded_class: GradedClass, tmp_path: Path) -> GradedClass:
    """A copy of the graded class and its results, to change freely."""
    root = tmp_path / "class"
    results = tmp_path / "results"
    shutil.copytree(graded_class.root, root)
    shutil.copytree(graded_class.results_dir, results)
    return GradedClass(root, results, graded_class.report, graded_class.events)


def test_unchanged_submissions_are_not_graded_again(
    class_copy: GradedClass, catalog: Catalog
) -> None:
    # Only the editable files count: a README or a test edited in the copy changes nothing.
    (class_copy.root / "starter" / "README.md").write_text("my notes", encoding="utf-8")
    (class_copy.root / "mixed" / "exercises" / "filter_limit" / "spec.toml").write_text(
        "", encoding="utf-8"
    )

    plan = plan_grade_all(
        class_copy.root, class_copy.results_dir, catalog, IDS, options=GradeOptions(timeout=TIMEOUT)
    )

    assert [t.student.id for t in plan.tasks] == []
    assert plan.seed == SEED  # recorded by the first run
    assert sorted(o.student for o in plan.unchanged) == sorted([REFERENCE_ID, *GRADED])
    assert {o.status for o in plan.unchanged} == {StudentStatus.UNCHANGED}
    starter = next(o for o in plan.unchanged if o.student == "starter")
    assert starter.score == class_copy.outcome("starter").score


def test_a_changed_submission_is_graded_again(class_copy: GradedClass, catalog: Catalog) -> None:
    task = class_copy.root / "starter" / "exercises" / "column_projection" / "task.py"
    shutil.copyfile(catalog.solutions_dir / "column_projection" / "task.py", task)
    (class_copy.results_dir / "mixed.json").unlink()

    plan = plan_grade_all(
        class_copy.root, class_copy.results_dir, catalog, IDS, options=GradeOptions(timeout=TIMEOUT)
    )

    assert sorted(t.student.id for t in plan.tasks) == ["mixed", "starter"]


def test_force_or_other_settings_grade_everyone_again(
    class_copy: GradedClass, catalog: Catalog
) -> None:
    everyone = [REFERENCE_ID, *GRADED]
    same = GradeOptions(timeout=TIMEOUT)
    forced = plan_grade_all(
        class_copy.root, class_copy.results_dir, catalog, IDS, options=same, force=True
    )
    reseeded = plan_grade_all(
        class_copy.root,
        class_copy.results_dir,
        catalog,
        IDS,
        options=GradeOptions(seed=SEED + 1, timeout=TIMEOUT),
    )
    fewer = plan_grade_all(
        class_copy.root, class_copy.results_dir, catalog, ["filter_limit"], options=same
    )
    longer = plan_grade_all(
        class_copy.root, class_copy.results_dir, catalog, IDS, options=GradeOptions(timeout=30)
    )
    for plan in (forced, reseeded, fewer, longer):
        assert [t.student.id for t in plan.tasks] == everyone
    assert reseeded.seed == SEED + 1
    assert forced.seed == SEED


def test_only_the_named_students(class_copy: GradedClass, catalog: Catalog) -> None:
    plan = plan_grade_all(
        class_copy.root,
        class_copy.results_dir,
        catalog,
        IDS,
        students=["starter"],
        force=True,
        reference=False,
    )
    assert [t.student.id for t in plan.tasks] == ["starter"]
    with pytest.raises(SubmissionError) as raised:
        find_students(class_copy.root, ["starter", "nobody"])
    assert str(raised.value) == UNKNOWN_STUDENTS.format(names="nobody", root=class_copy.root)


def test_the_class_folder_holds_repositories_and_notebooks(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "bob.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / ".cache").mkdir()
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    students = find_students(tmp_path)
    assert [(s.id, s.path.name, s.notebook) for s in students] == [
        ("alice", "alice", False),
        ("bob", "bob.ipynb", True),
    ]


def test_the_catalog_fingerprint_follows_spec_and_starter(tmp_path: Path, catalog: Catalog) -> None:
    shutil.copytree(catalog.exercises_dir / "filter_limit", tmp_path / "exercises" / "filter_limit")
    copy = Catalog(tmp_path)
    before = catalog_fingerprint(copy, copy.select())
    assert before == catalog_fingerprint(catalog, catalog.select(["filter_limit"]))
    spec = tmp_path / "exercises" / "filter_limit" / "spec.toml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace("limit = 10", "limit = 11"), encoding="utf-8"
    )
    assert catalog_fingerprint(Catalog(tmp_path), Catalog(tmp_path).select()) != before


def test_a_worker_killed_by_a_submission_costs_only_that_student(
    graded_class: GradedClass,
) -> None:
    # The submission looks for its grading worker and kills it: both are refused
    # inside the run, so the worker lives and the attempt is that exercise's failure.
    assassin = graded_class.outcome("assassin")
    assert assassin.status is StudentStatus.GRADED
    assert graded_class.report.failures == ()
    results = graded_class.results("assassin")
    error = results.exercise("filter_limit").error or ""
    assert REFUSED.format(what="").strip() in error, error
    assert results.exercise("column_projection").passed


def test_a_worker_killed_from_outside_costs_only_its_student(
    tmp_path: Path, catalog: Catalog
) -> None:
    root = tmp_path / "class"
    marker = tmp_path / "sleep-while-this-exists"
    marker.touch()
    make_student(root, "reference", catalog, solved=IDS)
    make_student(
        root,
        "sleeper",
        catalog,
        solved=IDS,
        sources={"filter_limit": SLEEPY.format(marker=str(marker))},
    )
    results = tmp_path / "results"
    graded: dict[str, BulkReport] = {}

    def grade_class() -> None:
        options = GradeOptions(seed=SEED, timeout=60)
        graded["report"] = grade_all(root, results, catalog, IDS, options=options, jobs=1)

    grading = threading.Thread(target=grade_class)
    grading.start()
    deadline = time.monotonic() + 120
    killed = False
    first_seen: dict[int, float] = {}
    while not killed and time.monotonic() < deadline and grading.is_alive():
        for pid in descendants(os.getpid()):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command and _running_long(pid, first_seen):
                os.kill(pid, signal.SIGKILL)
                killed = True
                break
        time.sleep(0.1)
    grading.join(120)
    assert killed
    sleeper = next(o for o in graded["report"].outcomes if o.student == "sleeper")
    assert sleeper.status is StudentStatus.FAILED
    assert (sleeper.error or "").startswith(WORKER_DIED.split("{")[0])
    assert not (results / "sleeper.json").exists()
    assert not (results / FINGERPRINT_DIR / "sleeper.sha256").exists()


def _running_long(worker: int, first_seen: dict[int, float], age: float = 5.0) -> bool:
    """Whether a run below ``worker`` has been running for ``age`` seconds (the sleeper's)."""
    now = time.monotonic()
    for pid in descendants(worker):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if "/run-" in cwd and now - first_seen.setdefault(pid, now) >= age:
            return True
    return False


def _process_gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def _wait_for(
    folder: Path, name: str, process: subprocess.Popen[str], timeout: float = 90.0
) -> str:
    """The text of the first file called ``name`` below ``folder``, once one appears."""
    deadline = time.monotonic() + timeout
    while True:
        for found in folder.rglob(name):
            text = found.read_text()
            if text:
                return text
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{name} did not appear below {folder}"
        time.sleep(0.1)


def test_ctrl_c_keeps_what_finished_and_the_next_run_resumes(
    tmp_path: Path, catalog: Catalog
) -> None:
    root = tmp_path / "class"
    results = tmp_path / "results"
    marker = tmp_path / "sleep-while-this-exists"
    temp = tmp_path / "tmp"
    temp.mkdir()
    marker.touch()
    make_student(root, "a-done", catalog, ["filter_limit"], solved=["filter_limit"])
    make_student(
        root,
        "b-sleepy",
        catalog,
        ["filter_limit"],
        sources={"filter_limit": SLEEPY.format(marker=str(marker))},
    )
    command = [
        sys.executable, "-m", "grader", "grade-all", str(root), "filter_limit",
        "--out", str(results), "-j", "1", "--no-reference", "--seed", str(SEED),
        "--catalog", str(catalog.root),
    ]  # fmt: skip

    first = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        sleepy = int(_wait_for(temp, "sleepy.pid", first))
        os.killpg(first.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()

    assert first.returncode == 130, (out, err)
    assert "interrupted: 1 student(s) left" in err
    done = read_results(results / "a-done.json").score
    assert f"a-done: {done}/10" in out
    assert not (results / "b-sleepy.json").exists()
    assert not list(results.rglob("*.tmp"))
    deadline = time.monotonic() + 10
    while not _process_gone(sleepy):
        assert time.monotonic() < deadline, "the interrupted submission was left running"
        time.sleep(0.1)

    marker.unlink()
    second = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)

    assert second.returncode == 0, (second.stdout, second.stderr)
    assert "1 student(s) to grade, 1 unchanged" in second.stdout
    # The sleepy submission is the solution once it stops sleeping: the same score.
    assert f"b-sleepy: {done}/10" in second.stdout
    assert "graded 1 · unchanged 1 · failed 0" in second.stdout
    assert read_results(results / "b-sleepy.json").score == done
