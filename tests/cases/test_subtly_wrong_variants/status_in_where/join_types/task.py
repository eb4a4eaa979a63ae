from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    # The status test in WHERE turns the outer join into an inner one.
    stmt = (
        select(User.id, User.name, func.count(Task.id))
        .outerjoin(Task, Task.assignee_id == User.id)
        .where(User.country == country, Task.status != "done")
        .group_by(User.id, User.name)
        .order_by(User.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
