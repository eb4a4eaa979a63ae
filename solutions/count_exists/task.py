"""count_exists: how many users of a country still have work to do.

Return the number of users of ``country`` who are assigned at least one task
that is not ``done``.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .where(User.country == country, User.tasks.any(Task.status != "done"))
    )
    return session.scalar(stmt) or 0
