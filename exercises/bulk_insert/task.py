"""bulk_insert: add a batch of comments.

``rows`` holds the new comments, each a dict with the keys ``task_id``,
``author_id``, ``body`` and ``created_at``. Add one comment per dict and
return how many were added.
"""

from typing import Any

from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    for row in rows:
        session.add(
            Comment(
                task_id=row["task_id"],
                author_id=row["author_id"],
                body=row["body"],
                created_at=row["created_at"],
            )
        )
        session.commit()
    return len(rows)
