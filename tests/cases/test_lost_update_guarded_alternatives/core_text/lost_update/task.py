"""The atomic update in plain SQL through text()."""

from sqlalchemy import Integer, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.orm.exc import StaleDataError


class Base(DeclarativeBase):
    pass


def charge(session: Session, project_id: int, amount: int) -> None:
    session.execute(
        text("UPDATE projects SET budget = budget - :amount WHERE id = :id"),
        {"amount": amount, "id": project_id},
    )
    session.commit()
