"""column_projection: ids and titles of the high-priority tasks.

Return ``(id, title)`` of every task whose priority is at least
``min_priority``, in id order.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, min_priority: int) -> list[tuple[int, str]]:
    tasks = session.scalars(
        select(Task).where(Task.priority >= min_priority).order_by(Task.id)
    ).all()
    return [(task.id, task.title) for task in tasks]
