"""The results folder: one results JSON per student, named after the student.

``ormgrade grade-all`` writes ``<student>.json`` (the student id is the name
of their submission folder, percent-encoded where a file name could not hold
it) and keeps its own state in the hidden ``.ormgrade/`` folder beside them.
Anything else in the folder that ends in ``.json`` is read too: a file that is
not an ormgrade results document is reported by name and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from grader.results import SCHEMA, GradeReport

#: The hidden folder of grade-all's own state (fingerprints, the run's seed, the reference).
STATE_DIR = ".ormgrade"
#: The reference solutions' results, graded with the class's seed.
REFERENCE_FILE = Path(STATE_DIR) / "reference.json"
#: Largest results file read, in bytes.
MAX_RESULTS_BYTES = 20_000_000

NOT_JSON = "not JSON ({detail})"
FOREIGN = f'not an ormgrade results document (no "schema": "{SCHEMA}")'
MALFORMED = "a malformed results document ({detail})"
UNREADABLE = "cannot be read ({detail})"
TOO_LARGE = "larger than {limit} bytes"


@dataclass(frozen=True)
class StudentResults:
    """One student's results document as found in a results folder.

    Attributes:
        student: The student id (the file name, decoded).
        report: The results.
        path: The file it was read from.
    """

    student: str
    report: GradeReport
    path: Path


@dataclass(frozen=True)
class SkippedFile:
    """A file of a results folder that holds no readable results.

    Attributes:
        path: The file.
        reason: Why it was skipped, for the instructor.
    """

    path: Path
    reason: str


def results_file_name(student: str) -> str:
    """The results file name of ``student`` (``alice.json``; unusual characters encoded).

    A leading dot is encoded too: hidden files are not results.
    """
    name = quote(student, safe=" !#$&'()+,;=@[]^`{}~")
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name + ".json"


def student_of(path: Path) -> str:
    """The student id a results file is named after (the inverse of `results_file_name`)."""
    return unquote(path.name.removesuffix(".json"))


def results_files(directory: Path) -> list[Path]:
    """The candidate results files of ``directory``: visible ``*.json`` files, sorted."""
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith(".") and p.is_file())


def read_results(path: Path) -> GradeReport:
    """The results document in ``path``.

    Raises:
        ValueError: The file cannot be read or is not a results document; the
            message says why (one of the module's templates).
    """
    try:
        size = path.stat().st_size
        if size > MAX_RESULTS_BYTES:
            raise ValueError(TOO_LARGE.format(limit=MAX_RESULTS_BYTES))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(UNREADABLE.format(detail=exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(NOT_JSON.format(detail=exc)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(FOREIGN)
    try:
        return GradeReport.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(MALFORMED.format(detail=detail)) from None


def scan(directory: Path) -> Iterator[StudentResults | SkippedFile]:
    """Every results file of ``directory``, read; unreadable ones as `SkippedFile`."""
    for path in results_files(directory):
        try:
            report = read_results(path)
        except ValueError as exc:
            yield SkippedFile(path, str(exc))
        else:
            yield StudentResults(student_of(path), report, path)
