"""index_lookup with a unique index and the ORM entity query kept as it was."""

from sqlalchemy import Index, select
from sqlalchemy.orm import Session

from grader.domain import User

Index("uq_users_email", User.email, unique=True)


def run(session: Session, email: str) -> tuple[int, str, str] | None:
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    return None if user is None else (user.id, user.name, user.country)
