"""Right speed, wrong answer: >= repeats the last task of the page before."""

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
    return [tuple(row) for row in session.execute(stmt)]
