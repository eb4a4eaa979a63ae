from sqlalchemy import select, true
from sqlalchemy.orm import Session

from grader.domain import User

users = User.__table__


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    stmt = (
        select(users.c.id, users.c.name)
        .where(users.c.country == country)
        .where(users.c.is_active == true())
        .order_by(users.c.age.asc(), users.c.id.asc())
        .limit(limit)
    )
    with session.connection() as conn:
        return [tuple(row) for row in conn.execute(stmt)]
