"""Loaded eagerly; awaiting the attribute afterwards costs no statement."""

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
    result = []
    for user in (await session.scalars(stmt)).all():
        tasks = await user.awaitable_attrs.tasks
        titles = sorted(t.title for t in tasks if t.status != "done")
        result.append({"id": user.id, "name": user.name, "open_tasks": titles})
    return result
