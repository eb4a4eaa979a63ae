"""Lock the row before reading it; on SQLite, take the write lock first."""

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
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and renders no FOR UPDATE: lock the database for writing.
        session.execute(text("BEGIN IMMEDIATE"))
    project = session.scalars(
        select(Project).where(Project.id == project_id).with_for_update()
    ).one()
    project.budget -= amount
    session.commit()
