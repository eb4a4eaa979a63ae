"""Fast, but limits before it filters: LIMIT applies to all users, not to one country's."""

from sqlalchemy import select

from grader.domain import User


def run(session, country, limit):
    stmt = select(User).where(User.is_active.is_(True)).order_by(User.age, User.id).limit(limit)
    return [(u.id, u.name) for u in session.scalars(stmt) if u.country == country]
