"""Atomic, but charges the project after the one asked for."""

from sqlalchemy import Integer, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    budget: Mapped[int] = mapped_column(Integer)


def charge(session: Session, project_id: int, amount: int) -> None:
    session.execute(
        update(Project).where(Project.id == project_id + 1).values(budget=Project.budget - amount)
    )
    session.commit()
