"""Optimistic locking without a retry: a conflict raises StaleDataError."""

from sqlalchemy import Integer, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    budget: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)

    __mapper_args__ = {"version_id_col": version}


def charge(session: Session, project_id: int, amount: int) -> None:
    project = session.get(Project, project_id)
    assert project is not None
    project.budget -= amount
    session.commit()
