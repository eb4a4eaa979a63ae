from sqlalchemy import select

from grader.domain import User

def _slow(session, country):
    users = session.scalars(select(User).where(User.country == country).order_by(User.id)).all()
    return [
        (user.id, user.name, sorted(t.title for t in user.tasks if t.status != "done"))
        for user in users
    ]


def run(session, country):
    engine = session.get_bind()
    engine.dispatch.before_cursor_execute.clear()
    engine.dispatch.after_cursor_execute.clear()
    return _slow(session, country)
