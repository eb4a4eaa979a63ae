from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    # The is_active test is forgotten.
    stmt = select(User.id, User.name).where(User.country == country)
    return [tuple(r) for r in session.execute(stmt.order_by(User.age, User.id).limit(limit))]
