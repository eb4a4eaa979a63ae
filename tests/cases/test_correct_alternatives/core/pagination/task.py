from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from grader.domain import Task

tasks = Task.__table__


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(tasks.c.id, tasks.c.title, tasks.c.priority)
        .order_by(desc(tasks.c.priority), tasks.c.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [tuple(row) for row in session.connection().execute(stmt)]
