"""partition_pruning, correct but unpruned: the key cast to text and matched."""

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    stmt = (
        select(Task.status, func.count())
        .where(cast(Task.created_at, String).like(f"{year:04d}-{month:02d}-%"))
        .group_by(Task.status)
        .order_by(Task.status)
    )
    return [(status, count) for status, count in session.execute(stmt)]
