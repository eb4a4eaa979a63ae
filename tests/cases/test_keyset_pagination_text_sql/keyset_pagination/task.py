"""keyset_pagination with text(): the seek written by hand."""

from sqlalchemy import text
from sqlalchemy.orm import Session

PAGE = text(
    "SELECT id, title FROM tasks WHERE status != 'done' AND id > :after ORDER BY id LIMIT :n"
)


def run(session: Session, page: int, per_page: int, after: int) -> list[tuple[int, str]]:
    return [tuple(row) for row in session.execute(PAGE, {"after": after, "n": per_page})]
