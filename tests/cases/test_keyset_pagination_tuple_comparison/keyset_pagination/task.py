"""keyset_pagination with a row-value comparison, the form a compound sort key needs."""

from sqlalchemy import literal, select, tuple_
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int, after: int) -> list[tuple[int, str]]:
    stmt = (
        select(Task.id, Task.title)
        .where(Task.status != "done", tuple_(Task.id) > tuple_(literal(after)))
        .order_by(Task.id)
        .limit(per_page)
    )
    return [tuple(row) for row in session.execute(stmt)]
