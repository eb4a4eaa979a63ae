"""aggregate_report with text(): the GROUP BY written by hand, dialect-neutral SQL."""

from sqlalchemy import text
from sqlalchemy.orm import Session

REPORT = text(
    """
    SELECT p.id, p.name, COUNT(*) AS tasks, SUM(t.estimate_hours) AS hours,
           SUM(CASE WHEN t.status = 'done' THEN 1 ELSE 0 END) AS done
    FROM projects AS p
    JOIN tasks AS t ON t.project_id = p.id
    GROUP BY p.id, p.name
    ORDER BY p.id
    """
)


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    return [tuple(row) for row in session.execute(REPORT)]
