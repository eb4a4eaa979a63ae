"""A student's editable files as plain data, to grade them on another machine.

Distributed grading (`grader.classbook.worker`) sends each student's submission as a
JSON document, never as pickled objects: the files a spec marks editable
(and, for notebook submissions, the notebooks), each as a relative path and
its bytes in base64. The worker rebuilds them in a private folder and grades
that folder with the same `grader.grading.runner.grade` a local run uses.

Only what `grader.course.submission.locate` would take is sent, in the same places,
so the worker finds the same files and reports the same problems: a file
that is missing is left out; one that `locate` refuses (a link leading out of
the submission, something that is not a regular file, a file over
`grader.course.submission.MAX_FILE_BYTES`) travels as a marker of that kind, never
its content, and the worker puts a stand-in of its own making in its place.
"""

from __future__ import annotations

import base64
import binascii
import enum
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grader.course.spec import ExerciseSpec
from grader.course.submission import (
    MAX_FILE_BYTES,
    SubmissionFiles,
    _inside,
    exercise_folder,
    notebook_for,
    stage,
)
from grader.errors import OrmgradeError

#: Largest payload a task may carry: the sum of its files' sizes, in bytes.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
#: Most entries (files and folders) a payload may hold.
MAX_ENTRIES = 2000
#: Where the stand-in of a link leading outside the submission points.
OUTSIDE_TARGET = "/"

PAYLOAD_TOO_LARGE = (
    "the submission's editable files total {size} bytes, more than the {limit} bytes a "
    "grading task may carry; refused (grade this student with a local grade-all)"
)
BAD_PAYLOAD = "the task's submission files are malformed: {reason}"


class PayloadError(OrmgradeError):
    """A payload that cannot be built (too large) or read (malformed)."""


class EntryKind(enum.StrEnum):
    """What one path of a payload stands for.

    ``folder``: a folder. ``file``: a regular file, with its bytes.
    ``outside_link``: a link leading outside the submission. ``not_file``:
    something other than a regular file where the spec names a file.
    ``not_folder``: something other than a folder where the spec names one.
    ``oversized``: a file over `MAX_FILE_BYTES` (its content is not sent).
    """

    FOLDER = "folder"
    FILE = "file"
    OUTSIDE_LINK = "outside_link"
    NOT_FILE = "not_file"
    NOT_FOLDER = "not_folder"
    OVERSIZED = "oversized"


@dataclass(frozen=True)
class PayloadEntry:
    """One path of a submission payload.

    Attributes:
        path: The POSIX path relative to the submission (never absolute, never ``..``).
        kind: What it stands for.
        data: The file's bytes (``file`` only).
    """

    path: str
    kind: EntryKind
    data: bytes = b""


@dataclass(frozen=True)
class SubmissionPayload:
    """A student's editable files, ready to travel as JSON.

    Attributes:
        name: The submission's own name (its folder's or notebook's): an
            exercise folder graded on its own is found by this name.
        single_file: The submission is one file (a notebook), ``name`` itself.
        entries: Its folders, files and markers.
    """

    name: str
    single_file: bool
    entries: tuple[PayloadEntry, ...]

    @property
    def size(self) -> int:
        """The files' bytes in total."""
        return sum(len(e.data) for e in self.entries)

    def to_message(self) -> dict[str, Any]:
        """The JSON-serialisable form."""
        return {
            "name": self.name,
            "single_file": self.single_file,
            "entries": [
                {"path": e.path, "kind": e.kind.value, "data": base64.b64encode(e.data).decode()}
                for e in self.entries
            ],
        }

    @classmethod
    def from_message(cls, message: Any) -> SubmissionPayload:
        """Read a payload sent by another machine, trusting nothing in it.

        Raises:
            PayloadError: Not a payload: a wrong shape, a path that is absolute
                or climbs out, an unknown kind, bad base64, or past the bounds.
        """
        if not isinstance(message, Mapping):
            raise PayloadError(BAD_PAYLOAD.format(reason="not an object"))
        name = message.get("name")
        raw_entries = message.get("entries")
        single_file = message.get("single_file")
        if not isinstance(name, str) or not _plain_name(name):
            raise PayloadError(BAD_PAYLOAD.format(reason=f"bad submission name {name!r}"))
        if not isinstance(single_file, bool) or not isinstance(raw_entries, list):
            raise PayloadError(BAD_PAYLOAD.format(reason="missing fields"))
        if len(raw_entries) > MAX_ENTRIES:
            raise PayloadError(BAD_PAYLOAD.format(reason=f"more than {MAX_ENTRIES} entries"))
        entries = []
        size = 0
        for raw in raw_entries:
            if not isinstance(raw, Mapping):
                raise PayloadError(BAD_PAYLOAD.format(reason="an entry is not an object"))
            path, kind, data = raw.get("path"), raw.get("kind"), raw.get("data", "")
            if not isinstance(path, str) or not _safe_relative(path):
                raise PayloadError(BAD_PAYLOAD.format(reason=f"path {path!r} refused"))
            try:
                entry_kind = EntryKind(str(kind))
            except ValueError:
                raise PayloadError(BAD_PAYLOAD.format(reason=f"unknown kind {kind!r}")) from None
            if not isinstance(data, str):
                raise PayloadError(BAD_PAYLOAD.format(reason=f"{path}: data is not text"))
            try:
                content = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise PayloadError(BAD_PAYLOAD.format(reason=f"{path}: bad base64")) from None
            size += len(content)
            if size > MAX_PAYLOAD_BYTES:
                raise PayloadError(PAYLOAD_TOO_LARGE.format(size=size, limit=MAX_PAYLOAD_BYTES))
            entries.append(PayloadEntry(path, entry_kind, content))
        if single_file and [e.path for e in entries] != [name]:
            raise PayloadError(BAD_PAYLOAD.format(reason="a one-file submission of other paths"))
        return cls(name, single_file, tuple(entries))

    def unpack(self, into: Path) -> Path:
        """Rebuild the submission under the empty folder ``into``; its path.

        The stand-ins are of the worker's own making: a link to `OUTSIDE_TARGET`,
        an empty folder or file, a sparse file one byte over `MAX_FILE_BYTES`.
        """
        root = into / self.name
        base = into if self.single_file else root
        base.mkdir(parents=True, exist_ok=True)
        for entry in self.entries:
            target = base / entry.path
            if not _inside(target.parent, into):  # a folder of the payload made into a link
                raise PayloadError(BAD_PAYLOAD.format(reason=f"path {entry.path!r} refused"))
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.kind is EntryKind.FOLDER or entry.kind is EntryKind.NOT_FILE:
                target.mkdir(exist_ok=True)
            elif entry.kind is EntryKind.FILE:
                target.write_bytes(entry.data)
            elif entry.kind is EntryKind.NOT_FOLDER:
                target.touch()
            elif entry.kind is EntryKind.OUTSIDE_LINK:
                target.symlink_to(OUTSIDE_TARGET)
            else:
                with target.open("wb") as oversized:
                    oversized.truncate(MAX_FILE_BYTES + 1)
        return root


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


