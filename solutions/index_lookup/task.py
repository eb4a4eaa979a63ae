"""index_lookup: find a user by email address.

Return ``(id, name, country)`` of the user whose email is ``email``, or None
when no user has it. Indexes declared in this file on the shared models
(``Index(...)`` on a column of ``User``) are created on the database before
``run`` is called.
"""

from sqlalchemy import Index, select
from sqlalchemy.orm import Session

from grader.domain import User

# Declared on the shared users table; migration_add_index writes its revision.
ix_users_email = Index("ix_users_email", User.email)


def run(session: Session, email: str) -> tuple[int, str, str] | None:
    stmt = select(User.id, User.name, User.country).where(User.email == email)
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row.id, row.name, row.country)
