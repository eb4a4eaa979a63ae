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
    return [tuple(r) for r in session.execute(stmt)]
