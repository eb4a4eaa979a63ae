"""aggregate_report: per-project statistics.

Return, for every project that has tasks, in project id order, a tuple
``(project_id, project_name, tasks, estimate_hours, done)``: how many tasks
the project has, the sum of their ``estimate_hours`` and how many of them
are ``done``.
"""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    done = func.sum(case((Task.status == "done", 1), else_=0))
    stmt = (
        select(Project.id, Project.name, func.count(Task.id), func.sum(Task.estimate_hours), done)
        .join(Task, Task.project_id == Project.id)
        .group_by(Project.id, Project.name)
        .order_by(Project.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
