"""Wrong: ties of estimate_hours are left to the database's whim."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    rank = (
        func.row_number()
        .over(partition_by=Task.project_id, order_by=Task.estimate_hours.desc())
        .label("rank")
    )
    ranked = select(Task.project_id, rank, Task.id, Task.title, Task.estimate_hours).subquery()
    stmt = select(ranked).where(ranked.c.rank <= 3).order_by(ranked.c.project_id, ranked.c.rank)
    return [tuple(row) for row in session.execute(stmt)]
