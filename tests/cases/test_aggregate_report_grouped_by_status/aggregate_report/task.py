"""Right answer, one query, half-way: grouped by project and status, summed again in Python."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    stmt = (
        select(Project.id, Project.name, Task.status, func.count(), func.sum(Task.estimate_hours))
        .join(Task, Task.project_id == Project.id)
        .group_by(Project.id, Project.name, Task.status)
        .order_by(Project.id)
    )
    report: dict[int, list] = {}
    for project_id, name, status, tasks, hours in session.execute(stmt):
        line = report.setdefault(project_id, [project_id, name, 0, 0, 0])
        line[2] += tasks
        line[3] += hours
        line[4] += tasks if status == "done" else 0
    return [tuple(line) for line in report.values()]
