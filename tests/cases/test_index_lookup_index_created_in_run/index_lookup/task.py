"""The index created by the run itself instead of declared on the model."""

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, email: str) -> tuple[int, str, str] | None:
    session.execute(text("CREATE INDEX IF NOT EXISTS ix_users_email ON users (email)"))
    session.commit()
    stmt = select(User.id, User.name, User.country).where(User.email == email)
    row = session.execute(stmt).one_or_none()
    return None if row is None else tuple(row)
