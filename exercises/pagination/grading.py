"""Hooks of pagination: the page asked for changes with the seed."""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a page in the first half of the list, never the first page.

    The first page needs no OFFSET, so it could not show whether the
    submission skips rows in SQL.
    """
    per_page = int(spec.params["per_page"])
    tasks = connection.execute(text("SELECT count(*) FROM tasks")).scalar_one()
    last = max(2, tasks // per_page // 2)
    return {"page": rng.randint(2, last)}
