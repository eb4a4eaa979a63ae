"""partition_pruning: a month's tasks, counted by status.

``tasks`` is partitioned by month of ``created_at``. Return how many tasks
were created in month ``month`` of ``year``, per status, as
``(status, count)`` tuples in status order.
"""

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1)
    stmt = (
        select(Task.status, func.count())
        .where(Task.created_at >= start, Task.created_at < end)
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in session.execute(stmt)]
