"""lost_update: charge an amount to a project's budget.

Subtract ``amount`` from the budget of project ``project_id`` and commit.
Many workers (processes, each with its own connection) call this at the same
time, often for the same project: every charge must be counted.

The ``projects`` table has a ``version`` column (an integer, 1 for every
row) that nothing uses yet.
"""

from sqlalchemy import Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Project(Base):
    """The columns of ``projects`` this task needs."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    budget: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)


def charge(session: Session, project_id: int, amount: int) -> None:
    project = session.get(Project, project_id)
    assert project is not None
    project.budget = project.budget - amount
    session.commit()
