"""The submission's own failures in a migration run, told in the terms of its files.

`SubmissionFailed` ends a run with a `grader.execution.run.Failure`;
`where_in_submission` names the file and line of the submission an exception came from.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from grader.execution.run import Failure


class SubmissionFailed(Exception):
    """The submission's own code failed in a way that ends the run (a `Failure`)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def relative_path(path: str | Path, roots: Iterable[Path]) -> str:
    """``path`` relative to the first of ``roots`` it lies under, else as given."""
    text_path = str(path)
    for root in roots:
        prefix = str(root).rstrip("/" + os.sep) + os.sep
        if text_path.startswith(prefix):
            return text_path[len(prefix) :]
    return text_path


def student_frame(exc: BaseException, project: Path) -> traceback.FrameSummary | None:
    """The innermost frame of ``exc``'s traceback in a file under ``project``."""
    root = str(project).rstrip("/" + os.sep) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(root)]
    return frames[-1] if frames else None


def where_in_submission(exc: BaseException, project: Path) -> str:
    """``file, line N, in f: code`` of the submission's frame ``exc`` came from, or empty."""
    frame = student_frame(exc, project)
    if frame is None:
        return ""
    where = f"{relative_path(frame.filename, [project])}, line {frame.lineno}, in {frame.name}"
    return f"{where}: {frame.line}" if frame.line else where


def one_line(exc: BaseException) -> str:
    """``exc`` as ``Type: first line``; a database error as the driver's own message."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}"
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
