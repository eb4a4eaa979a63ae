from grader.execution import audit

from sqlalchemy import select

from grader.domain import User


def _n_plus_one(session, country):
    users = session.scalars(select(User).where(User.country == country).order_by(User.id)).all()
    return [
        (user.id, user.name, sorted(t.title for t in user.tasks if t.status != "done"))
        for user in users
    ]


def run(session, country):
    audit.set_phase("idle")
    try:
        return _n_plus_one(session, country)
    finally:
        audit.set_phase("call")
