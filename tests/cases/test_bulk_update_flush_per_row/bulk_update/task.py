"""bulk_update: one SELECT, then a flush after each change: one UPDATE per row.

Right answer, still slow.
"""

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
        session.flush()
    session.commit()
    return len(stale)
