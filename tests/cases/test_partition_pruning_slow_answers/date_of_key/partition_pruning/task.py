"""partition_pruning, correct but unpruned: the date of the key, compared with dates."""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.date(year, month, 1)
    end = dt.date(year + month // 12, month % 12 + 1, 1)
    day = func.date(Task.created_at)
    stmt = (
        select(Task.status, func.count())
        .where(day >= start, day < end)
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in session.execute(stmt)]
