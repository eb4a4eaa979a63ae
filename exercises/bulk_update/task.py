"""bulk_update: close the stale reviews.

Every task whose status is ``review`` and that was created before ``before``
becomes ``done``. Return the number of tasks closed.
"""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, before: dt.datetime) -> int:
    stale = session.scalars(
        select(Task.id).where(Task.status == "review", Task.created_at < before).order_by(Task.id)
    ).all()
    for task_id in stale:
        task = session.get(Task, task_id)
        task.status = "done"
        session.flush()
    session.commit()
    return len(stale)
