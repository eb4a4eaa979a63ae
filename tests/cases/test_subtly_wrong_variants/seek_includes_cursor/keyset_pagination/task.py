from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int, after: int) -> list[tuple[int, str]]:
    stmt = (
        select(Task.id, Task.title)
        .where(Task.status != "done", Task.id >= after)
        .order_by(Task.id)
        .limit(per_page)
    )
    return [tuple(r) for r in session.execute(stmt)]
