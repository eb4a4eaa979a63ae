"""Right answer, aggregates in SQL but one statement per project."""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    done = func.sum(case((Task.status == "done", 1), else_=0))
    report = []
    for project in session.scalars(select(Project).order_by(Project.id)):
        tasks, hours, finished = session.execute(
            select(func.count(), func.sum(Task.estimate_hours), done).where(
                Task.project_id == project.id
            )
        ).one()
        if tasks:
            report.append((project.id, project.name, tasks, hours, finished))
    return report
