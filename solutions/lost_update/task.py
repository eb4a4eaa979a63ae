"""lost_update: charge an amount to a project's budget.

Subtract ``amount`` from the budget of project ``project_id`` and commit.
Many workers (processes, each with its own connection) call this at the same
time, often for the same project: every charge must be counted.

The ``projects`` table has a ``version`` column (an integer, 1 for every
row) that nothing uses yet.
"""

from sqlalchemy import Integer, update
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
    # The database computes the new budget from the one it holds when it writes:
    # no value read earlier is written back, so no other charge can be overwritten.
    session.execute(
        update(Project).where(Project.id == project_id).values(budget=Project.budget - amount)
    )
    session.commit()
