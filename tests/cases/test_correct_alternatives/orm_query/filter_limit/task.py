from sqlalchemy.orm import Session

from grader.domain import User


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    users = (
        session.query(User)
        .filter_by(country=country, is_active=True)
        .order_by(User.age, User.id)
        .limit(limit)
        .all()
    )
    return [(u.id, u.name) for u in users]
