"""partition_pruning, correct and pruned, but every row of the month is sent to Python."""

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1)
    statuses = session.scalars(
        select(Task.status).where(Task.created_at >= start, Task.created_at < end)
    )
    return sorted(Counter(statuses).items())
