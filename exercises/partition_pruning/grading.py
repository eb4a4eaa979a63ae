"""Hooks of partition_pruning: tasks partitioned by month, and the month asked for.

``tasks`` here holds the domain's rows in a table partitioned by the month
of ``created_at`` (one partition per month of 2024, the dataset's year):
PostgreSQL's declarative partitioning, MariaDB's ``PARTITION BY RANGE
COLUMNS``. Both servers require every unique key to include the partition
key, so the primary key is ``(id, created_at)``, and MariaDB allows no
foreign key on a partitioned table: the table stands alone.
"""

from __future__ import annotations

import datetime as dt
from random import Random
from typing import Any

from sqlalchemy import (
    DDL,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
    select,
)
from sqlalchemy.engine import Connection

#: The dataset's year: every task is created in it.
YEAR = 2024
#: The months that have a partition.
MONTHS = range(1, 13)


def _first_day(year: int, month: int) -> dt.datetime:
    return dt.datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


METADATA = MetaData()
TASKS = Table(
    "tasks",
    METADATA,
    Column("id", Integer, nullable=False),
    Column("project_id", Integer, nullable=False),
    Column("assignee_id", Integer),
    Column("title", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("estimate_hours", Integer, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("id", "created_at", name="pk_tasks_by_month"),
    postgresql_partition_by="RANGE (created_at)",
)
for _month in MONTHS:
    _start, _end = _first_day(YEAR, _month), _first_day(YEAR, _month + 1)
    event.listen(
        TASKS,
        "after_create",
        DDL(
            f"CREATE TABLE tasks_{YEAR}_{_month:02d} PARTITION OF tasks "
            f"FOR VALUES FROM ('{_start:%Y-%m-%d}') TO ('{_end:%Y-%m-%d}')"
        ).execute_if(dialect="postgresql"),
    )
event.listen(
    TASKS,
    "after_create",
    DDL(
        "ALTER TABLE tasks PARTITION BY RANGE COLUMNS (created_at) ("
        + ", ".join(
            f"PARTITION p{YEAR}_{month:02d} VALUES LESS THAN "
            f"('{_first_day(YEAR, month + 1):%Y-%m-%d}')"
            for month in MONTHS
        )
        + ")"
    ).execute_if(dialect="mysql"),
)


def params(connection: Connection, rng: Random, spec: Any) -> dict[str, Any]:
    """A month whose first midnight and the next month's both hold a task.

    A task created exactly on a month's first midnight belongs to it; one on
    the next month's first midnight does not: ``BETWEEN`` and ``>`` give other
    answers on such a month.
    """
    firsts = [_first_day(YEAR, month) for month in range(1, 13)]
    found = connection.execute(
        select(TASKS.c.created_at).where(TASKS.c.created_at.in_(firsts)).distinct()
    ).scalars()
    midnights = set(found)
    fenced = [
        month
        for month in range(1, 12)
        if _first_day(YEAR, month) in midnights and _first_day(YEAR, month + 1) in midnights
    ]
    return {"year": YEAR, "month": rng.choice(fenced or list(range(1, 12)))}
