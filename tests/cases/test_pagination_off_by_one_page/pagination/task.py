"""Right speed, wrong answer: pages counted from 0, so every page is the next one."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(Task.id, Task.title, Task.priority)
        .order_by(Task.priority.desc(), Task.id)
        .limit(per_page)
        .offset(page * per_page)
    )
    return [tuple(row) for row in session.execute(stmt)]
