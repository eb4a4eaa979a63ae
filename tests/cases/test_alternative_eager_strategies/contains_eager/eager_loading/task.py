from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from grader.domain import Task, User


def run(session, country):
    stmt = (
        select(User)
        .outerjoin(User.tasks)
        .where(User.country == country)
        .order_by(User.id)
        .options(contains_eager(User.tasks))
    )
    users = session.scalars(stmt).unique().all()
    return [(u.id, u.name, sorted(t.title for t in u.tasks if t.status != "done")) for u in users]
