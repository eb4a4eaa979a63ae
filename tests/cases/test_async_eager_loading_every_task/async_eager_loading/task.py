"""Eager, but keeps the tasks that are done."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from grader.domain import Task, User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    stmt = (
        select(User)
        .where(User.country == country)
        .order_by(User.id)
        .options(selectinload(User.tasks))
    )
    users = (await session.scalars(stmt)).all()
    return [
        {"id": u.id, "name": u.name, "open_tasks": sorted(t.title for t in u.tasks)}
        for u in users
    ]
