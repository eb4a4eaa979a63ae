"""Hooks of filter_limit: the country asked for changes with the seed.

The country is drawn so that every part of the query changes the answer:
an inactive user of that country is young enough to enter the page when the
``is_active`` test is left out, and two users of the page (or the page and
the next row) share an age, so that the order of tied rows needs the id.
Countries where the database, asked without the tie-breaker, really returns
tied rows out of id order are preferred (never on SQLite, whose scans return
id order).
"""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


#: The page asked for without the tie-breaker.
UNTIED = text(
    "SELECT id FROM users WHERE country = :country AND is_active ORDER BY age LIMIT :limit"
)


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a country where each predicate and the tie-breaker matter."""
    limit = int(spec.params["limit"])
    users = connection.execute(
        text("SELECT id, country, is_active, age FROM users ORDER BY id")
    ).all()
    countries = sorted({u.country for u in users if u.is_active})
    rng.shuffle(countries)
    telling = []
    for country in countries:
        everyone = sorted((u for u in users if u.country == country), key=lambda u: (u.age, u.id))
        active = [u for u in everyone if u.is_active]
        inactive_matters = [u.id for u in everyone[:limit]] != [u.id for u in active[:limit]]
        ages = [u.age for u in active[: limit + 1]]
        tied = len(set(ages)) < len(ages)
        if inactive_matters and tied and len(active) > limit:
            telling.append(country)
            untied = connection.execute(UNTIED, {"country": country, "limit": limit}).scalars()
            if list(untied) != [u.id for u in active[:limit]]:
                return {"country": country}
    return {"country": (telling or countries)[0]}
