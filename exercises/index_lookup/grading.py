"""Hooks of index_lookup: the email looked up, and the indexes the submission declares.

An index belongs on the model: the submission's ``task.py`` declares it on
the shared metadata (``Index(name, Model.column)``) and `prepare` creates, on
the run's own database copy and before recording starts, every index of the
metadata that the database lacks. The starter runs in a process of its own,
so its metadata declares no such index.
"""

from collections.abc import Mapping
from random import Random
from types import ModuleType
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from grader.domain import Base


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """Pick the email of one user of this dataset."""
    emails = connection.execute(text("SELECT email FROM users ORDER BY id")).scalars().all()
    return {"email": rng.choice(emails)}


def prepare(engines: Mapping[str, Engine], module: ModuleType, job: Any) -> None:
    """Create the indexes declared on the shared models that the database lacks."""
    with engines["main"].begin() as connection:
        inspector = inspect(connection)
        for table in Base.metadata.sorted_tables:
            present = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                # The same index may be declared twice (a module imported again).
                if index.name not in present:
                    index.create(connection)
                    present.add(index.name)
