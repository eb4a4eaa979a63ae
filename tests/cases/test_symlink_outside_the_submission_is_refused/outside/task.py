"""filter_limit: the youngest active users of one country.

Return ``limit`` tuples ``(id, name)`` of the active users of ``country``,
youngest first (ties broken by id).
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    stmt = (
        select(User.id, User.name)
        .where(User.country == country, User.is_active.is_(True))
        .order_by(User.age, User.id)
        .limit(limit)
    )
    return [(row.id, row.name) for row in session.execute(stmt)]
