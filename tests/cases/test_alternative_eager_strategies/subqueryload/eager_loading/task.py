from sqlalchemy import select
from sqlalchemy.orm import subqueryload

from grader.domain import User


def run(session, country):
    stmt = select(User).where(User.country == country).order_by(User.id).options(subqueryload(User.tasks))
    users = session.scalars(stmt).all()
    return [(u.id, u.name, sorted(t.title for t in u.tasks if t.status != "done")) for u in users]
