"""Right answer, one query, still counted in Python: only the ids, but every one of them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    stmt = select(User.id).where(User.country == country, User.tasks.any(Task.status != "done"))
    return len(session.scalars(stmt).all())
