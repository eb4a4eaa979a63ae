"""Correct, but one ORDER BY … LIMIT 3 query per project (and no window)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    report = []
    for project_id in session.scalars(select(Project.id).order_by(Project.id)):
        stmt = (
            select(Task.id, Task.title, Task.estimate_hours)
            .where(Task.project_id == project_id)
            .order_by(Task.estimate_hours.desc(), Task.id)
            .limit(3)
        )
        for rank, (task_id, title, hours) in enumerate(session.execute(stmt), start=1):
            report.append((project_id, rank, task_id, title, hours))
    return report
