"""Hooks of keyset_pagination: a deep page, and the cursor that leads to it."""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a page in the last fifth of the open tasks and the id that ends the page before."""
    per_page = int(spec.params["per_page"])
    open_tasks = connection.execute(
        text("SELECT count(*) FROM tasks WHERE status != :done"), {"done": "done"}
    ).scalar_one()
    pages = open_tasks // per_page
    page = rng.randint(max(2, pages * 4 // 5), max(2, pages - 1))
    after = connection.execute(
        text("SELECT id FROM tasks WHERE status != :done ORDER BY id LIMIT 1 OFFSET :skip"),
        {"done": "done", "skip": (page - 1) * per_page - 1},
    ).scalar_one()
    return {"page": page, "after": after}
