from sqlalchemy import text
from sqlalchemy.orm import Session

BUSY = text(
    "SELECT COUNT(DISTINCT t.assignee_id) FROM tasks t JOIN users u ON u.id = t.assignee_id "
    "WHERE u.country = :country AND t.status <> 'done'"
)


def run(session: Session, country: str) -> int:
    return int(session.execute(BUSY, {"country": country}).scalar_one())
