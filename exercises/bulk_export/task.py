"""bulk_export: every task, written to a CSV file.

Write every task to the CSV file ``path``: a header line with the names in
``COLUMNS``, then one line per task in id order. Dates are written in ISO
8601 (``2024-03-01T09:30:00``); an unassigned task's assignee is left empty.
Return the number of tasks written.
"""

import csv

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task

COLUMNS = (
    "id",
    "project_id",
    "assignee_id",
    "title",
    "status",
    "priority",
    "estimate_hours",
    "created_at",
)


def run(session: Session, path: str) -> int:
    stmt = select(
        Task.id,
        Task.project_id,
        Task.assignee_id,
        Task.title,
        Task.status,
        Task.priority,
        Task.estimate_hours,
        Task.created_at,
    ).order_by(Task.id)
    tasks = session.execute(stmt).all()
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for *values, created_at in tasks:
            writer.writerow([*values, created_at.isoformat()])
    return len(tasks)
