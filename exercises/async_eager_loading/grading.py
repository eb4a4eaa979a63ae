"""Hooks of async_eager_loading: the country asked for changes with the seed."""

from random import Random
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick a country that has users in this dataset."""
    countries = sorted(connection.execute(text("SELECT DISTINCT country FROM users")).scalars())
    return {"country": rng.choice(countries)}
