"""The starter's peak memory, kept between gradings.

`peak_memory` shows the starter's peak beside the submission's. Tracing the
starter is the longest run of its exercise (tracemalloc slows every allocation
down, about five times over a large export), and its figure grades nothing: it
is only shown. It is the same for the same starter, hooks, parameters, data and
interpreter, so it is measured once and kept in the template cache's folder,
which runs cannot read or write, under a name keyed with the cache's secret
(like the templates' names), in a file per figure.

A figure that cannot be read is measured again; one that cannot be written is
not kept. Either way the grade is the same.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader import __version__
from grader.databases.cache import default_cache_dir, file_digest, keyed_name

#: The cache's folder of starter peaks.
PEAKS_DIR = "starter-peaks"


def peak_file(
    exercise_id: str,
    location: str,
    url: str,
    files: tuple[Path | None, ...],
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    cache_dir: Path | None = None,
) -> Path:
    """Where the starter's peak for these inputs is kept.

    Args:
        exercise_id: The exercise.
        location: The template the run copies (its name is keyed by size, seed and schema).
        url: The template's URL (the database it is on).
        files: The starter's file and the hooks' file, whose contents are part of the key.
        params: The call's parameters.
        options: The spec's options.
        cache_dir: The cache's folder (the default one by default).
    """
    import sqlalchemy

    folder = cache_dir or default_cache_dir()
    contents = tuple(file_digest(f) if f is not None else None for f in files)
    name = keyed_name(
        folder,
        exercise_id,
        location,
        url,
        contents,
        repr(sorted(params.items())),
        repr(sorted(options.items())),
        sys.version,
        sqlalchemy.__version__,
        __version__,
    )
    return folder / PEAKS_DIR / name


def read_peak(path: Path) -> int | None:
    """The kept peak in bytes, or None when there is none (or it cannot be read)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def keep_peak(path: Path, peak: int) -> None:
    """Keep ``peak`` at ``path``, whole or not at all (a racing grading writes the same)."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            draft.write_text(str(peak), encoding="ascii")
            os.replace(draft, path)
        finally:
            draft.unlink(missing_ok=True)
