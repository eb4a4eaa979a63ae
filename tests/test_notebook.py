"""Notebooks: building one per exercise, and grading the cell tagged ``solution``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from grader.cli import EXIT_NOT_MET, EXIT_OK, EXIT_USAGE, main
from grader.course.catalog import Catalog
from grader.course.notebook import (
    CELL_TOO_LARGE,
    CHECK_TAG,
    FILES_LEFT_OUT,
    INVALID_JSON,
    IPYTHON_NOTE,
    MANY_SOLUTION_CELLS,
    MAX_CELL_BYTES,
    MIGRATION_LEFT_OUT,
    NO_EXERCISE_NAMED,
    NO_SOLUTION_CELL,
    NOT_A_CODE_CELL,
    NOT_A_NOTEBOOK,
    OLD_NBFORMAT,
    OTHER_EXERCISE,
    SCHEMA_LINK,
    SETUP_TAG,
    SOLUTION_TAG,
    NotebookError,
    build_notebook,
    notebook_exclusion,
    read_solution,
    set_aside_ipython,
    write_notebooks,
)
from grader.course.submission import is_notebook_submission, locate, stage
from grader.grading.runner import GradeOptions, grade, open_session
from grader.notebook import (
    check_cell,
    local_dataset,
    solution_notebook,
)
from grader.results import Outcome
from tests.conftest import ROOT, case_dir

#: Exercises graded from notebooks here; the path from cell to task.py is the same for all.
GRADED = ["filter_limit", "eager_loading", "column_projection"]
SEED = 8


def tagged(notebook: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [c for c in notebook.cells if tag in c.metadata.get("tags", [])]


def with_solution(notebook_path: Path, source: str, target: Path) -> Path:
    """A copy of a notebook whose solution cell holds ``source``."""
    notebook = nbformat.read(notebook_path, as_version=4)
    tagged(notebook, SOLUTION_TAG)[0].source = source
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


@pytest.fixture(scope="module")
def written(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    """The notebooks of the whole catalog, as `ormgrade notebook` writes them."""
    out = tmp_path_factory.mktemp("notebooks")
    return out, write_notebooks(catalog, out)


@pytest.fixture(scope="module")
def graded(catalog: Catalog, written, tmp_path_factory: pytest.TempPathFactory):
    """One grading session: the untouched notebooks, the solved ones, the shuffled case."""
    out, _ = written
    solved = tmp_path_factory.mktemp("solved")
    for exercise_id in GRADED:
        reference = (catalog.solutions_dir / exercise_id / "task.py").read_text()
        with_solution(out / f"{exercise_id}.ipynb", reference, solved / f"{exercise_id}.ipynb")
    session = open_session(catalog, GradeOptions(seed=SEED))
    try:
        yield {
            "untouched": grade(out, catalog, GRADED, session=session),
            "solved": grade(solved, catalog, GRADED, session=session),
            "shuffled": grade(
                case_dir("test_notebook_other_cells_do_not_count") / "filter_limit.ipynb",
                catalog,
                ["filter_limit"],
                session=session,
            ),
        }
    finally:
        session.close()


# -- building ---------------------------------------------------------------------


def test_every_notebook_validates_against_the_schema(catalog: Catalog, written) -> None:
    out, batch = written
    assert batch.written, "the catalog has notebook exercises"
    assert {p.name for p in batch.written} == {p.name for p in out.glob("*.ipynb")}
    for path in batch.written:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.validate(notebook)
        exercise_id = path.stem
        assert notebook.nbformat == 4
        assert notebook.metadata["ormgrade"]["exercise"] == exercise_id
        assert len(tagged(notebook, SOLUTION_TAG)) == 1
        assert tagged(notebook, SOLUTION_TAG)[0].cell_type == "code"
        assert len(tagged(notebook, SETUP_TAG)) == 1
        assert f'local_dataset("{exercise_id}")' in tagged(notebook, SETUP_TAG)[0].source
        check = tagged(notebook, CHECK_TAG)
        assert len(check) == 1 and f'check_notebook("{exercise_id}")' in check[0].source
        spec = catalog.spec(exercise_id)
        first = notebook.cells[0]
        assert first.cell_type == "markdown"
        assert first.source.startswith(f"# {exercise_id} — {spec.title}\n")
        # The first cell says where to work, how to install, and where the data model is.
        assert "You work in this notebook" in first.source
        assert f"The code cell tagged `{SOLUTION_TAG}`" in first.source
        assert "python -m pip install -e ." in first.source
        assert SCHEMA_LINK in first.source
        task = [c.source for c in notebook.cells if c.id.startswith("ormgrade-task-")]
        assert task and not any(t.startswith(f"# {exercise_id}") for t in task)
        for chunk in task:
            assert "Edit `task.py`" not in chunk
            assert "](../../docs/schema.md)" not in chunk
        ids = [c.id for c in notebook.cells]
        assert len(ids) == len(set(ids))


def test_building_twice_gives_the_same_file(catalog: Catalog, written) -> None:
    out, _ = written
    spec = catalog.spec("filter_limit")
    assert (
        nbformat.writes(build_notebook(catalog, spec)) == (out / "filter_limit.ipynb").read_text()
    )


def test_every_exercise_has_a_notebook_or_a_reason(catalog: Catalog, written) -> None:
    _, batch = written
    left_out = dict(batch.left_out)
    for spec in catalog.select():
        if spec.kind == "query" and spec.editable == ("task.py",):
            assert spec.id not in left_out
        else:
            assert left_out[spec.id] == notebook_exclusion(spec)
        if spec.kind == "migration":
            assert left_out[spec.id].startswith(MIGRATION_LEFT_OUT.split("{")[0])


def test_solution_cell_reads_back_as_the_starter(catalog: Catalog, written) -> None:
    _, batch = written
    for path in batch.written:
        starter = (catalog.oracle_dir(path.stem) / "task.py").read_text()
        cell = read_solution(path, path.stem)
        assert cell.source == starter.rstrip() + "\n"
        assert cell.notes == ()


def test_notebook_leaves_out_multi_file_exercises(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "course"
    shutil.copytree(case_dir("test_notebook_leaves_out_multi_file_exercises"), root)
    shutil.copytree(catalog.exercises_dir / "filter_limit", root / "exercises" / "filter_limit")
    small = Catalog(root)

    batch = write_notebooks(small, tmp_path / "out")

    assert [p.name for p in batch.written] == ["filter_limit.ipynb"]
    assert dict(batch.left_out) == {
        "migration_add_column": MIGRATION_LEFT_OUT.format(
            files="models.py, migrations/versions/", id="migration_add_column"
        ),
        "lookup_with_model": FILES_LEFT_OUT.format(
            files="task.py, models.py", id="lookup_with_model"
        ),
    }
    # Handed a notebook anyway, the exercise gets a problem, not an exception.
    found = locate(tmp_path / "out" / "filter_limit.ipynb", small.spec("migration_add_column"))
    assert not found.complete
    reason = str(notebook_exclusion(small.spec("migration_add_column")))
    assert found.problems == (f"migration_add_column cannot be graded from a notebook: {reason}",)


def test_readme_becomes_markdown_cells(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "course"
    shutil.copytree(catalog.exercises_dir / "filter_limit", root / "exercises" / "filter_limit")
    shutil.copy(
        case_dir("test_readme_becomes_markdown_cells") / "README.md",
        root / "exercises" / "filter_limit",
    )
    small = Catalog(root)

    notebook = build_notebook(small, small.spec("filter_limit"))

    task = [c.source for c in notebook.cells if c.id.startswith("ormgrade-task-")]
    assert [t.splitlines()[0] for t in task] == [
        "The starter loads every user and filters in Python.",  # the title is the first cell's
        "## What to do",
        "## How it is graded",
    ]
    assert "# a comment in a code block is not a heading" in task[1]


def test_cli_notebook_writes_the_named_exercises(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["notebook", str(tmp_path), "filter_limit", "eager_loading"])
    assert result.exit_code == EXIT_OK, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "eager_loading.ipynb",
        "filter_limit.ipynb",
    ]
    assert f"wrote {tmp_path / 'filter_limit.ipynb'}" in result.output


def test_cli_notebook_unknown_exercise_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["notebook", str(tmp_path), "nope"])
    assert result.exit_code == EXIT_USAGE
    assert "unknown exercise 'nope'" in result.output
    assert list(tmp_path.iterdir()) == []


# -- grading ----------------------------------------------------------------------


def test_reference_solution_in_the_cell_earns_full_marks(graded) -> None:
    report = graded["solved"]
    assert [(e.id, e.outcome, e.score) for e in report.exercises] == [
        (e.id, Outcome.GRADED, e.max_score) for e in report.exercises
    ]
    assert report.warnings == ()


def test_untouched_notebook_is_correct_but_below_full_marks(graded) -> None:
    for result in graded["untouched"].exercises:
        assert result.outcome is Outcome.GRADED, result.error
        assert result.check("correct_result").passed, result.id
        assert result.score < result.max_score, result.id


def test_notebook_other_cells_do_not_count(graded) -> None:
    # Cells shuffled, outputs and errors saved, a scratch cell defining a broken
    # run(), near-miss tags: only the cell tagged `solution` is graded.
    (result,) = graded["shuffled"].exercises
    assert result.outcome is Outcome.GRADED
    assert result.score == result.max_score


def test_notebook_ipython_lines_set_aside(catalog: Catalog) -> None:
    path = case_dir("test_notebook_ipython_lines_set_aside") / "filter_limit.ipynb"
    cell = read_solution(path, "filter_limit")
    lines = "; ".join(f"line {s.number}: {s.text.strip()}" for s in cell.set_aside)
    note = IPYTHON_NOTE.format(notebook="filter_limit.ipynb", lines=lines)
    assert [s.text.strip() for s in cell.set_aside] == [
        "%%time",
        "%load_ext autoreload",
        "!pip list > /dev/null",
        "files = !ls",
        "%time session.execute(stmt).all()",
    ]

    result = CliRunner().invoke(
        main,
        ["grade", "--submission", str(path), "--seed", str(SEED), "--catalog", str(catalog.root)],
    )

    assert result.exit_code == EXIT_OK, result.output
    assert "filter_limit — " in result.output
    assert f"warning: {note}" in result.output


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "test_notebook_without_solution_cell",
            NO_SOLUTION_CELL.format(notebook="filter_limit.ipynb", tag=SOLUTION_TAG),
        ),
        (
            "test_notebook_with_two_solution_cells",
            MANY_SOLUTION_CELLS.format(
                notebook="filter_limit.ipynb",
                count=2,
                tag=SOLUTION_TAG,
                positions="4 (code), 6 (code)",
            ),
        ),
        (
            "test_notebook_solution_cell_turned_markdown",
            NOT_A_CODE_CELL.format(
                notebook="filter_limit.ipynb", tag=SOLUTION_TAG, position=4, cell_type="markdown"
            ),
        ),
        (
            "test_notebook_old_nbformat",
            OLD_NBFORMAT.format(notebook="filter_limit.ipynb", version=3),
        ),
        (
            "test_notebook_of_another_exercise",
            OTHER_EXERCISE.format(
                notebook="filter_limit.ipynb", owner="eager_loading", exercise="filter_limit"
            ),
        ),
    ],
)
def test_broken_notebook_is_a_crash_of_its_exercise(
    catalog: Catalog, case: str, message: str
) -> None:
    # A folder of notebooks holding a broken one: that exercise crashes with the
    # reason, the others are graded regardless (here: simply absent).
    report = grade(case_dir(case), catalog, ["filter_limit"], GradeOptions(seed=SEED))
    (result,) = report.exercises
    assert result.outcome is Outcome.CRASHED
    assert result.error == message
    assert result.score == 0
    assert all(not c.passed for c in result.checks)


def test_notebook_invalid_json(catalog: Catalog) -> None:
    path = case_dir("test_notebook_invalid_json") / "filter_limit.ipynb"
    with pytest.raises(ValueError) as caught:
        json.loads(path.read_text())
    expected = INVALID_JSON.format(notebook="filter_limit.ipynb", detail=caught.value)

    result = CliRunner().invoke(
        main,
        ["grade", "--submission", str(path), "--seed", str(SEED), "--catalog", str(catalog.root)],
    )

    assert result.exit_code == EXIT_NOT_MET
    assert "submission crashed" in result.output
    assert expected in result.output


def test_cli_grade_notebook_naming_no_exercise(catalog: Catalog) -> None:
    path = case_dir("test_cli_grade_notebook_naming_no_exercise") / "work.ipynb"
    result = CliRunner().invoke(main, ["grade", "--submission", str(path)])
    assert result.exit_code == EXIT_USAGE
    assert NO_EXERCISE_NAMED.format(notebook="work.ipynb", stem="work") in result.output


def test_notebook_named_by_the_command_line_needs_no_metadata(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = case_dir("test_cli_grade_notebook_naming_no_exercise") / "work.ipynb"
    found = locate(path, catalog.spec("filter_limit"))
    assert found.complete and found.notebook == path
    staged = stage(found, tmp_path)
    assert (staged / "task.py").read_text() == read_solution(path).source


def test_notebook_link_leading_outside_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.ipynb"
    shutil.copy(case_dir("test_notebook_other_cells_do_not_count") / "filter_limit.ipynb", outside)
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "filter_limit.ipynb").symlink_to(outside)
    found = locate(folder, catalog.spec("filter_limit"))
    assert found.problems == (
        "filter_limit.ipynb is a link leading outside the submission; refused",
    )


def test_oversized_solution_cell_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "filter_limit.ipynb"
    notebook = solution_notebook("filter_limit", "x = 1\n" * (MAX_CELL_BYTES // 6 + 1))
    path.write_text(json.dumps(notebook))
    with pytest.raises(NotebookError) as caught:
        read_solution(path, "filter_limit")
    assert str(caught.value) == CELL_TOO_LARGE.format(
        notebook="filter_limit.ipynb", tag=SOLUTION_TAG, limit=MAX_CELL_BYTES
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "[" * 100_000 + "]" * 100_000,
            INVALID_JSON.format(notebook="filter_limit.ipynb", detail="nested too deeply"),
        ),
        (
            json.dumps(solution_notebook("filter_limit", "x = 1  # \ud800\n")),
            NOT_A_NOTEBOOK.format(
                notebook="filter_limit.ipynb", detail="cell 1 is not valid Unicode"
            ),
        ),
    ],
    ids=["deeply-nested-json", "lone-surrogate"],
)
def test_hostile_notebook_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "filter_limit.ipynb"
    path.write_text(content)
    with pytest.raises(NotebookError) as caught:
        read_solution(path, "filter_limit")
    assert str(caught.value) == message


def test_notebook_folder_without_the_exercise_says_so(catalog: Catalog) -> None:
    folder = case_dir("test_notebook_invalid_json")
    found = locate(folder, catalog.spec("eager_loading"))
    assert found.problems == (f"no folder for eager_loading in {folder} (nor eager_loading.ipynb)",)


def test_is_notebook_submission(catalog: Catalog, written) -> None:
    out, _ = written
    assert is_notebook_submission(out)
    assert is_notebook_submission(out / "filter_limit.ipynb")
    assert not is_notebook_submission(ROOT)
    assert not is_notebook_submission(catalog.solutions_dir)
    assert not is_notebook_submission(catalog.solutions_dir / "filter_limit" / "task.py")


# -- IPython lines ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected", "set_aside"),
    [
        ("%time x = 1\n", "pass  # IPython line set aside for grading\n", [1]),
        ("!pip install x\ny = 2\n", "pass  # IPython line set aside for grading\ny = 2\n", [1]),
        ("files = !ls\n", "pass  # IPython line set aside for grading\n", [1]),
        ("len?\n", "pass  # IPython line set aside for grading\n", [1]),
        (
            "def f():\n    %time g()\n",
            "def f():\n    pass  # IPython line set aside for grading\n",
            [2],
        ),
        (
            "!echo a \\\n  b\nx = 1\n",
            "pass  # IPython line set aside for grading\n\nx = 1\n",
            [1, 2],
        ),
        # Python that merely looks like IPython is left alone:
        ("x = (4\n     % 3)\n", "x = (4\n     % 3)\n", []),
        (
            "s = '''\n%d rows\n'''\n!ls\n",
            "s = '''\n%d rows\n'''\npass  # IPython line set aside for grading\n",
            [4],
        ),
        (
            "y = (1\n     != 2)\n%who\n",
            "y = (1\n     != 2)\npass  # IPython line set aside for grading\n",
            [3],
        ),
        (
            "s = 'a \\\n%d'\n# a comment \\\n%who\n",
            "s = 'a \\\n%d'\n# a comment \\\npass  # IPython line set aside for grading\n",
            [4],
        ),
    ],
)
def test_set_aside_ipython(source: str, expected: str, set_aside: list[int]) -> None:
    cleaned = set_aside_ipython(source)
    assert cleaned.text == expected
    assert [s.number for s in cleaned.set_aside] == set_aside


# -- inside the kernel ---------------------------------------------------------------


def test_check_cell_grades_the_source_inline(catalog: Catalog) -> None:
    reference = (catalog.solutions_dir / "filter_limit" / "task.py").read_text()
    feedback = check_cell("filter_limit", "%time 1\n" + reference, seed=SEED, catalog=catalog)
    assert feedback.passed
    assert repr(feedback) == str(feedback) == feedback.text
    assert "filter_limit — " in feedback.text
    assert "PASS  where_in_sql" in feedback.text
    assert f"seed {SEED}" in feedback.text
    assert "warning: filter_limit.ipynb: IPython line(s)" in feedback.text


def test_local_dataset_builds_a_tiny_database_once(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "local.sqlite"
    local = local_dataset("filter_limit", path, catalog=catalog)
    with local.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 40
        countries = set(conn.execute(text("SELECT country FROM users WHERE is_active")).scalars())
    assert local.params["limit"] == 10
    assert local.params["country"] in countries
    built = path.stat().st_mtime_ns
    again = local_dataset("filter_limit", path, catalog=catalog)
    assert again.params == local.params
    assert path.stat().st_mtime_ns == built
    assert str(local).startswith(f"local database {path} (size tiny, seed 1)")
    local.engine.dispose()
    again.engine.dispose()


# -- an async exercise in a notebook ------------------------------------------------


def run_cell(source: str, namespace: dict) -> object:
    """Run a cell as IPython does: top-level ``await`` allowed, the last expression returned."""
    import ast
    import asyncio

    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    body = compile(tree, "<cell>", "exec", flags=flags)
    tail = compile(ast.Expression(last.value), "<cell>", "eval", flags=flags) if last else None

    async def cell() -> object:
        for code in (body, tail):
            if code is None:
                continue
            value = eval(code, namespace)
            if asyncio.iscoroutine(value):
                value = await value
        return value

    return asyncio.run(cell())


def test_async_notebook_runs_its_cells_and_grades_the_solution(
    catalog: Catalog, written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out, _ = written
    notebook = nbformat.read(out / "async_eager_loading.ipynb", as_version=4)
    reference = (catalog.solutions_dir / "async_eager_loading" / "task.py").read_text()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    run_cell(tagged(notebook, SETUP_TAG)[0].source, namespace)
    run_cell(reference, namespace)
    (try_cell,) = [c for c in notebook.cells if c.get("id") == "ormgrade-try"]
    assert "await run(session, **params)" in try_cell.source
    result = run_cell(try_cell.source, namespace)
    assert isinstance(result, list) and result and set(result[0]) == {"id", "name", "open_tasks"}
    assert "2 statement(s)" in capsys.readouterr().out
    namespace["local"].engine.dispose()
    feedback = check_cell("async_eager_loading", reference, seed=SEED, catalog=catalog)
    assert feedback.passed, feedback.text
    assert "PASS  no_n_plus_one" in feedback.text
