"""The generated notebooks, executed in a real Jupyter kernel (nbclient + ipykernel).

The check cell must show the grade the notebook gets: the grade of its saved
cell tagged ``solution``, as ``ormgrade grade --submission <id>.ipynb`` gives
it, whatever else was run in the kernel.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbclient import NotebookClient

from grader.cli import EXIT_NOT_MET, EXIT_OK, main
from grader.course.catalog import Catalog
from grader.course.notebook import (
    CHECK_TAG,
    OTHER_DEFINITION_NOTE,
    SOLUTION_TAG,
    UNSAVED_NOTE,
    NotebookError,
    notebook_ids,
    write_notebooks,
)
from grader.notebook import (
    notebook_file,
    unsaved_note,
)

TOTAL = re.compile(r"^Total: (\d+)/(\d+) points", re.M)
#: The exercise the kernel tests edit; the others are executed as generated.
EXERCISE = "filter_limit"


def tagged_index(notebook: nbformat.NotebookNode, tag: str) -> int:
    (index,) = [i for i, c in enumerate(notebook.cells) if tag in c.metadata.get("tags", [])]
    return index


def execute(notebook: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel whose working folder is ``folder``."""
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return notebook


def check_output(notebook: nbformat.NotebookNode) -> str:
    cell = notebook.cells[tagged_index(notebook, CHECK_TAG)]
    texts = [
        o["data"]["text/plain"] for o in cell.outputs if o.get("output_type") == "execute_result"
    ]
    assert len(texts) == 1, cell.outputs
    return texts[0]


def total(text: str) -> tuple[int, int]:
    found = TOTAL.search(text)
    assert found is not None, text
    return int(found.group(1)), int(found.group(2))


def cli_total(path: Path, *ids: str) -> tuple[int, int, str]:
    result = CliRunner().invoke(main, ["grade", *ids, "--submission", str(path)])
    assert result.exit_code in (EXIT_OK, EXIT_NOT_MET), result.output
    return (*total(result.output), result.output)


