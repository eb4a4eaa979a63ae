"""Awaits every user's lazy load at once: one session cannot run them concurrently."""

import asyncio

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from grader.domain import Task, User


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    users = (
        await session.scalars(select(User).where(User.country == country).order_by(User.id))
    ).all()
    loaded = await asyncio.gather(*(u.awaitable_attrs.tasks for u in users))
    return [
        {
            "id": u.id,
            "name": u.name,
            "open_tasks": sorted(t.title for t in tasks if t.status != "done"),
        }
        for u, tasks in zip(users, loaded)
    ]
