"""What every database backend offers: a seeded template per (size, seed), a copy per run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import MetaData

from grader.databases.dataset import DatasetSize


@dataclass(frozen=True)
class Template:
    """A seeded database that per-run copies are made from.

    Attributes:
        size: The dataset size it holds.
        seed: The seed it was generated with.
        location: Backend-specific: a file path or a database name.
        url: A URL that reads the template itself (for the grader only).
    """

    size: DatasetSize
    seed: int
    location: str
    url: str


class Backend(Protocol):
    """Makes seeded templates and per-run copies on one kind of database."""

    dialect: str

    def template(self, size: DatasetSize, seed: int, metadata: MetaData | None = None) -> Template:
        """The template for (size, seed), built on first use."""
        ...

    def copy(self, template: Template) -> str:
        """A fresh copy of ``template``; returns its URL."""
        ...

    def empty(self) -> str:
        """A fresh, empty database of the run's own (dropped with `drop`); returns its URL."""
        ...

    def drop(self, url: str) -> None:
        """Remove a copy made by `copy`; never raises for one already gone."""
        ...

    def close(self) -> None:
        """Release everything this backend made that is not cached for later runs."""
        ...


#: Bump when the domain models or the generator change, to invalidate cached templates.
SCHEMA_REVISION = 1


def _metadata_key(metadata: MetaData) -> str:
    # Types, keys and constraints too: a migration exercise's starter schema may
    # differ from the domain's only in a column type.
    described = sorted(
        (
            t.name,
            tuple(sorted((c.name, repr(c.type), c.nullable, c.primary_key) for c in t.columns)),
            tuple(sorted(i.name or "" for i in t.indexes)),
            tuple(sorted(f"{fk.parent.name}->{fk.target_fullname}" for fk in t.foreign_keys)),
            tuple(sorted(type(c).__name__ + ":" + str(c.name or "") for c in t.constraints)),
        )
        for t in metadata.tables.values()
    )
    return hashlib.sha1(repr(described).encode()).hexdigest()[:10]