@pytest.fixture(scope="module")
def generated(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notebooks")
    write_notebooks(catalog, out)
    return out


def a_copy(generated: Path, folder: Path) -> tuple[Path, nbformat.NotebookNode]:
    folder.mkdir()
    path = Path(shutil.copy(generated / f"{EXERCISE}.ipynb", folder))
    return path, nbformat.read(path, as_version=4)


def test_check_cell_grades_the_tagged_cell_not_a_faster_scratch_cell(
    catalog: Catalog, generated: Path, tmp_path: Path
) -> None:
    path, notebook = a_copy(generated, tmp_path / "work")
    fast = (catalog.solutions_dir / EXERCISE / "task.py").read_text(encoding="utf-8")
    # A scratch cell with a fast run(), run after the (starter) solution cell.
    notebook.cells.insert(tagged_index(notebook, CHECK_TAG), nbformat.v4.new_code_cell(fast))
    nbformat.write(notebook, path)
    text = check_output(execute(notebook, path.parent))
    score, max_score, _ = cli_total(path)
    assert total(text) == (score, max_score)
    assert score < max_score == 10  # the starter's grade, not the scratch cell's
    assert text.startswith(OTHER_DEFINITION_NOTE.format(entry="run", tag=SOLUTION_TAG))


def test_a_solved_notebook_checks_full_marks_as_the_cli_does(
    catalog: Catalog, generated: Path, tmp_path: Path
) -> None:
    path, notebook = a_copy(generated, tmp_path / "work")
    solution = (catalog.solutions_dir / EXERCISE / "task.py").read_text(encoding="utf-8")
    notebook.cells[tagged_index(notebook, SOLUTION_TAG)].source = solution
    nbformat.write(notebook, path)
    text = check_output(execute(notebook, path.parent))
    assert total(text) == (10, 10)
    assert cli_total(path)[:2] == (10, 10)
    assert UNSAVED_NOTE.split(":")[0] not in text
    assert OTHER_DEFINITION_NOTE.split(":")[0].format(entry="run", tag=SOLUTION_TAG) not in text


def test_an_unsaved_edit_is_named_and_the_saved_cell_graded(
    catalog: Catalog, generated: Path, tmp_path: Path
) -> None:
    path, notebook = a_copy(generated, tmp_path / "work")
    solution = (catalog.solutions_dir / EXERCISE / "task.py").read_text(encoding="utf-8")
    # The kernel runs the solution; the file on disk still holds the starter. This
    # kernel client sends no cell ids (JupyterLab does: see test_unsaved_note_*).
    notebook.cells[tagged_index(notebook, SOLUTION_TAG)].source = solution
    text = check_output(execute(notebook, path.parent))
    assert text.startswith(OTHER_DEFINITION_NOTE.format(entry="run", tag=SOLUTION_TAG))
    score, max_score, _ = cli_total(path)
    assert total(text) == (score, max_score) != (10, 10)


@pytest.mark.slow
def test_every_generated_notebook_runs_and_checks_as_the_cli_grades(
    catalog: Catalog, generated: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "class"
    shutil.copytree(generated, folder)
    _, _, output = cli_total(folder)
    per_exercise = dict(re.findall(r"^(\w+) — .*\[(\d+/\d+)\]", output, re.M))
    ids = notebook_ids(catalog)
    # Graded on SQLite: an exercise that SQLite cannot run is left out, saying why.
    assert set(per_exercise) == {i for i in ids if catalog.spec(i).runs_on("sqlite")}
    for path in sorted(folder.glob("*.ipynb")):
        notebook = execute(nbformat.read(path, as_version=4), folder)
        text = check_output(notebook)
        if path.stem in per_exercise:
            assert "{}/{}".format(*total(text)) == per_exercise[path.stem], path.stem
        else:
            assert catalog.spec(path.stem).not_on("sqlite") in " ".join(text.split()), text


@pytest.mark.slow  # a kernel per notebook exercise
def test_a_folder_of_notebooks_is_graded_on_the_notebook_exercises_only(
    catalog: Catalog, generated: Path
) -> None:
    ids = notebook_ids(catalog)
    assert not any(catalog.spec(i).kind == "migration" for i in ids)
    result = CliRunner().invoke(
        main, ["grade", "--submission", str(generated), "--seed", "3", "--timeout", "120"]
    )
    assert result.exit_code == EXIT_NOT_MET, result.output
    assert "submission crashed" not in result.output
    # Graded on SQLite: an exercise that SQLite cannot run is left out with its reason.
    expected = sum(catalog.spec(i).max_score for i in ids if catalog.spec(i).runs_on("sqlite"))
    assert total(result.output)[1] == expected


def test_unsaved_note_by_cell_id(catalog: Catalog, generated: Path) -> None:
    path = generated / f"{EXERCISE}.ipynb"
    spec = catalog.spec(EXERCISE)
    saved = nbformat.read(path, as_version=4)
    cell = saved.cells[tagged_index(saved, SOLUTION_TAG)]
    edited = cell.source + "\n# faster now\n"
    assert unsaved_note(path, spec, {cell.id: edited}, []) == UNSAVED_NOTE.format(tag=SOLUTION_TAG)
    assert unsaved_note(path, spec, {cell.id: cell.source}, [edited]) is None
    # Without ids: the last run() defined decides.
    assert unsaved_note(path, spec, {}, [cell.source, edited]) == OTHER_DEFINITION_NOTE.format(
        entry="run", tag=SOLUTION_TAG
    )
    assert unsaved_note(path, spec, {}, [edited, cell.source, "1 + 1"]) is None
    assert unsaved_note(path, spec, {}, []) is None


def test_notebook_file_is_named_found_or_explained(generated: Path, tmp_path: Path) -> None:
    path = generated / f"{EXERCISE}.ipynb"
    assert notebook_file(EXERCISE, path) == path
    with pytest.raises(NotebookError) as caught:
        notebook_file(EXERCISE, tmp_path / "nowhere.ipynb")
    assert f'check_notebook("{EXERCISE}", "path/to/{EXERCISE}.ipynb")' in str(caught.value)
