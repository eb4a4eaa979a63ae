import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, before: dt.datetime) -> int:
    stmt = update(Task).where(Task.status == "review", Task.created_at <= before)
    closed = session.execute(stmt.values(status="done")).rowcount
    session.commit()
    return closed
