"""Compare and set on the budget itself: write only if it still holds what was read."""

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
    while True:
        seen = session.scalar(select(Project.budget).where(Project.id == project_id))
        assert seen is not None
        written = session.execute(
            update(Project)
            .where(Project.id == project_id, Project.budget == seen)
            .values(budget=seen - amount)
        ).rowcount
        session.commit()
        if written == 1:
            return
