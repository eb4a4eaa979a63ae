"""The notebook's own side: what the cells of a generated notebook call in the kernel.

`local_dataset` builds a small database to try the exercise on; `check_notebook`
grades the saved notebook exactly as ``ormgrade grade --submission X.ipynb``
does. Reading and building notebooks is `grader.course.notebook`.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from grader.course.catalog import Catalog, discover
from grader.course.notebook import (
    _PREFIX,
    LOCAL_SEED,
    LOCAL_SIZE,
    METADATA_KEY,
    NBFORMAT_MAJOR,
    NOTEBOOK_NOT_FOUND,
    NOTEBOOK_SUFFIX,
    OTHER_DEFINITION_NOTE,
    SOLUTION_TAG,
    UNSAVED_NOTE,
    NotebookError,
    _tags,
    load_notebook_json,
    read_solution,
    set_aside_ipython,
)
from grader.course.spec import ExerciseSpec
from grader.databases.dataset import build, size_named
from grader.report import terminal
from grader.results import GradeReport

# -- inside the notebook's kernel -------------------------------------------------


@dataclass(frozen=True)
class LocalDataset:
    """A small seeded SQLite database to try an exercise on.

    Attributes:
        path: The SQLite file.
        engine: An engine on it.
        params: The keyword arguments the exercise's function is called with.
        seed: The seed the data was generated with.
        size: The dataset size's name.
    """

    path: Path
    engine: Engine
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = LOCAL_SEED
    size: str = LOCAL_SIZE

    def __str__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items()) or "none"
        return f"local database {self.path} (size {self.size}, seed {self.seed}); params: {params}"


def local_dataset(
    exercise_id: str,
    path: str | os.PathLike[str] | None = None,
    seed: int = LOCAL_SEED,
    size: str = LOCAL_SIZE,
    catalog: Catalog | None = None,
) -> LocalDataset:
    """Build (once) a small database for ``exercise_id`` and the parameters to call it with.

    Args:
        exercise_id: The exercise.
        path: The SQLite file; default ``<id>-<size>-s<seed>.sqlite`` in the current folder.
        seed: Dataset seed.
        size: Dataset size name (``tiny`` by default).
        catalog: Where the exercise is; found automatically by default.
    """
    from grader.execution.child import load_module

    spec = (catalog or discover()).spec(exercise_id)
    hooks = (
        load_module(str(spec.hooks_path), f"ormgrade_notebook_hooks_{spec.id}")
        if spec.hooks_path
        else None
    )
    target = Path(path) if path is not None else Path(f"{spec.id}-{size}-s{seed}.sqlite")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".sqlite", dir=target.parent)
        os.close(fd)
        builder = create_engine(f"sqlite:///{tmp}")
        try:
            build(builder, size_named(size), seed, getattr(hooks, "METADATA", None))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            builder.dispose()
        os.replace(tmp, target)
    engine = create_engine(f"sqlite:///{target}")
    params = dict(spec.params)
    make = getattr(hooks, "params", None)
    if make is not None:
        with engine.connect() as connection:
            params.update(make(connection, random.Random(seed), spec))
    return LocalDataset(target, engine, params, seed, size)


#: Sources of the cells run in this kernel, by cell id (see `_record_cells`).
_RAN: dict[str, str] = {}
#: The last cells run in this kernel, in order (kernels that are not told cell ids).
_RAN_IN_ORDER: list[str] = []
#: How many of them are kept.
_KEPT_CELLS = 200


def _record_cells() -> None:
    """In a Jupyter kernel, remember what each cell ran, by its id.

    The check cell then tells a saved solution cell from the one last run
    (an unsaved edit). Nothing happens outside a kernel.
    """
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or getattr(shell, "_ormgrade_recording", False):
        return

    def remember(info: Any) -> None:
        if not isinstance(info.raw_cell, str):
            return
        cell_id = getattr(info, "cell_id", None)
        if isinstance(cell_id, str):
            _RAN[cell_id] = info.raw_cell
        _RAN_IN_ORDER.append(info.raw_cell)
        del _RAN_IN_ORDER[:-_KEPT_CELLS]

    shell.events.register("pre_run_cell", remember)
    shell._ormgrade_recording = True


_record_cells()


def notebook_file(exercise_id: str, path: str | os.PathLike[str] | None = None) -> Path:
    """The notebook file being worked on: ``path``, else the one the kernel belongs to.

    Without ``path``: the notebook Jupyter names (``$JPY_SESSION_NAME``), the
    one VS Code names, then ``<id>.ipynb`` in the current folder.

    Raises:
        NotebookError: None of these is a file.
    """
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    else:
        session = os.environ.get("JPY_SESSION_NAME", "")
        if session.endswith(NOTEBOOK_SUFFIX):
            candidates.append(Path(session))
        if "IPython" in sys.modules:
            from IPython import get_ipython

            shell = get_ipython()
            named = shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None
            if isinstance(named, str):
                candidates.append(Path(named))
        candidates.append(Path(f"{exercise_id}{NOTEBOOK_SUFFIX}"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise NotebookError(NOTEBOOK_NOT_FOUND.format(tried=tried, id=exercise_id))


def _saved_cell_id(path: Path) -> str | None:
    data = load_notebook_json(path)
    for cell in data["cells"]:
        if isinstance(cell, Mapping) and SOLUTION_TAG in _tags(cell):
            cell_id = cell.get("id")
            return cell_id if isinstance(cell_id, str) else None
    return None


def unsaved_note(
    path: Path,
    spec: ExerciseSpec,
    ran: Mapping[str, str] | None = None,
    ran_in_order: Sequence[str] | None = None,
) -> str | None:
    """Why the saved solution cell may not be what the student meant to grade, or None.

    With the cells' ids (JupyterLab sends them), `UNSAVED_NOTE` when the
    saved cell tagged ``solution`` differs from what that cell last ran.
    Without ids, `OTHER_DEFINITION_NOTE` when the last cell run that defines
    the entry function is not the saved solution cell.
    """
    ran = _RAN if ran is None else ran
    ran_in_order = _RAN_IN_ORDER if ran_in_order is None else ran_in_order
    try:
        cell_id = _saved_cell_id(path)
        saved = read_solution(path, spec.id).source.strip()
    except NotebookError:
        return None  # grading says what is wrong with the file
    if cell_id is not None and cell_id in ran:
        if set_aside_ipython(ran[cell_id]).text.strip() == saved:
            return None
        return UNSAVED_NOTE.format(tag=SOLUTION_TAG)
    defines = re.compile(rf"^\s*(async\s+)?def\s+{re.escape(spec.entry)}\s*\(", re.MULTILINE)
    last = next((cell for cell in reversed(ran_in_order) if defines.search(cell)), None)
    if last is None or set_aside_ipython(last).text.strip() == saved:
        return None
    return OTHER_DEFINITION_NOTE.format(entry=spec.entry, tag=SOLUTION_TAG)


@dataclass(frozen=True, repr=False)
class CellFeedback:
    """The grade of a notebook cell, shown as the terminal report.

    Attributes:
        report: The results, as every other front end gets them.
        text: The report as text, evidence of passed checks included.
    """

    report: GradeReport
    text: str

    @property
    def passed(self) -> bool:
        """Full marks (never true when the exercise was left out on this database)."""
        return bool(self.report.exercises) and self.report.score == self.report.max_score

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def solution_notebook(exercise_id: str, source: str) -> dict[str, Any]:
    """A minimal notebook (as JSON data) whose solution cell holds ``source``."""
    return {
        "nbformat": NBFORMAT_MAJOR,
        "nbformat_minor": 5,
        "metadata": {METADATA_KEY: {"exercise": exercise_id}},
        "cells": [
            {
                "id": f"{_PREFIX}-solution",
                "cell_type": "code",
                "metadata": {"tags": [SOLUTION_TAG]},
                "execution_count": None,
                "outputs": [],
                "source": source,
            }
        ],
    }


def check_cell(
    exercise_id: str,
    source: str,
    seed: int | None = None,
    db_url: str | None = None,
    catalog: Catalog | None = None,
) -> CellFeedback:
    """Grade ``source`` as the solution cell of ``exercise_id``, exactly as a notebook is.

    Args:
        exercise_id: The exercise.
        source: The solution cell's code.
        seed: Dataset seed (a fresh one by default, as in grading).
        db_url: Database to grade on (SQLite by default).
        catalog: Where the exercise is; found automatically by default.
    """
    # The runner reads submissions, which read notebooks through this module.
    from grader.grading.runner import GradeOptions, grade

    chosen = catalog or discover()
    chosen.spec(exercise_id)
    with tempfile.TemporaryDirectory(prefix="ormgrade-cell-") as scratch:
        path = Path(scratch) / f"{exercise_id}{NOTEBOOK_SUFFIX}"
        path.write_text(json.dumps(solution_notebook(exercise_id, source)), encoding="utf-8")
        report = grade(path, chosen, [exercise_id], GradeOptions(seed=seed, db_url=db_url))
    return CellFeedback(report, terminal.render(report, verbose=True))


def check_notebook(
    exercise_id: str,
    path: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    db_url: str | None = None,
    catalog: Catalog | None = None,
) -> CellFeedback:
    """Grade the saved notebook of ``exercise_id`` exactly as ``ormgrade grade --submission`` does.

    The notebook file is graded (its one cell tagged ``solution``, found by
    the tag), not the cells run in the kernel, so the grade shown is the
    grade the notebook gets. When the saved cell is not the code last run in
    it, the feedback starts with `UNSAVED_NOTE`.

    Args:
        exercise_id: The exercise.
        path: The notebook file; found as `notebook_file` says by default.
        seed: Dataset seed (a fresh one by default, as in grading).
        db_url: Database to grade on (SQLite by default).
        catalog: Where the exercise is; found automatically by default.
    """
    from grader.grading.runner import GradeOptions, grade

    chosen = catalog or discover()
    spec = chosen.spec(exercise_id)
    notebook = notebook_file(exercise_id, path)
    note = unsaved_note(notebook, spec)
    report = grade(notebook, chosen, [exercise_id], GradeOptions(seed=seed, db_url=db_url))
    text = terminal.render(report, verbose=True)
    return CellFeedback(report, f"{note}\n\n{text}" if note else text)
