"""partition_pruning with the legacy Query API; the month's end from its length."""

import calendar
import datetime as dt

from sqlalchemy import func
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    end = start + dt.timedelta(days=calendar.monthrange(year, month)[1])
    query = (
        session.query(Task.status, func.count(Task.id))
        .filter(Task.created_at >= start)
        .filter(Task.created_at < end)
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in query]
