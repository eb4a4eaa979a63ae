"""eager_loading: every user of a country with the titles of their open tasks.

Return, for each user of ``country`` in id order, a tuple
``(id, name, titles)`` where ``titles`` is the sorted list of the titles of
the user's tasks that are not ``done``.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from grader.domain import User


def run(session: Session, country: str) -> list[tuple[int, str, list[str]]]:
    stmt = (
        select(User)
        .where(User.country == country)
        .order_by(User.id)
        .options(selectinload(User.tasks))
    )
    users = session.scalars(stmt).all()
    return [
        (user.id, user.name, sorted(t.title for t in user.tasks if t.status != "done"))
        for user in users
    ]
