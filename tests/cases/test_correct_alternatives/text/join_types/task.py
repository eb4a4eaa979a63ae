from sqlalchemy import text
from sqlalchemy.orm import Session

OPEN_TASKS = text(
    "SELECT u.id, u.name, COUNT(t.id) FROM users u "
    "LEFT OUTER JOIN tasks t ON t.assignee_id = u.id AND t.status <> 'done' "
    "WHERE u.country = :country GROUP BY u.id, u.name ORDER BY u.id"
)


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    return [(r[0], r[1], int(r[2])) for r in session.execute(OPEN_TASKS, {"country": country})]
