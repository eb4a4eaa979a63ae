"""column_projection: ids and titles of the high-priority tasks.

Return ``(id, title)`` of every task whose priority is at least
``min_priority``, in id order.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, min_priority: int) -> list[tuple[int, str]]:
    stmt = select(Task.id, Task.title).where(Task.priority >= min_priority).order_by(Task.id)
    return [(row.id, row.title) for row in session.execute(stmt)]
