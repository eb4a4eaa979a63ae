"""Hooks of migration_add_column: the rows the starter's database holds.

The grader builds the database at the starter's head, inserts these rows and
only then runs the student's revision, as on a production database. The rows
change with the seed and include the awkward ones: NULL names, statuses and
assignees, quotes and accents, empty strings.
"""

from __future__ import annotations

import datetime as dt
from random import Random
from typing import Any

FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Zoë", "Seán", "Dennis", "Radia")
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "O'Brien", "Ritchie", "Perlman")
WORDS = ("index", "cache", "query", "schema", "deploy", "review", "audit", "backup", "report")
STATUSES = ("todo", "doing", "review", "done", None)
PRIORITIES = ("low", "medium", "high", "urgent", " High", "LOW ", "Urgent", "", None)
EPOCH = dt.datetime(2024, 1, 1)


def rows(rng: Random) -> dict[str, list[dict[str, Any]]]:
    """Users and tasks for one seed, in insertion order."""
    users = [
        {
            "id": i,
            "name": None if rng.random() < 0.08 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "email": f"user{i}.{rng.randrange(10**6)}@example.org",
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in range(1, rng.randint(110, 130) + 1)
    ]
    tasks = [
        {
            "id": i,
            "assignee_id": None if rng.random() < 0.12 else rng.randint(1, len(users)),
            "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}",
            "status": rng.choice(STATUSES),
            "priority": rng.choice(PRIORITIES),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in range(1, rng.randint(380, 420) + 1)
    ]
    return {"users": users, "tasks": tasks}
