"""Hooks of lost_update: charges against one project's budget; every budget is compared.

The schema is the shared domain's, with a ``version`` column on ``projects``
(an integer starting at 1) that optimistic locking can use.
"""

from random import Random
from typing import Any

from sqlalchemy import Column, Integer, MetaData, select
from sqlalchemy.engine import Connection

from grader.domain import NAMING_CONVENTION, Base


def _schema() -> MetaData:
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["projects"].append_column(
        Column("version", Integer, nullable=False, default=1, server_default="1")
    )
    return metadata


METADATA = _schema()
PROJECTS = METADATA.tables["projects"]


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """The project charged and the amount of each charge."""
    projects = connection.execute(select(PROJECTS.c.id).order_by(PROJECTS.c.id)).scalars().all()
    return {"project_id": rng.choice(projects), "amount": rng.randint(3, 9)}


def snapshot(connection: Connection, job: Any) -> dict[str, Any]:
    """The budget of every project, the charged one first."""
    budgets = dict(
        connection.execute(select(PROJECTS.c.id, PROJECTS.c.budget).order_by(PROJECTS.c.id)).all()
    )
    charged = job.params["project_id"]
    return {
        f"budget of project {charged}": budgets.pop(charged),
        "budgets of the other projects": sorted(budgets.items()),
    }
