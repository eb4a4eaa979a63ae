"""async_eager_loading: an async endpoint listing a country's users with their open tasks.

Return, for each user of ``country`` in id order, a dict
``{"id": ..., "name": ..., "open_tasks": [...]}`` where ``open_tasks`` is
the sorted list of the titles of the user's tasks that are not ``done``.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from grader.domain import User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    users = (
        await session.scalars(select(User).where(User.country == country).order_by(User.id))
    ).all()
    result = []
    for user in users:
        # user.tasks would raise MissingGreenlet here: an AsyncSession cannot load
        # lazily behind an attribute. Awaiting the attribute loads it, one user at a time.
        tasks = await user.awaitable_attrs.tasks
        open_tasks = sorted(t.title for t in tasks if t.status != "done")
        result.append({"id": user.id, "name": user.name, "open_tasks": open_tasks})
    return result
