"""One statement that fetches only the answer, but ranks with a correlated COUNT."""

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    other = aliased(Task)
    ahead = (
        select(func.count(other.id))
        .where(
            other.project_id == Task.project_id,
            or_(
                other.estimate_hours > Task.estimate_hours,
                and_(other.estimate_hours == Task.estimate_hours, other.id < Task.id),
            ),
        )
        .scalar_subquery()
    )
    stmt = (
        select(Task.project_id, ahead + 1, Task.id, Task.title, Task.estimate_hours)
        .where(ahead < 3)
        .order_by(Task.project_id, ahead)
    )
    return [tuple(row) for row in session.execute(stmt)]
