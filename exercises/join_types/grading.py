"""Hooks of join_types: a country where some users have no open task."""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Countries with at least one user who has no open task: an inner join loses them.
COUNTRIES_WITH_IDLE_USERS = text(
    "SELECT DISTINCT users.country FROM users "
    "WHERE NOT EXISTS (SELECT 1 FROM tasks "
    "WHERE tasks.assignee_id = users.id AND tasks.status != :done) "
    "ORDER BY users.country"
)


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a country where an inner join would drop some users."""
    countries = connection.execute(COUNTRIES_WITH_IDLE_USERS, {"done": "done"}).scalars().all()
    return {"country": rng.choice(countries)}
