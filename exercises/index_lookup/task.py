"""index_lookup: find a user by email address.

Return ``(id, name, country)`` of the user whose email is ``email``, or None
when no user has it. Indexes declared in this file on the shared models
(``Index(...)`` on a column of ``User``) are created on the database before
``run`` is called.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, email: str) -> tuple[int, str, str] | None:
    user = session.scalars(select(User).where(User.email == email)).one_or_none()
    if user is None:
        return None
    return (user.id, user.name, user.country)
