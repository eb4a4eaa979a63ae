"""bulk_insert with a Core insert of the table and a list of rows: one executemany."""

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    with session.begin():
        session.connection().execute(insert(Comment.__table__), rows)
    return len(rows)
