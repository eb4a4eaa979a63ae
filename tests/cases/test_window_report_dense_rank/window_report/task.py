"""Wrong: dense_rank() on the estimate keeps every task tied for the top three values."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    rank = (
        func.dense_rank()
        .over(partition_by=Task.project_id, order_by=Task.estimate_hours.desc())
        .label("rank")
    )
    ranked = select(Task.project_id, rank, Task.id, Task.title, Task.estimate_hours).subquery()
    stmt = (
        select(ranked)
        .where(ranked.c.rank <= 3)
        .order_by(ranked.c.project_id, ranked.c.rank, ranked.c.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
