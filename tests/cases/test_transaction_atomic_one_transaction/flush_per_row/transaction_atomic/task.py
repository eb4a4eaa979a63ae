"""transaction_atomic: a flush per row, but one commit at the end: one transaction, atomic."""

from typing import Any

from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, project_id: int, rows: list[dict[str, Any]]) -> int:
    try:
        for row in rows:
            session.add(Task(project_id=project_id, **row))
            session.flush()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(rows)
