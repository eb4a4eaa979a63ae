from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    stmt = (
        select(User.id, User.name)
        .where(User.country == country, User.is_active)
        .order_by(User.age)
        .limit(limit)
    )
    return [tuple(r) for r in session.execute(stmt)]
