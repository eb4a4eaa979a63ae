"""async_eager_loading: an async endpoint listing a country's users with their open tasks.

Return, for each user of ``country`` in id order, a dict
``{"id": ..., "name": ..., "open_tasks": [...]}`` where ``open_tasks`` is
the sorted list of the titles of the user's tasks that are not ``done``.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from grader.domain import User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    # The tasks of every user come with the users, in one more SELECT ... IN (...):
    # nothing is left to load lazily, and nothing has to be awaited per user.
    stmt = (
        select(User)
        .where(User.country == country)
        .order_by(User.id)
        .options(selectinload(User.tasks))
    )
    users = (await session.scalars(stmt)).all()
    return [
        {
            "id": user.id,
            "name": user.name,
            "open_tasks": sorted(t.title for t in user.tasks if t.status != "done"),
        }
        for user in users
    ]
