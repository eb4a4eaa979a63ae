from sqlalchemy import text
from sqlalchemy.orm import Session

REPORT = text(
    "SELECT p.id, p.name, COUNT(*), SUM(t.estimate_hours), "
    "SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) "
    "FROM tasks t JOIN projects p ON p.id = t.project_id "
    "GROUP BY p.id, p.name ORDER BY p.id"
)


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in session.execute(REPORT)]
