"""bulk_insert with INSERT ... RETURNING: SQLAlchemy's insertmanyvalues batches the rows."""

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    ids = session.scalars(insert(Comment).returning(Comment.id), rows).all()
    session.commit()
    return len(ids)
