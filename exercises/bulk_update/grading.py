"""Hooks of bulk_update: the cut-off date changes with the seed; the statuses are compared."""

import datetime as dt
from random import Random
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from grader.dataset import EPOCH
from grader.domain import Task


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """A cut-off between the middle and the end of the year the tasks were created in."""
    return {"before": EPOCH + dt.timedelta(days=rng.randint(180, 330))}


def snapshot(connection: Connection, job: Any) -> list[tuple[int, str]]:
    """Every task's id and status."""
    return [tuple(r) for r in connection.execute(select(Task.id, Task.status).order_by(Task.id))]
