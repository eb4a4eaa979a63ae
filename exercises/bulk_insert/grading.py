"""Hooks of bulk_insert: new comments drawn from the seed; the comments table is compared."""

import datetime as dt
from random import Random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from grader.databases.dataset import EPOCH, WORDS
from grader.domain import Comment, Task, User

#: One new comment per this many tasks: 1,000 on the grading size, 10,000 at bench size.
TASKS_PER_COMMENT = 3


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """The comments to add, on existing tasks by existing users."""
    tasks = connection.execute(select(func.max(Task.id))).scalar_one()
    users = connection.execute(select(func.max(User.id))).scalar_one()
    rows = [
        {
            "task_id": rng.randint(1, tasks),
            "author_id": rng.randint(1, users),
            "body": " ".join(rng.choices(WORDS, k=rng.randint(3, 12))),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for _ in range(max(1, tasks // TASKS_PER_COMMENT))
    ]
    return {"rows": rows}


def snapshot(connection: Connection, job: Any) -> dict[str, Any]:
    """Every comment's content (ids left out: they depend on the order of inserts)."""
    stmt = select(Comment.task_id, Comment.author_id, Comment.body, Comment.created_at).order_by(
        Comment.task_id, Comment.author_id, Comment.created_at, Comment.body
    )
    rows = connection.execute(stmt).all()
    return {"comments": len(rows), "rows": [tuple(r) for r in rows]}
