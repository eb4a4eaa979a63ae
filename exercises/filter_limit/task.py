"""filter_limit: the youngest active users of one country.

Return ``limit`` tuples ``(id, name)`` of the active users of ``country``,
youngest first (ties broken by id).
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    users = session.scalars(select(User)).all()
    matching = [u for u in users if u.country == country and u.is_active]
    matching.sort(key=lambda u: (u.age, u.id))
    return [(u.id, u.name) for u in matching[:limit]]
