"""pagination in Core style: the table, not the mapped class, on the session's connection."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task

tasks = Task.__table__


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(tasks.c.id, tasks.c.title, tasks.c.priority)
        .order_by(tasks.c.priority.desc(), tasks.c.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return [tuple(row) for row in session.connection().execute(stmt)]
