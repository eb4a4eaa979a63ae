"""count_exists with exists() written out: COUNT over the users, EXISTS for their tasks."""

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    has_open_task = exists().where(Task.assignee_id == User.id, Task.status != "done")
    stmt = select(func.count(User.id)).where(User.country == country, has_open_task)
    return session.execute(stmt).scalar_one()
