"""Right answer, half-way fix: the database limits, Python still skips the earlier pages."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    stmt = (
        select(Task.id, Task.title, Task.priority)
        .order_by(Task.priority.desc(), Task.id)
        .limit(page * per_page)
    )
    rows = session.execute(stmt).all()
    return [tuple(row) for row in rows[(page - 1) * per_page :]]
