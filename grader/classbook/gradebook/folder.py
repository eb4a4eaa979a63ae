"""The results folder: one results JSON per student, named after the student.

``ormgrade grade-all`` writes ``<student>.json`` (the student id is the name
of their submission folder, percent-encoded where a file name could not hold
it) and keeps its own state in the hidden ``.ormgrade/`` folder beside them.
Anything else in the folder that ends in ``.json`` is read too: a file that is
not an ormgrade results document is reported by name and skipped.
"""

from __future__ import annotations

import json
import math
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
#: A document nested deeper than any results document is.
TOO_DEEP = "nested deeper than {limit} levels"
#: A value a results document cannot hold (the field is a dotted path).
BAD_VALUE = "{field}: expected {expected}, found {found}"
#: Nesting of a results document that is read (a real one is about eight levels deep).
MAX_DEPTH = 64
#: Largest points, max_points or max_score taken from a results file.
MAX_POINTS = 1_000_000
#: Largest query count taken from a results file (the gradebook's integer columns).
MAX_QUERIES = 2**31 - 1
#: Largest magnitude of any integer in a results file (a 64-bit column, the seed's).
MAX_INTEGER = 2**63 - 1


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
    except RecursionError:
        raise ValueError(TOO_DEEP.format(limit=MAX_DEPTH)) from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(FOREIGN)
    check_document(data)
    try:
        return GradeReport.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(MALFORMED.format(detail=detail)) from None


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "document"


def _bad(parts: tuple[str | int, ...], expected: str, value: object) -> ValueError:
    found = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
    problem = BAD_VALUE.format(field=_path(parts), expected=expected, found=found)
    return ValueError(MALFORMED.format(detail=problem))


def _count(table: dict[str, object], key: str, parts: tuple[str | int, ...], highest: int) -> None:
    # An absent key is left to the reader, which names it as missing.
    if key not in table:
        return
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= highest:
        raise _bad((*parts, key), f"an integer from 0 to {highest}", value)


def check_document(data: object) -> None:
    """Refuse what the gradebook cannot store truthfully, before anything reads it.

    Walks the document without recursion: nesting beyond `MAX_DEPTH`, a
    number that is not finite (NaN, Infinity) or an integer beyond 64 bits
    anywhere, and negative, fractional or oversized points, scores and
    query counts. A score that a database would overflow on, or that a
    chart would draw as NaN, never reaches either.

    Raises:
        ValueError: The first problem found: `TOO_DEEP`, or `MALFORMED` holding a
            `BAD_VALUE` that names the field.
    """
    stack: list[tuple[object, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, parts = stack.pop()
        if len(parts) > MAX_DEPTH:
            raise ValueError(TOO_DEEP.format(limit=MAX_DEPTH))
        if isinstance(value, dict):
            stack.extend((item, (*parts, str(key))) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*parts, index)) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise _bad(parts, "a finite number", value)
        elif isinstance(value, int) and not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise _bad(parts, "an integer of at most 64 bits", value)
    assert isinstance(data, dict)
    exercises = data.get("exercises", [])
    if not isinstance(exercises, list):
        raise _bad(("exercises",), "an array", exercises)
    for number, exercise in enumerate(exercises):
        where: tuple[str | int, ...] = ("exercises", number)
        if not isinstance(exercise, dict):
            raise _bad(where, "an object", exercise)
        _count(exercise, "max_score", where, MAX_POINTS)
        duration = exercise.get("duration", 0.0)
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
            raise _bad((*where, "duration"), "a number of seconds >= 0", duration)
        stats = exercise.get("stats") or {}
        if not isinstance(stats, dict):
            raise _bad((*where, "stats"), "an object", stats)
        for key in ("queries", "starter_queries"):
            if stats.get(key) is not None:
                _count(stats, key, (*where, "stats"), MAX_QUERIES)
        checks = exercise.get("checks", [])
        if not isinstance(checks, list):
            raise _bad((*where, "checks"), "an array", checks)
        for index, check in enumerate(checks):
            at: tuple[str | int, ...] = (*where, "checks", index)
            if not isinstance(check, dict):
                raise _bad(at, "an object", check)
            _count(check, "max_points", at, MAX_POINTS)
            highest = check.get("max_points")
            _count(check, "points", at, highest if isinstance(highest, int) else MAX_POINTS)


def scan(directory: Path) -> Iterator[StudentResults | SkippedFile]:
    """Every results file of ``directory``, read; unreadable ones as `SkippedFile`."""
    for path in results_files(directory):
        try:
            report = read_results(path)
        except ValueError as exc:
            yield SkippedFile(path, str(exc))
        else:
            yield StudentResults(student_of(path), report, path)
