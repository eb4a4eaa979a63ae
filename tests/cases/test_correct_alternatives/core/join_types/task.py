from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User

users, tasks = User.__table__, Task.__table__


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    joined = users.outerjoin(
        tasks, and_(tasks.c.assignee_id == users.c.id, tasks.c.status != "done")
    )
    stmt = (
        select(users.c.id, users.c.name, func.count(tasks.c.id))
        .select_from(joined)
        .where(users.c.country == country)
        .group_by(users.c.id, users.c.name)
        .order_by(users.c.id)
    )
    return [tuple(row) for row in session.connection().execute(stmt)]
