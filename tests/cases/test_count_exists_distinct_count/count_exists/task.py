"""count_exists with func.count(distinct()) over a join: each busy user counted once."""

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    stmt = (
        select(func.count(distinct(Task.assignee_id)))
        .join(User, User.id == Task.assignee_id)
        .where(User.country == country, Task.status != "done")
    )
    return session.scalar(stmt) or 0
