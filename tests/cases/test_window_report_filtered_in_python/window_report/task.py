"""The window is in SQL, but every numbered row comes back and Python keeps three."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    rank = func.row_number().over(
        partition_by=Task.project_id, order_by=(Task.estimate_hours.desc(), Task.id)
    )
    stmt = select(Task.project_id, rank, Task.id, Task.title, Task.estimate_hours).order_by(
        Task.project_id, rank
    )
    return [tuple(row) for row in session.execute(stmt) if row[1] <= 3]
