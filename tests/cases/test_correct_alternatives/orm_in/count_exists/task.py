from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> int:
    busy = select(Task.assignee_id).where(Task.status != "done")
    stmt = select(func.count(User.id)).where(User.country == country, User.id.in_(busy))
    return session.scalar(stmt) or 0
