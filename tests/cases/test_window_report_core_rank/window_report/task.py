"""Core tables, rank() with a total order: the same ranking as row_number()."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task

tasks = Task.__table__


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    position = func.rank().over(
        partition_by=tasks.c.project_id,
        order_by=[tasks.c.estimate_hours.desc(), tasks.c.id.asc()],
    )
    ranked = select(
        tasks.c.project_id,
        position.label("position"),
        tasks.c.id,
        tasks.c.title,
        tasks.c.estimate_hours,
    ).subquery("ranked")
    stmt = (
        select(ranked)
        .where(ranked.c.position < 4)
        .order_by(ranked.c.project_id, ranked.c.position)
    )
    with session.connection() as conn:
        return [tuple(row) for row in conn.execute(stmt)]
