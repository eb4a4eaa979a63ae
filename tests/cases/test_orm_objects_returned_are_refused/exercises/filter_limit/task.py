from sqlalchemy import select

from grader.domain import User


def run(session, country, limit):
    stmt = select(User).where(User.country == country, User.is_active.is_(True))
    return session.scalars(stmt.order_by(User.age, User.id).limit(limit)).all()
