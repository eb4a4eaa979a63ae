from sqlalchemy import select

from grader.domain import User


def run(session, country, limit):
    stmt = select(User.id, User.name).where(User.country == country).limit(limit)
    return {row.id: row.name for row in session.execute(stmt)}
