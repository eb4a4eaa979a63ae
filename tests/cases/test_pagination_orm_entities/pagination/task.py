"""pagination in ORM style, loading the page's Task objects."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(Task)
        .order_by(Task.priority.desc(), Task.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [(task.id, task.title, task.priority) for task in session.scalars(stmt)]
