import datetime as dt

from sqlalchemy import and_, update
from sqlalchemy.orm import Session

from grader.domain import Task

tasks = Task.__table__


def run(session: Session, before: dt.datetime) -> int:
    stale = and_(tasks.c.status == "review", tasks.c.created_at < before)
    result = session.connection().execute(update(tasks).where(stale).values(status="done"))
    session.commit()
    return result.rowcount
