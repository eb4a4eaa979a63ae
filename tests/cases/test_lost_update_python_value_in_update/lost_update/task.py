"""An UPDATE statement, but of a value computed from an earlier read."""

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
    budget = session.scalar(select(Project.budget).where(Project.id == project_id))
    assert budget is not None
    session.execute(update(Project).where(Project.id == project_id).values(budget=budget - amount))
    session.commit()
