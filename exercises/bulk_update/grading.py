"""Hooks of bulk_update: the cut-off date changes with the seed; the statuses are compared.

The cut-off is a midnight on which a task under review was created: that
task sits exactly on the boundary, so ``<=`` and ``<`` give different answers.
"""

import datetime as dt
from random import Random
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from grader.databases.dataset import EPOCH
from grader.domain import Task


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """A cut-off between the middle and the end of the year, with a review task on it."""
    first, last = EPOCH + dt.timedelta(days=180), EPOCH + dt.timedelta(days=330)
    on_midnight = sorted(
        created
        for created in connection.execute(
            select(Task.created_at).where(
                Task.status == "review", Task.created_at.between(first, last)
            )
        ).scalars()
        if created == dt.datetime.combine(created.date(), dt.time())
    )
    if on_midnight:
        return {"before": rng.choice(on_midnight)}
    return {"before": EPOCH + dt.timedelta(days=rng.randint(180, 330))}
