"""pagination: one page of the task list, most urgent first.

The tasks are listed by priority, highest first, ties broken by id, with
``per_page`` tasks to a page. Return page ``page`` (counted from 1) as
``(id, title, priority)`` tuples.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(Task.id, Task.title, Task.priority)
        .order_by(Task.priority.desc(), Task.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [(row.id, row.title, row.priority) for row in session.execute(stmt)]
