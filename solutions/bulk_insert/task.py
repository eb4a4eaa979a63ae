"""bulk_insert: add a batch of comments.

``rows`` holds the new comments, each a dict with the keys ``task_id``,
``author_id``, ``body`` and ``created_at``. Add one comment per dict and
return how many were added.
"""

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from grader.domain import Comment


def run(session: Session, rows: list[dict[str, Any]]) -> int:
    # One INSERT carrying every row (an executemany), in one transaction.
    session.execute(insert(Comment), rows)
    session.commit()
    return len(rows)
