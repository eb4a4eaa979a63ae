"""pagination: one page of the task list, most urgent first.

The tasks are listed by priority, highest first, ties broken by id, with
``per_page`` tasks to a page. Return page ``page`` (counted from 1) as
``(id, title, priority)`` tuples.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    tasks = session.scalars(select(Task)).all()
    ordered = sorted(tasks, key=lambda task: (-task.priority, task.id))
    start = (page - 1) * per_page
    return [(task.id, task.title, task.priority) for task in ordered[start : start + per_page]]
