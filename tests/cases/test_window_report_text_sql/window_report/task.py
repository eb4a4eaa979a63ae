"""Hand-written SQL with ROW_NUMBER() in a derived table."""

from sqlalchemy import text
from sqlalchemy.orm import Session

SQL = text(
    """
    SELECT ranked.project_id, ranked.n, ranked.id, ranked.title, ranked.estimate_hours
    FROM (
        SELECT t.project_id, t.id, t.title, t.estimate_hours,
               ROW_NUMBER() OVER (PARTITION BY t.project_id
                                  ORDER BY t.estimate_hours DESC, t.id) AS n
        FROM tasks AS t
    ) AS ranked
    WHERE ranked.n <= :top
    ORDER BY ranked.project_id, ranked.n
    """
)


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    return [tuple(row) for row in session.execute(SQL, {"top": 3})]
