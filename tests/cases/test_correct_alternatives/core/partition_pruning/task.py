"""partition_pruning in Core: the table's columns, a half-open range on the key."""

import datetime as dt

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grader.domain import Task

TASKS = Task.__table__


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + 1, 1, 1) if month == 12 else dt.datetime(year, month + 1, 1)
    stmt = (
        select(TASKS.c.status, func.count(TASKS.c.id).label("n"))
        .where(and_(TASKS.c.created_at >= start, TASKS.c.created_at < end))
        .group_by(TASKS.c.status)
        .order_by(TASKS.c.status)
    )
    return [(row.status, row.n) for row in session.connection().execute(stmt)]
