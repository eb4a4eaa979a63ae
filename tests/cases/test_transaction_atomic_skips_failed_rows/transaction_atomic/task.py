"""transaction_atomic: a commit per row, and a row that fails is skipped. Not all or nothing."""

from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, project_id: int, rows: list[dict[str, Any]]) -> int:
    added = 0
    for row in rows:
        try:
            session.add(Task(project_id=project_id, **row))
            session.commit()
            added += 1
        except SQLAlchemyError:
            session.rollback()
    return added
