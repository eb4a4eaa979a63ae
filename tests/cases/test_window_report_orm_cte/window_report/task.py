"""The ORM with a CTE and an aliased entity over it."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    numbered = select(
        Task,
        func.row_number()
        .over(partition_by=Task.project_id, order_by=[Task.estimate_hours.desc(), Task.id])
        .label("n"),
    ).cte("numbered")
    task = aliased(Task, numbered)
    stmt = (
        select(task, numbered.c.n)
        .where(numbered.c.n <= 3)
        .order_by(task.project_id, numbered.c.n)
    )
    return [
        (t.project_id, n, t.id, t.title, t.estimate_hours) for t, n in session.execute(stmt)
    ]
