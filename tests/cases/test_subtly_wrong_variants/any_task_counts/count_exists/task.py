from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str) -> int:
    # Every user with a task, done or not.
    stmt = select(func.count()).select_from(User).where(User.country == country, User.tasks.any())
    return session.scalar(stmt) or 0
