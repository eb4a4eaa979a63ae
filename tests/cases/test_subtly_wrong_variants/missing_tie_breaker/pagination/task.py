from sqlalchemy import text
from sqlalchemy.orm import Session


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    rows = session.execute(
        text("SELECT id, title, priority FROM tasks ORDER BY priority DESC LIMIT :n OFFSET :s"),
        {"n": per_page, "s": (page - 1) * per_page},
    )
    return [tuple(r) for r in rows]
