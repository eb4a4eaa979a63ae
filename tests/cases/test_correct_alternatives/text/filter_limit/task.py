from sqlalchemy import text
from sqlalchemy.orm import Session

YOUNGEST = text(
    "SELECT id, name FROM users WHERE country = :country AND is_active "
    "ORDER BY age, id LIMIT :limit"
)


def run(session: Session, country: str, limit: int) -> list[tuple[int, str]]:
    rows = session.execute(YOUNGEST, {"country": country, "limit": limit})
    return [(row.id, row.name) for row in rows]
