"""The shared project-management domain every query exercise works on.

Users own projects; projects hold tasks; tasks are assigned to users, carry
tags and collect comments. The metadata uses a naming convention so that
constraint and index names are stable across dialects and Alembic revisions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base of the shared domain.

    `AsyncAttrs` gives every model ``awaitable_attrs``, for async exercises.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


task_tags = Table(
    "task_tags",
    Base.metadata,
    Column(
        "task_id",
        ForeignKey("tasks.id", ondelete="CASCADE"),
        primary_key=True,
        doc="The tagged task.",
    ),
    Column(
        "tag_id",
        ForeignKey("tags.id", ondelete="CASCADE"),
        primary_key=True,
        doc="The tag put on it.",
    ),
)


class User(Base):
    """A person who owns projects, is assigned tasks and writes comments."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, doc="The user's number.")
    name: Mapped[str] = mapped_column(String(100), doc="Full name, as shown.")
    # No index on email: index_lookup is about adding one.
    email: Mapped[str] = mapped_column(
        String(200), doc="E-mail address; not indexed (index_lookup adds the index)."
    )
    age: Mapped[int] = mapped_column(Integer, doc="Age in years (18 to 80).")
    country: Mapped[str] = mapped_column(
        String(2), doc="ISO 3166 two-letter country code (DE, FR, US, …)."
    )
    is_active: Mapped[bool] = mapped_column(
        default=True, doc="Whether the account is in use (most are)."
    )
    bio: Mapped[str] = mapped_column(Text, default="", doc="A few words about the user.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, doc="When the user signed up.")

    projects: Mapped[list[Project]] = relationship(back_populates="owner")
    tasks: Mapped[list[Task]] = relationship(back_populates="assignee")
    comments: Mapped[list[Comment]] = relationship(back_populates="author")

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r})"


class Project(Base):
    """A project owned by one user."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True, doc="The project's number.")
    name: Mapped[str] = mapped_column(String(120), doc="The project's name.")
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, doc="The user who owns the project."
    )
    budget: Mapped[int] = mapped_column(Integer, doc="Budget in whole currency units.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, doc="When it was created.")

    owner: Mapped[User] = relationship(back_populates="projects")
    tasks: Mapped[list[Task]] = relationship(back_populates="project")

    def __repr__(self) -> str:
        return f"Project(id={self.id!r}, name={self.name!r})"


class Tag(Base):
    """A label that can be put on tasks."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True, doc="The tag's number.")
    name: Mapped[str] = mapped_column(String(40), unique=True, doc="The label, unique.")

    tasks: Mapped[list[Task]] = relationship(secondary=task_tags, back_populates="tags")


class Task(Base):
    """A unit of work in a project, optionally assigned to a user."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True, doc="The task's number.")
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id"), index=True, doc="The project the task belongs to."
    )
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, doc="The user it is assigned to; NULL if nobody."
    )
    title: Mapped[str] = mapped_column(String(200), doc="A one-line summary.")
    status: Mapped[str] = mapped_column(
        String(20), doc="One of todo, doing, review, done (`TASK_STATUSES`)."
    )
    priority: Mapped[int] = mapped_column(Integer, doc="1 to 5.")
    estimate_hours: Mapped[int] = mapped_column(Integer, doc="Estimated work, in hours.")
    description: Mapped[str] = mapped_column(Text, default="", doc="Longer text.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, doc="When it was created.")

    project: Mapped[Project] = relationship(back_populates="tasks")
    assignee: Mapped[User | None] = relationship(back_populates="tasks")
    tags: Mapped[list[Tag]] = relationship(secondary=task_tags, back_populates="tasks")
    comments: Mapped[list[Comment]] = relationship(back_populates="task")

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, title={self.title!r})"


class Comment(Base):
    """A comment written by a user on a task."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True, doc="The comment's number.")
    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id"), index=True, doc="The task commented on."
    )
    author_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), index=True, doc="The user who wrote it."
    )
    body: Mapped[str] = mapped_column(Text, doc="The comment's text.")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, doc="When it was written.")

    task: Mapped[Task] = relationship(back_populates="comments")
    author: Mapped[User] = relationship(back_populates="comments")


TASK_STATUSES = ("todo", "doing", "review", "done")
COUNTRIES = ("DE", "FR", "GB", "IN", "JP", "NL", "US", "BR", "CA", "ES")
