"""FOR UPDATE alone: on SQLite it renders nothing, and the race stays."""

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
    project = session.scalars(
        select(Project).where(Project.id == project_id).with_for_update()
    ).one()
    project.budget -= amount
    session.commit()
