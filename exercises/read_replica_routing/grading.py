"""Hooks of read_replica_routing: a leaving user drawn from the seed; the primary is compared."""

from random import Random
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from grader.domain import Task, User


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """An active user with open tasks and an active colleague in the same country.

    Users are preferred for whom leaving out the ``is_active`` test picks
    another colleague (an inactive user would have been the pick).
    """
    colleagues = (
        select(User.country)
        .where(User.is_active)
        .group_by(User.country)
        .having(func.count(User.id) > 1)
    )
    open_tasks = (
        select(Task.assignee_id)
        .where(Task.status != "done")
        .group_by(Task.assignee_id)
        .having(func.count(Task.id) >= 3)
    )
    candidates = (
        connection.execute(
            select(User.id)
            .where(User.is_active, User.country.in_(colleagues), User.id.in_(open_tasks))
            .order_by(User.id)
        )
        .scalars()
        .all()
    )
    users = connection.execute(select(User.id, User.country, User.is_active)).all()
    counts = dict(
        connection.execute(
            select(Task.assignee_id, func.count(Task.id))
            .where(Task.status != "done", Task.assignee_id.is_not(None))
            .group_by(Task.assignee_id)
        ).all()
    )

    def pick(user_id: int, country: str, active_only: bool) -> int | None:
        others = [
            (counts.get(u.id, 0), u.id)
            for u in users
            if u.country == country and u.id != user_id and (u.is_active or not active_only)
        ]
        return min(others)[1] if others else None

    country_of = {u.id: u.country for u in users}
    telling = [
        c for c in candidates if pick(c, country_of[c], True) != pick(c, country_of[c], False)
    ]
    return {"user_id": rng.choice(telling or candidates)}


def snapshot(connection: Connection, job: Any) -> dict[str, Any]:
    """On the primary: the leaving user first (the usual differences), then every assignment."""
    user_id = job.params["user_id"]
    leaving = connection.execute(select(User.is_active).where(User.id == user_id)).scalar_one()
    kept = select(Task.id).where(Task.assignee_id == user_id, Task.status != "done")
    tasks = connection.execute(select(Task.id, Task.assignee_id).order_by(Task.id))
    users = connection.execute(select(User.id, User.is_active).order_by(User.id))
    return {
        "leaving user still active": bool(leaving),
        "open tasks still assigned to the leaving user": connection.execute(kept.order_by(Task.id))
        .scalars()
        .all(),
        "assignee of every task": [tuple(r) for r in tasks],
        "whether each user is active": [tuple(r) for r in users],
    }
