"""distinct_assignees: the database joins the tags and removes the duplicates."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Tag, Task


def run(session: Session, tag: str) -> list[int]:
    stmt = (
        select(Task.assignee_id)
        .join(Task.tags)
        .where(Tag.name == tag, Task.assignee_id.is_not(None))
        .distinct()
        .order_by(Task.assignee_id)
    )
    return list(session.scalars(stmt))
