"""partition_pruning, subtly wrong: the month's end is dropped, so later months count too."""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    stmt = (
        select(Task.status, func.count())
        .where(Task.created_at >= start)
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in session.execute(stmt)]
