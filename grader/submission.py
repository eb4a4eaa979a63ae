"""Reading a submission: only the files an exercise's spec marks editable.

A submission is a folder: a student repository (holding ``exercises/<id>/``),
a folder of exercise folders (like ``solutions/``), or one exercise's folder.
Everything else comes from the catalog, so editing tests, specs or the grader
in a student copy changes nothing about the grade.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.spec import ExerciseSpec

#: Largest single editable file accepted, in bytes.
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class SubmissionFiles:
    """The editable files of one exercise, as found in a submission.

    Attributes:
        exercise_id: The exercise.
        base: The folder they were looked up in (None when none was found).
        files: Relative name (as in the spec) to the file's path.
        problems: Why a file could not be taken (missing, outside, too large).
    """

    exercise_id: str
    base: Path | None
    files: dict[str, Path]
    problems: tuple[str, ...] = ()

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
    so is one over `MAX_FILE_BYTES`.
    """
    base = exercise_folder(submission, spec.id)
    if base is None:
        return SubmissionFiles(
            spec.id, None, {}, (f"no folder for {spec.id} in {submission}",)
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
            problems.append(f"{name} is a link leading outside the submission; refused")
        elif not path.is_file():
            problems.append(f"{name} is not a regular file")
        elif path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{name} is larger than {MAX_FILE_BYTES} bytes; refused")
        else:
            files[name] = path
    return SubmissionFiles(spec.id, base, files, tuple(problems))


def stage(found: SubmissionFiles, into: Path) -> Path:
    """Copy the accepted files into ``into`` (a private work folder) and return it."""
    into.mkdir(parents=True, exist_ok=True)
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


def _ignore_outside(root: Path):  # type: ignore[no-untyped-def]
    def ignore(directory: str, names: list[str]) -> list[str]:
        here = Path(directory)
        return [
            n
            for n in names
            if n == "__pycache__" or ((here / n).is_symlink() and not _inside(here / n, root))
        ]

    return ignore
