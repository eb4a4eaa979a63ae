from sqlalchemy import select

from grader.domain import User


def run(session, country, limit):
    session.execute(select(User.id).where(User.country == country).limit(limit)).all()
