"""Models against schema: what ``compare_metadata`` finds, told as sentences.

An index is described by its columns, and one the database has under another
name is told as a rename, not as one missing and one extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection, Dialect

from grader.migrations.state import type_sql


def _null_text(nullable: Any) -> str:
    return "NULL" if nullable else "NOT NULL"


def describe_model_differences(diffs: Sequence[Any], dialect: Dialect) -> list[str]:
    """``compare_metadata``'s findings as sentences; an index is described by its columns."""
    flat: list[tuple[Any, ...]] = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    added = {d[1].name: d[1] for d in flat if d[0] == "add_index"}
    removed = {d[1].name: d[1] for d in flat if d[0] == "remove_index"}

    def columns(index: Any) -> str:
        return ", ".join(getattr(c, "name", str(c)) for c in index.expressions)

    # An index the database has under another name, on the same columns.
    renamed: dict[str, str] = {}
    for name, index in added.items():
        if name in removed:
            continue
        for old_name, old in removed.items():
            if old_name not in added and old_name not in renamed and columns(old) == columns(index):
                renamed[old_name] = name
                break
    old_names = {new: old for old, new in renamed.items()}

    def type_text(type_: Any) -> str:
        return type_sql(type_, dialect)

    found: list[str] = []
    for diff in flat:
        kind = diff[0]
        if kind == "add_table":
            found.append(f"models.py has table {diff[1].name}; the database has not")
        elif kind == "remove_table":
            found.append(f"the database has table {diff[1].name}; models.py has not")
        elif kind == "add_column":
            column = diff[3]
            found.append(
                f"models.py has column {diff[2]}.{column.name} ({type_text(column.type)}); "
                "the database has not"
            )
        elif kind == "remove_column":
            column = diff[3]
            found.append(
                f"the database has column {diff[2]}.{column.name} ({type_text(column.type)}); "
                "models.py has not"
            )
        elif kind == "add_index":
            index = diff[1]
            table = index.table.name
            if index.name in removed:
                found.append(
                    f"index {index.name} is on {table} ({columns(removed[index.name])}) in the "
                    f"database, on ({columns(index)}) in models.py"
                )
            elif index.name in old_names:
                found.append(
                    f"the index on {table} ({columns(index)}) is called "
                    f"{old_names[index.name]} in the database, {index.name} in models.py"
                )
            else:
                found.append(
                    f"models.py has index {index.name} on {table} ({columns(index)}); "
                    "the database has not"
                )
        elif kind == "remove_index":
            index = diff[1]
            if index.name in added or index.name in renamed:
                continue  # told with its add_index counterpart
            found.append(
                f"the database has index {index.name} on {index.table.name} ({columns(index)}); "
                "models.py has not"
            )
        elif kind == "modify_type":
            found.append(
                f"{diff[2]}.{diff[3]} is {type_text(diff[5])} in the database, "
                f"{type_text(diff[6])} in models.py"
            )
        elif kind == "modify_nullable":
            was, wanted = _null_text(diff[5]), _null_text(diff[6])
            found.append(f"{diff[2]}.{diff[3]} is {was} in the database, {wanted} in models.py")
        elif kind in ("add_fk", "remove_fk", "add_constraint", "remove_constraint"):
            constraint = diff[1]
            where = "models.py" if kind.startswith("add") else "the database"
            other = "the database" if kind.startswith("add") else "models.py"
            found.append(
                f"{where} has {type(constraint).__name__} {constraint.name} on "
                f"{constraint.table.name}; {other} has not"
            )
        else:
            found.append(f"{kind}: {diff[1:]!r}")
    return found


def compare_models(connection: Connection, metadata: MetaData) -> list[str]:
    """How the schema on ``connection`` differs from ``metadata`` (types and indexes included)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "target_metadata": metadata}
    )
    return describe_model_differences(compare_metadata(context, metadata), connection.dialect)
