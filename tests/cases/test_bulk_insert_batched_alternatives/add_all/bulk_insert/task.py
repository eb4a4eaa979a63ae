"""bulk_insert with session.add_all and one commit: the ORM batches the INSERTs."""

from typing import Any

from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    session.add_all(Comment(**row) for row in rows)
    session.commit()
    return len(rows)
