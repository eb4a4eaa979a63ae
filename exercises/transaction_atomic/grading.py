"""Hooks of transaction_atomic: a batch of new tasks for one project; its tasks are compared.

The fault run makes the write of one row fail: a row drawn from the seed in
the last tenth of the batch, so that a commit every n rows (every 50, every
150 …) has already committed something when the failure comes.
"""

import datetime as dt
from random import Random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from grader.databases.dataset import EPOCH, WORDS
from grader.domain import TASK_STATUSES, Task, User

#: One imported task per this many tasks in the dataset: 200 on the grading size.
TASKS_PER_ROW = 15


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """A project and the tasks to import into it."""
    tasks = connection.execute(select(func.count(Task.id))).scalar_one()
    projects = sorted(connection.execute(select(Task.project_id).distinct()).scalars())
    users = connection.execute(select(func.max(User.id))).scalar_one()
    rows = [
        {
            "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} (imported {number})",
            "status": rng.choice(TASK_STATUSES),
            "priority": rng.randint(1, 5),
            "estimate_hours": rng.randint(1, 40),
            "assignee_id": None if rng.random() < 0.1 else rng.randint(1, users),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for number in range(1, max(2, tasks // TASKS_PER_ROW) + 1)
    ]
    return {"project_id": rng.choice(projects), "rows": rows}


def fault_after_rows(params: dict[str, Any], rng: Random) -> int:
    """The row whose write fails: late in the batch, drawn from the seed."""
    rows = len(params["rows"])
    return rng.randint(max(1, rows - rows // 10), rows)


def snapshot(connection: Connection, job: Any) -> list[tuple[Any, ...]]:
    """The tasks of the project (ids left out: they depend on the order of inserts)."""
    stmt = (
        select(
            Task.title,
            Task.status,
            Task.priority,
            Task.estimate_hours,
            Task.assignee_id,
            Task.created_at,
        )
        .where(Task.project_id == job.params["project_id"])
        .order_by(Task.title, Task.created_at)
    )
    return [tuple(r) for r in connection.execute(stmt)]
