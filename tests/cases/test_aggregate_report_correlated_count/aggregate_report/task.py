"""aggregate_report with correlated scalar subqueries: aggregated in SQL, but not grouped."""

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    mine = Task.project_id == Project.id
    count = select(func.count(Task.id)).where(mine).scalar_subquery()
    hours = select(func.sum(Task.estimate_hours)).where(mine).scalar_subquery()
    done = (
        select(func.sum(case((Task.status == "done", 1), else_=0))).where(mine).scalar_subquery()
    )
    stmt = (
        select(Project.id, Project.name, count, hours, done)
        .where(exists().where(mine))
        .order_by(Project.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
