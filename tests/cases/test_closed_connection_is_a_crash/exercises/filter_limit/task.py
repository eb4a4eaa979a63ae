from sqlalchemy import select

from grader.domain import User


def run(session, country, limit):
    session.connection().connection.dbapi_connection.close()
    stmt = select(User.id, User.name).where(User.country == country).limit(limit)
    return [tuple(row) for row in session.execute(stmt)]
