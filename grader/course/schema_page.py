"""The data model as a page students can read, generated from the models themselves.

`render_schema` writes Markdown: an entity-relationship diagram as a Mermaid
``erDiagram`` block (GitHub renders it), one table per model with each
column's type, keys and description (the ``doc`` of the column), and the
dataset sizes specs name with what their rows hold. It reads `grader.domain`
and the size table and shares of `grader.databases.dataset`, nothing else, so
the page cannot drift from them:
``docs/schema.md`` is this function's output, and a test fails when they differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

# SQLAlchemy is imported where a page is rendered: the command line names SCHEMA_PAGE
# in its help, which must not cost the import of SQLAlchemy.
if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table

#: Where the page lives in the course repository and in a release.
SCHEMA_PAGE = "docs/schema.md"

_INTRO = """\
# The data model

Every query exercise works on these tables: users own projects, projects
hold tasks, tasks are assigned to users, carry tags (through `task_tags`) and
collect comments. The models are in `grader/domain.py`
(`from grader.domain import User, Project, Task, Tag, Comment`); this page is
generated from them (`ormgrade schema`), so it cannot disagree with them.
The migration exercises each have their own small `models.py`.
"""


def _type(column: Column[object]) -> str:
    from sqlalchemy.dialects import sqlite

    compiled = column.type.compile(dialect=sqlite.dialect())
    return re.sub(r"[^A-Za-z0-9_]", "_", compiled.split("(")[0]).lower()


def _keys(column: Column[object]) -> list[str]:
    from sqlalchemy import UniqueConstraint

    keys = []
    if column.primary_key:
        keys.append("PK")
    if column.foreign_keys:
        keys.append("FK")
    single = [
        c
        for c in column.table.constraints
        if isinstance(c, UniqueConstraint) and len(c.columns) == 1
    ]
    if column.unique or any(column.name in c.columns for c in single):
        keys.append("UK")
    return keys


def _doc(column: Column[object]) -> str:
    return " ".join((column.doc or "").split())


def _mermaid_text(text: str) -> str:
    return text.replace('"', "'").replace("`", "")


def _relationship_lines(tables: Iterable[Table]) -> list[str]:
    from sqlalchemy import ForeignKey

    lines = []
    for table in tables:
        for column in table.columns:
            for key in sorted(column.foreign_keys, key=lambda k: k.target_fullname):
                assert isinstance(key, ForeignKey)
                parent = key.column.table.name
                one = "|o" if column.nullable else "||"
                label = column.name
                lines.append(f'    {parent} {one}--o{{ {table.name} : "{label}"')
    return lines


def _percent(share: float) -> str:
    return f"{share * 100:g} %"


def render_sizes() -> str:
    """The dataset sizes as Markdown: rows per table and what the rows hold."""
    from grader.databases import dataset
    from grader.domain import COUNTRIES, TASK_STATUSES

    out = [
        "## Dataset sizes",
        "",
        "A spec names the size it grades on (`dataset`), the larger one the N+1 check "
        "compares with (`scaled_dataset`) and the one `bench/run.py` times (`bench_dataset`); "
        "an inline table of counts (`dataset = { users = 50, projects = 5, tasks = 400 }`) "
        "makes a custom size. Rows per table:",
        "",
        "| size | users | projects | tasks | tags | task_tags (about) | comments |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, size in dataset.SIZES.items():
        tags = min(size.tags, len(dataset.TAG_NAMES))
        per_task = min(dataset.MAX_TAGS_PER_TASK, tags) / 2
        out.append(
            f"| `{name}` | {size.users} | {size.projects} | {size.tasks} | {tags} | "
            f"{round(size.tasks * per_task)} | {size.comments} |"
        )
    low, high = dataset.AGES
    out += [
        "",
        "What the rows hold, whatever the size (the seed changes which rows):",
        "",
        f"- each task carries 0 to {dataset.MAX_TAGS_PER_TASK} tags, evenly "
        f"({dataset.MAX_TAGS_PER_TASK / 2:g} on average), never one tag twice;",
        f"- {_percent(dataset.UNASSIGNED_TASKS)} of the tasks have no assignee (NULL); "
        f"{_percent(1 - dataset.ASSIGNABLE_USERS)} of the users are never assigned a task, "
        f"and {_percent(dataset.FINISHED_USERS)} of the others have only `done` tasks;",
        f"- {_percent(dataset.EMPTY_PROJECTS)} of the projects have no task;",
        f"- {_percent(dataset.ACTIVE_USERS)} of the users are active; ages run from {low} to "
        f"{high}; countries are {', '.join(COUNTRIES)}; statuses are "
        f"{', '.join(TASK_STATUSES)};",
        f"- {_percent(dataset.MIDNIGHT_TASKS)} of the tasks are created exactly at midnight;",
        "- every sort key has ties, and rows are inserted in a shuffled order, so that no "
        "scan returns key order by accident;",
        f"- a size has at most {len(dataset.TAG_NAMES)} tags, whatever it asks for.",
        "",
    ]
    return "\n".join(out)


def render_schema(metadata: MetaData | None = None) -> str:
    """The schema page (Markdown) of ``metadata``, by default the shared domain's.

    The shared domain's page ends with the dataset sizes (`render_sizes`).
    """
    from sqlalchemy.dialects import sqlite

    from grader.domain import Base

    domain = metadata is None
    metadata = metadata if metadata is not None else Base.metadata
    tables = sorted(metadata.tables.values(), key=lambda t: t.name)
    out = [_INTRO, "```mermaid", "erDiagram"]
    for table in tables:
        out.append(f"    {table.name} {{")
        for column in table.columns:
            keys = ",".join(_keys(column))
            parts = [_type(column), column.name]
            if keys:
                parts.append(keys)
            doc = _doc(column)
            if doc:
                parts.append(f'"{_mermaid_text(doc)}"')
            out.append("        " + " ".join(parts))
        out.append("    }")
    out += _relationship_lines(tables)
    out += ["```", ""]
    for table in tables:
        out.append(f"## `{table.name}`")
        out.append("")
        if table.comment:
            out += [table.comment, ""]
        out.append("| column | type | null | key | description |")
        out.append("|---|---|---|---|---|")
        for column in table.columns:
            roles: list[str] = []
            if column.primary_key:
                roles.append("primary key")
            for key in sorted(column.foreign_keys, key=lambda k: k.target_fullname):
                roles.append(f"→ `{key.target_fullname}`")
            if "UK" in _keys(column):
                roles.append("unique")
            type_text = str(column.type.compile(dialect=sqlite.dialect()))
            nullable = "yes" if column.nullable and not column.primary_key else "no"
            doc = _doc(column).replace("|", r"\|")
            out.append(
                f"| `{column.name}` | {type_text} | {nullable} | {', '.join(roles)} | {doc} |"
            )
        indexes = sorted(table.indexes, key=lambda i: i.name or "")
        if indexes:
            out.append("")
            names = ", ".join(
                f"`{i.name}` ({', '.join(c.name for c in i.columns)})" for i in indexes
            )
            out.append(f"Indexes: {names}.")
        out.append("")
    if domain:
        out.append(render_sizes())
    return "\n".join(out).rstrip() + "\n"
