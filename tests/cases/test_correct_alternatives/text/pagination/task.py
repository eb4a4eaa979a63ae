from sqlalchemy import text
from sqlalchemy.orm import Session

PAGE = text(
    "SELECT id, title, priority FROM tasks ORDER BY priority DESC, id LIMIT :n OFFSET :skip"
)


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    rows = session.execute(PAGE, {"n": per_page, "skip": (page - 1) * per_page})
    return [tuple(row) for row in rows]
