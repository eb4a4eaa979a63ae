"""A deterministic dataset of the shared domain, built fast with Core inserts.

The same (size, seed) always gives the same rows; a different seed gives
different names, emails, statuses and counts per user, so that an answer
hard-coded from one run fails the next.

The data is made to tell wrong answers apart: rows go in in a shuffled
order (a heap table, as on PostgreSQL, is scanned in that order, never in key
order; SQLite's rowid tables and InnoDB's clustered tables are stored in
primary-key order whatever the insert order); every sort key has ties; some
projects have no task, some users none, and some users only tasks that are
``done``; a tenth of the tasks are created exactly at midnight, the cut-offs
grading hooks draw; unassigned tasks have a NULL assignee.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from grader.errors import SpecError

# The sizes are read by every spec (so by `ormgrade list`): the models, and SQLAlchemy
# with them, are imported where rows are made.
if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection, Engine

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Barbara",
    "Brian",
    "Claude",
    "Dennis",
    "Donald",
    "Edsger",
    "Frances",
    "Grace",
    "Guido",
    "Hedy",
    "Ivan",
    "John",
    "Ken",
    "Linus",
    "Margaret",
    "Niklaus",
    "Radia",
    "Rasmus",
    "Shafi",
    "Sophie",
    "Tim",
    "Yukihiro",
)
LAST_NAMES = (
    "Allen",
    "Backus",
    "Codd",
    "Dijkstra",
    "Engelbart",
    "Floyd",
    "Gray",
    "Hamilton",
    "Hopper",
    "Kay",
    "Knuth",
    "Lamport",
    "Liskov",
    "Lovelace",
    "McCarthy",
    "Perlman",
    "Ritchie",
    "Stonebraker",
    "Thompson",
    "Turing",
    "Wirth",
    "Wilson",
)
WORDS = (
    "index",
    "cache",
    "query",
    "schema",
    "migrate",
    "refactor",
    "deploy",
    "review",
    "report",
    "export",
    "import",
    "audit",
    "billing",
    "search",
    "login",
    "profile",
    "backup",
    "metrics",
    "alert",
    "invoice",
    "api",
    "docs",
    "test",
    "release",
)
TAG_NAMES = (
    "bug",
    "feature",
    "chore",
    "urgent",
    "backend",
    "frontend",
    "db",
    "infra",
    "ux",
    "security",
    "perf",
    "docs",
    "test",
    "ops",
    "research",
    "design",
    "legal",
    "mobile",
    "data",
    "ml",
    "billing",
    "growth",
    "support",
    "i18n",
    "a11y",
    "api",
    "cli",
    "ci",
    "release",
    "spike",
)
EPOCH = dt.datetime(2024, 1, 1)

#: The version of the rows `generate` makes. Templates are keyed by it: change it
#: whenever a change here changes the rows, so that no old template is reused.
DATASET_VERSION = 2
#: Share of projects that get no task (an aggregate over an inner join loses them).
EMPTY_PROJECTS = 0.05
#: Share of the assignable users all of whose tasks are ``done``.
FINISHED_USERS = 0.05
#: Share of tasks created exactly at midnight (a cut-off date lands on them).
MIDNIGHT_TASKS = 0.1
#: Share of the users that may be assigned tasks (the others never are).
ASSIGNABLE_USERS = 0.8
#: Share of the tasks with no assignee (``assignee_id`` NULL).
UNASSIGNED_TASKS = 0.1
#: Share of the users that are active.
ACTIVE_USERS = 0.85
#: The most tags one task carries (each task gets 0 to this many, evenly).
MAX_TAGS_PER_TASK = 3
#: The users' ages, inclusive.
AGES = (18, 80)


@dataclass(frozen=True)
class DatasetSize:
    """How many rows of each kind a dataset holds.

    Attributes:
        name: The size's name as specs refer to it.
        users: Rows in ``users``; about a fifth of them are never assigned a task.
        projects: Rows in ``projects``.
        tasks: Rows in ``tasks``; about a tenth are unassigned.
        tags: Rows in ``tags`` (at most 30).
        comments: Rows in ``comments``.
    """

    name: str
    users: int
    projects: int
    tasks: int
    tags: int = 20
    comments: int = 0

    @property
    def key(self) -> str:
        """A file-name-safe key that identifies the row counts."""
        counts = f"u{self.users}-p{self.projects}-t{self.tasks}-g{self.tags}-c{self.comments}"
        return f"{self.name}-{counts}"


#: Sizes that specs name. ``small`` is the grading size; ``medium`` is the
#: second size the N+1 check grades at; ``export`` is for memory exercises.
SIZES: Mapping[str, DatasetSize] = {
    "tiny": DatasetSize("tiny", users=40, projects=10, tasks=300, tags=10, comments=300),
    "small": DatasetSize("small", users=300, projects=60, tasks=3000, tags=20, comments=3000),
    "medium": DatasetSize("medium", users=600, projects=120, tasks=6000, tags=20, comments=6000),
    "large": DatasetSize("large", users=3000, projects=400, tasks=30000, tags=30, comments=20000),
    "export": DatasetSize("export", users=2000, projects=200, tasks=120_000, tags=20, comments=0),
}


def size_named(name: str | Mapping[str, Any]) -> DatasetSize:
    """The `DatasetSize` for a name or an inline table of counts."""
    if isinstance(name, Mapping):
        try:
            return DatasetSize(**{"name": "custom", **name})
        except TypeError as exc:
            raise SpecError(f"bad dataset size {dict(name)!r}: {exc}") from None
    try:
        return SIZES[name]
    except KeyError:
        known = ", ".join(SIZES)
        raise SpecError(f"unknown dataset size {name!r} (known: {known})") from None


def generate(size: DatasetSize, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of every table for ``size`` and ``seed``, as lists of dicts.

    Deterministic: the same arguments always give equal rows.
    """
    from grader.domain import COUNTRIES, TASK_STATUSES

    rng = random.Random(f"{seed}:{size.key}")
    users = []
    for i in range(1, size.users + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        users.append(
            {
                "id": i,
                "name": f"{first} {last}",
                "email": f"{first}.{last}.{i}.{rng.randrange(10**6)}@example.org".lower(),
                "age": rng.randint(*AGES),
                "country": rng.choice(COUNTRIES),
                "is_active": rng.random() < ACTIVE_USERS,
                "bio": " ".join(rng.choices(WORDS, k=rng.randint(5, 25))),
                "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
            }
        )
    # A fifth of the users never get a task (join_types keeps them at zero).
    assignable = [u["id"] for u in users if rng.random() < ASSIGNABLE_USERS] or [1]
    finished = {i for i in assignable if rng.random() < FINISHED_USERS}
    projects = [
        {
            "id": i,
            "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {i}",
            "owner_id": rng.randint(1, size.users),
            "budget": rng.randrange(1_000, 500_000, 100),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in range(1, size.projects + 1)
    ]
    tags = [
        {"id": i, "name": TAG_NAMES[i - 1]} for i in range(1, min(size.tags, len(TAG_NAMES)) + 1)
    ]
    empty = set(rng.sample(range(1, size.projects + 1), k=int(size.projects * EMPTY_PROJECTS)))
    busy = [i for i in range(1, size.projects + 1) if i not in empty] or [1]
    tasks = []
    task_tags = []
    for i in range(1, size.tasks + 1):
        assignee = None if rng.random() < UNASSIGNED_TASKS else rng.choice(assignable)
        status = rng.choice(TASK_STATUSES)
        minutes = rng.randrange(525_600)
        if rng.random() < MIDNIGHT_TASKS:
            minutes -= minutes % 1440
        tasks.append(
            {
                "id": i,
                "project_id": rng.choice(busy),
                "assignee_id": assignee,
                "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} #{i}",
                "status": "done" if assignee in finished else status,
                "priority": rng.randint(1, 5),
                "estimate_hours": rng.randint(1, 40),
                "description": " ".join(rng.choices(WORDS, k=8)),
                "created_at": EPOCH + dt.timedelta(minutes=minutes),
            }
        )
        if tags:
            most = min(MAX_TAGS_PER_TASK, len(tags))
            for tag_id in rng.sample(range(1, len(tags) + 1), k=rng.randint(0, most)):
                task_tags.append({"task_id": i, "tag_id": tag_id})
    comments = [
        {
            "id": i,
            "task_id": rng.randint(1, size.tasks),
            "author_id": rng.randint(1, size.users),
            "body": " ".join(rng.choices(WORDS, k=rng.randint(3, 15))),
            "created_at": EPOCH + dt.timedelta(minutes=rng.randrange(525_600)),
        }
        for i in range(1, size.comments + 1)
    ]
    tables: dict[str, list[dict[str, Any]]] = {
        "users": users,
        "projects": projects,
        "tags": tags,
        "tasks": tasks,
        "task_tags": task_tags,
        "comments": comments,
    }
    # Inserted in an order unrelated to the keys: a scan of a heap table never
    # hands out key order by accident.
    for rows in tables.values():
        rng.shuffle(rows)
    return tables


def _chunks(rows: list[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), n):
        yield rows[start : start + n]


def load(
    connection: Connection, rows: Mapping[str, list[dict[str, Any]]], metadata: MetaData
) -> None:
    """Insert generated rows with Core executemany, in dependency order."""
    from sqlalchemy import insert

    for table in metadata.sorted_tables:
        data = rows.get(table.name)
        if not data:
            continue
        for chunk in _chunks(data, 20_000):
            connection.execute(insert(table), chunk)


def build(engine: Engine, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> None:
    """Create the schema on ``engine`` and fill it with the dataset."""
    from grader.domain import Base

    metadata = metadata if metadata is not None else Base.metadata
    rows = generate(size, seed)
    with engine.begin() as connection:
        metadata.create_all(connection)
        load(connection, rows, metadata)


def describe(size: DatasetSize) -> dict[str, Any]:
    """The size as plain data, for results and reports."""
    return asdict(size)
