"""bulk_update: the tasks in one SELECT, changed in Python, flushed once (one executemany)."""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, before: dt.datetime) -> int:
    stale = session.scalars(
        select(Task).where(Task.status == "review", Task.created_at < before)
    ).all()
    for task in stale:
        task.status = "done"
    session.commit()
    return len(stale)
