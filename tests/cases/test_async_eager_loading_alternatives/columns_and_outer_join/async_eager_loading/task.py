"""Plain columns through one outer join, grouped in Python."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from grader.domain import Task, User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    stmt = (
        select(User.id, User.name, Task.title)
        .outerjoin(Task, (Task.assignee_id == User.id) & (Task.status != "done"))
        .where(User.country == country)
        .order_by(User.id)
    )
    by_user: dict[int, dict[str, Any]] = {}
    for user_id, name, title in await session.execute(stmt):
        entry = by_user.setdefault(user_id, {"id": user_id, "name": name, "open_tasks": []})
        if title is not None:
            entry["open_tasks"].append(title)
    for entry in by_user.values():
        entry["open_tasks"].sort()
    return list(by_user.values())
