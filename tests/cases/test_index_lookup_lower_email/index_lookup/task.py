"""Right answer, index declared, still a scan: lower() on the column hides it from the index."""

from sqlalchemy import Index, func, select
from sqlalchemy.orm import Session

from grader.domain import User

Index("ix_users_email", User.email)


def run(session: Session, email: str) -> tuple[int, str, str] | None:
    stmt = select(User.id, User.name, User.country).where(func.lower(User.email) == email.lower())
    row = session.execute(stmt).one_or_none()
    return None if row is None else tuple(row)
