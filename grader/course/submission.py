"""Reading a submission: only the files an exercise's spec marks editable.

A submission is a folder: a student repository (holding ``exercises/<id>/``),
a folder of exercise folders (like ``solutions/``), or one exercise's folder.
It may also be made of Jupyter notebooks: one ``.ipynb`` file, or a folder of
``<id>.ipynb`` files; a notebook's cell tagged ``solution`` stands for
``task.py`` (see `grader.course.notebook`). Everything else comes from the catalog, so
editing tests, specs or the grader in a student copy changes nothing about the
grade.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.course.notebook import (
    NOTEBOOK_SUFFIX,
    SOLUTION_FILE,
    NotebookError,
    notebook_exclusion,
    read_solution,
)
from grader.course.spec import ExerciseSpec

#: Largest single editable file accepted, in bytes.
MAX_FILE_BYTES = 1_000_000
#: Why a file that is a link leading out of its exercise's folder is not taken.
LINK_OUTSIDE = "{name} is a link leading outside the submission; refused"


@dataclass(frozen=True)
class SubmissionFiles:
    """The editable files of one exercise, as found in a submission.

    Attributes:
        exercise_id: The exercise.
        base: The folder they were looked up in (None when none was found).
        files: Relative name (as in the spec) to the file's path.
        problems: Why a file could not be taken (missing, outside, too large).
        sources: Files given as text rather than as paths (the solution cell of
            a notebook, as ``task.py``).
        notes: What the student should know about how the files were read,
            without it changing the grade (IPython lines set aside).
        notebook: The notebook the files come from, when they come from one.
    """

    exercise_id: str
    base: Path | None
    files: dict[str, Path]
    problems: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    notebook: Path | None = None

    @property
    def complete(self) -> bool:
        """Every editable file was found and accepted."""
        return not self.problems


def exercise_folder(submission: Path, exercise_id: str) -> Path | None:
    """The folder of ``exercise_id`` inside ``submission``, if there is one."""
    candidates = [submission / "exercises" / exercise_id, submission / exercise_id]
    if submission.name == exercise_id:
        candidates.append(submission)
    return next((c for c in candidates if c.is_dir()), None)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def locate(submission: Path, spec: ExerciseSpec) -> SubmissionFiles:
    """Find the editable files of ``spec`` in ``submission``.

    A file that is a link leading outside the exercise folder is refused, and
    so is one over `MAX_FILE_BYTES`. Without an exercise folder, the
    exercise's notebook is read, if the submission has one (`notebook_for`).
    """
    base = exercise_folder(submission, spec.id)
    if base is None:
        notebook = notebook_for(submission, spec.id)
        if notebook is not None:
            return locate_in_notebook(notebook, spec, submission)
        nor = f" (nor {spec.id}{NOTEBOOK_SUFFIX})" if is_notebook_submission(submission) else ""
        return SubmissionFiles(
            spec.id, None, {}, (f"no folder for {spec.id} in {submission}{nor}",)
        )
    files: dict[str, Path] = {}
    problems: list[str] = []
    for name in spec.editable:
        path = base / name
        if name.endswith("/"):
            if path.is_dir() and _inside(path, base):
                files[name] = path
            elif path.exists():
                problems.append(f"{name} leads outside the submission; refused")
            continue
        if not path.exists() and not path.is_symlink():
            problems.append(f"{name} is missing from {base}")
        elif not _inside(path, base):
            problems.append(LINK_OUTSIDE.format(name=name))
        elif not path.is_file():
            problems.append(f"{name} is not a regular file")
        elif path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{name} is larger than {MAX_FILE_BYTES} bytes; refused")
        else:
            files[name] = path
    return SubmissionFiles(spec.id, base, files, tuple(problems))


def is_notebook_submission(path: Path) -> bool:
    """Whether ``path`` is a submission made of notebooks.

    That is a ``.ipynb`` file, or a folder with ``.ipynb`` files directly in
    it and no ``exercises/`` folder (a folder of ``<id>.ipynb`` notebooks).
    """
    if path.is_file():
        return path.suffix == NOTEBOOK_SUFFIX
    return (
        path.is_dir()
        and not (path / "exercises").is_dir()
        and any(p.suffix == NOTEBOOK_SUFFIX and p.is_file() for p in path.iterdir())
    )


def notebook_for(submission: Path, exercise_id: str) -> Path | None:
    """The notebook of ``exercise_id``: the submission itself, or its ``<id>.ipynb``."""
    if submission.is_file():
        return submission if submission.suffix == NOTEBOOK_SUFFIX else None
    candidate = submission / f"{exercise_id}{NOTEBOOK_SUFFIX}"
    return candidate if candidate.is_file() or candidate.is_symlink() else None


def locate_in_notebook(notebook: Path, spec: ExerciseSpec, submission: Path) -> SubmissionFiles:
    """The editable file of ``spec`` from the solution cell of ``notebook``.

    Every way the notebook cannot be graded (see `grader.course.notebook.read_solution`)
    becomes a problem of the result, never an exception.
    """

    def refused(problem: str) -> SubmissionFiles:
        return SubmissionFiles(spec.id, notebook.parent, {}, (problem,), notebook=notebook)

    reason = notebook_exclusion(spec)
    if reason is not None:
        return refused(f"{spec.id} cannot be graded from a notebook: {reason}")
    if submission.is_dir() and not _inside(notebook, submission):
        return refused(LINK_OUTSIDE.format(name=notebook.name))
    try:
        solution = read_solution(notebook, spec.id)
    except NotebookError as exc:
        return refused(str(exc))
    return SubmissionFiles(
        spec.id,
        notebook.parent,
        {},
        sources={SOLUTION_FILE: solution.source},
        notes=solution.notes,
        notebook=notebook,
    )


def submission_notes(submission: Path, specs: Iterable[ExerciseSpec]) -> tuple[str, ...]:
    """The notes of reading ``submission`` for ``specs`` (IPython lines set aside).

    Never raises: a submission that cannot be read has no notes, and grading
    the exercise reports what is wrong with it.
    """
    notes: list[str] = []
    for spec in specs:
        try:
            notes.extend(locate(submission, spec).notes)
        except Exception:  # reported by the exercise's own grading
            continue
    return tuple(notes)


def stage(found: SubmissionFiles, into: Path) -> Path:
    """Copy the accepted files into ``into`` (a private work folder) and return it."""
    into.mkdir(parents=True, exist_ok=True)
    for name, text in found.sources.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for name, path in found.files.items():
        target = into / name.rstrip("/")
        if path.is_dir():
            shutil.copytree(
                path,
                target,
                symlinks=False,
                ignore=_ignore_outside(path),
                dirs_exist_ok=True,
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return into


def _ignore_outside(root: Path) -> Callable[[str, list[str]], list[str]]:
    def ignore(directory: str, names: list[str]) -> list[str]:
        here = Path(directory)
        return [
            n
            for n in names
            if n == "__pycache__" or ((here / n).is_symlink() and not _inside(here / n, root))
        ]

    return ignore
