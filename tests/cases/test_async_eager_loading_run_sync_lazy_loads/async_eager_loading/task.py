"""Runs sync code with lazy loads through run_sync: it works, and it is N+1."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from grader.domain import Task, User


def listing(session: Any, country: str) -> list[dict[str, Any]]:
    users = session.scalars(select(User).where(User.country == country).order_by(User.id)).all()
    return [
        {
            "id": u.id,
            "name": u.name,
            "open_tasks": sorted(t.title for t in u.tasks if t.status != "done"),
        }
        for u in users
    ]


async def run(session: AsyncSession, country: str) -> list[dict[str, Any]]:
    return await session.run_sync(listing, country)
