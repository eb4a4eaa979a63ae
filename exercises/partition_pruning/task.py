"""partition_pruning: a month's tasks, counted by status.

``tasks`` is partitioned by month of ``created_at``. Return how many tasks
were created in month ``month`` of ``year``, per status, as
``(status, count)`` tuples in status order.
"""

from sqlalchemy import extract, func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    stmt = (
        select(Task.status, func.count())
        .where(
            extract("year", Task.created_at) == year,
            extract("month", Task.created_at) == month,
        )
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in session.execute(stmt)]
