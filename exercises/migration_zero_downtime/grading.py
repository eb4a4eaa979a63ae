"""Hooks of migration_zero_downtime: the rows of a live table, and a row the deployed code writes.

The grader builds the database at the starter's head, inserts these rows —
thousands of tasks, so that a backfill in one transaction shows — and only
then runs the student's revision, as on a production database. After the
upgrade it inserts `probe_row()` the way the application still deployed
would, knowing nothing of the new column, and reads what the column gives it.
"""

from __future__ import annotations

import datetime as dt
from random import Random
from typing import Any

FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Zoë", "Seán", "Dennis", "Radia")
LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "O'Brien", "Ritchie", "Perlman")
WORDS = ("index", "cache", "query", "schema", "deploy", "review", "audit", "backup", "report")
STATUSES = ("todo", "doing", "review", "done", None)
# Spelled as people type them: the README's rule reads them trimmed and lower-cased.
PRIORITIES = (
    "low", "medium", "high", "urgent", " High", "LOW ", "Urgent", "MEDIUM", "", "asap", None
)
EPOCH = dt.datetime(2024, 1, 1)


def rows(rng: Random) -> dict[str, list[dict[str, Any]]]:
    """Users and a few thousand tasks for one seed, in insertion order."""
    users = [
        {
            "id": i,
            "name": None if rng.random() < 0.08 else f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "email": f"user{i}.{rng.randrange(10**6)}@example.org",
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in range(1, rng.randint(110, 130) + 1)
    ]
    # Ids with gaps, as on a table whose rows are deleted now and then.
    ids = sorted(rng.sample(range(1, 9_000), rng.randint(5_800, 6_200)))
    tasks = [
        {
            "id": i,
            "assignee_id": None if rng.random() < 0.12 else rng.randint(1, len(users)),
            "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}",
            "status": rng.choice(STATUSES),
            "priority": rng.choice(PRIORITIES),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in ids
    ]
    return {"users": users, "tasks": tasks}


def probe_row() -> dict[str, Any]:
    """A task as the code deployed before the migration writes it: no priority_rank."""
    return {
        "id": 1_000_000,
        "assignee_id": None,
        "title": "written by the code already deployed",
        "status": "todo",
        "priority": "urgent",
        "created_at": EPOCH,
    }
