"""join_types with the counts grouped in a derived table, LEFT JOINed to the users."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    counts = (
        select(Task.assignee_id, func.count().label("open_tasks"))
        .where(Task.status != "done")
        .group_by(Task.assignee_id)
        .subquery()
    )
    stmt = (
        select(User.id, User.name, func.coalesce(counts.c.open_tasks, 0))
        .outerjoin(counts, counts.c.assignee_id == User.id)
        .where(User.country == country)
        .order_by(User.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
