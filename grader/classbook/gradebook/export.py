"""The gradebook CSV: one row per student, their points per exercise and the total.

The columns are ``student``, one per exercise id (in catalog order) and
``total``; an exercise a student was not graded on is left empty. A student
id that a spreadsheet would read as a formula (``=…``, ``+…``, ``-…``,
``@…``) is written with a leading apostrophe, so opening the file never runs
anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from grader.classbook.gradebook.store import StudentRecord

#: The first column's heading.
STUDENT_COLUMN = "student"
#: The last column's heading.
TOTAL_COLUMN = "total"
#: Leading characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text, never evaluates."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def exercise_columns(records: Sequence[StudentRecord]) -> list[str]:
    """The exercise ids of ``records`` in the order their results list them."""
    return list(dict.fromkeys(e.id for r in records for e in r.report.exercises))


def gradebook_csv(records: Sequence[StudentRecord]) -> str:
    """The CSV text of ``records`` (each student's latest grading)."""
    columns = exercise_columns(records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([STUDENT_COLUMN, *columns, TOTAL_COLUMN])
    for record in sorted(records, key=lambda r: r.student):
        points = {e.id: e.score for e in record.report.exercises}
        writer.writerow(
            [
                spreadsheet_safe(record.student),
                *(points.get(column, "") for column in columns),
                record.report.score,
            ]
        )
    return out.getvalue()
