"""distinct_assignees: who works on tasks tagged ``tag``, each user once.

Return the ids of the users assigned at least one task tagged ``tag``, in
ascending order, each id once.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from grader.domain import Task


def run(session: Session, tag: str) -> list[int]:
    tasks = session.scalars(select(Task).options(selectinload(Task.tags))).all()
    return sorted(
        {
            t.assignee_id
            for t in tasks
            if t.assignee_id is not None and any(g.name == tag for g in t.tags)
        }
    )
