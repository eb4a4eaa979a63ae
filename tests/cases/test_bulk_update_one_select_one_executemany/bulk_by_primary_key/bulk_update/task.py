"""bulk_update: the ids in one SELECT, then an ORM bulk UPDATE by primary key (one executemany)."""

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, before: dt.datetime) -> int:
    stale = session.scalars(
        select(Task.id).where(Task.status == "review", Task.created_at < before)
    ).all()
    session.execute(update(Task), [{"id": task_id, "status": "done"} for task_id in stale])
    session.commit()
    return len(stale)
