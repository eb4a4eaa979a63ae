"""Hooks of count_exists: the country asked for changes with the seed.

The country is drawn among those where some user has tasks that are all
``done``: leaving out the status test counts that user too.
"""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: Countries with a user who has tasks, none of them open.
COUNTRIES_WITH_FINISHED_USERS = text(
    "SELECT DISTINCT users.country FROM users "
    "WHERE EXISTS (SELECT 1 FROM tasks WHERE tasks.assignee_id = users.id) "
    "AND NOT EXISTS (SELECT 1 FROM tasks "
    "WHERE tasks.assignee_id = users.id AND tasks.status != :done) "
    "ORDER BY users.country"
)


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a country where the status test changes the count."""
    countries = connection.execute(COUNTRIES_WITH_FINISHED_USERS, {"done": "done"}).scalars().all()
    if not countries:
        countries = sorted(
            connection.execute(text("SELECT DISTINCT country FROM users")).scalars()
        )
    return {"country": rng.choice(countries)}
