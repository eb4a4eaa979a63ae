"""bulk_insert in one statement, but the last row is left out. Fast, but wrong."""

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    session.execute(insert(Comment), rows[:-1])
    session.commit()
    return len(rows)
