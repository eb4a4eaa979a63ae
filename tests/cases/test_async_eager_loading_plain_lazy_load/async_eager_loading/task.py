"""Touches user.tasks as sync code would: an AsyncSession cannot load it."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from grader.domain import Task, User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    users = (
        await session.scalars(select(User).where(User.country == country).order_by(User.id))
    ).all()
    return [
        {
            "id": u.id,
            "name": u.name,
            "open_tasks": sorted(t.title for t in u.tasks if t.status != "done"),
        }
        for u in users
    ]
