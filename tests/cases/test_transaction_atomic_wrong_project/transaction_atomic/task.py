"""transaction_atomic in one transaction, but every task goes to another project. Fast, but wrong."""

from typing import Any

from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, project_id: int, rows: list[dict[str, Any]]) -> int:
    with session.begin():
        other = 1 if project_id != 1 else 2
        session.add_all(Task(project_id=other, **row) for row in rows)
    return len(rows)
