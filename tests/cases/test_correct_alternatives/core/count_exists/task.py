from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User

users, tasks = User.__table__, Task.__table__


def run(session: Session, country: str) -> int:
    has_open = exists().where(tasks.c.assignee_id == users.c.id, tasks.c.status != "done")
    stmt = select(func.count()).select_from(users).where(users.c.country == country, has_open)
    return session.connection().execute(stmt).scalar_one()