def _safe_relative(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        bool(path)
        and "\0" not in path
        and "\\" not in path
        and not pure.is_absolute()
        and all(_plain_name(part) for part in pure.parts)
    )


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _entries_of_folder(root: Path, base: Path, name: str, folder: Path) -> list[PayloadEntry]:
    """What `grader.course.submission.stage` would copy of the editable folder ``folder``."""
    entries = [PayloadEntry(_relative(folder, root), EntryKind.FOLDER)]
    with tempfile.TemporaryDirectory(prefix="ormgrade-payload-") as work:
        staged = stage(SubmissionFiles("", base, {name: folder}), Path(work))
        copied = staged / name.rstrip("/")
        for path in sorted(copied.rglob("*")):
            where = f"{entries[0].path}/{_relative(path, copied)}"
            if path.is_dir():
                entries.append(PayloadEntry(where, EntryKind.FOLDER))
            else:
                entries.append(PayloadEntry(where, EntryKind.FILE, path.read_bytes()))
    return entries


def _entries_of_exercise(root: Path, base: Path, spec: ExerciseSpec) -> list[PayloadEntry]:
    entries = [PayloadEntry(_relative(base, root), EntryKind.FOLDER)] if base != root else []
    for name in spec.editable:
        path = base / name
        where = _relative(path, root)
        if not path.exists() and not path.is_symlink():
            continue
        if not _inside(path, base):
            entries.append(PayloadEntry(where, EntryKind.OUTSIDE_LINK))
        elif name.endswith("/"):
            if path.is_dir():
                entries.extend(_entries_of_folder(root, base, name, path))
            else:
                entries.append(PayloadEntry(where, EntryKind.NOT_FOLDER))
        elif not path.is_file():
            entries.append(PayloadEntry(where, EntryKind.NOT_FILE))
        elif path.stat().st_size > MAX_FILE_BYTES:
            entries.append(PayloadEntry(where, EntryKind.OVERSIZED))
        else:
            entries.append(PayloadEntry(where, EntryKind.FILE, path.read_bytes()))
    return entries


def pack(submission: Path, specs: Iterable[ExerciseSpec]) -> SubmissionPayload:
    """The editable files of ``specs`` in ``submission``, as `locate` finds them.

    Raises:
        PayloadError: They total more than `MAX_PAYLOAD_BYTES`.
    """
    if submission.is_file():
        entries = [PayloadEntry(submission.name, EntryKind.FILE, submission.read_bytes())]
        payload = SubmissionPayload(submission.name, True, tuple(entries))
    else:
        found: dict[str, PayloadEntry] = {}
        if (submission / "exercises").is_dir():
            found["exercises"] = PayloadEntry("exercises", EntryKind.FOLDER)
        for spec in specs:
            base = exercise_folder(submission, spec.id)
            if base is not None:
                more = _entries_of_exercise(submission, base, spec)
            else:
                notebook = notebook_for(submission, spec.id)
                if notebook is None:
                    continue
                where = _relative(notebook, submission)
                if not _inside(notebook, submission):
                    more = [PayloadEntry(where, EntryKind.OUTSIDE_LINK)]
                elif not notebook.is_file():
                    more = [PayloadEntry(where, EntryKind.NOT_FILE)]
                else:
                    more = [PayloadEntry(where, EntryKind.FILE, notebook.read_bytes())]
            for entry in more:
                found.setdefault(entry.path, entry)
        payload = SubmissionPayload(submission.name, False, tuple(found.values()))
    if payload.size > MAX_PAYLOAD_BYTES:
        raise PayloadError(PAYLOAD_TOO_LARGE.format(size=payload.size, limit=MAX_PAYLOAD_BYTES))
    return payload


__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_TOO_LARGE",
    "EntryKind",
    "PayloadEntry",
    "PayloadError",
    "SubmissionPayload",
    "pack",
]
