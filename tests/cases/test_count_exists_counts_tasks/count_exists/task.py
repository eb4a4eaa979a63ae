"""Right speed, wrong answer: counts the open tasks, not the users who have them."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    stmt = (
        select(func.count(Task.id))
        .join(User, User.id == Task.assignee_id)
        .where(User.country == country, Task.status != "done")
    )
    return session.scalar(stmt) or 0
