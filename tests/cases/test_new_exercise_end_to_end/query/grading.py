"""Hooks of distinct_assignees: the tag asked for changes with the seed."""

from __future__ import annotations

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: Tags some user carries on two tasks or more: a duplicate to remove.
SHARED = text(
    "SELECT g.name FROM tags g JOIN task_tags tt ON tt.tag_id = g.id "
    "JOIN tasks t ON t.id = tt.task_id WHERE t.assignee_id IS NOT NULL "
    "GROUP BY g.name, t.assignee_id HAVING count(*) > 1 ORDER BY g.name"
)


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """A tag that some user carries on two tasks, so that duplicates must go."""
    names = sorted(set(connection.execute(SHARED).scalars()))
    return {"tag": rng.choice(names)}
