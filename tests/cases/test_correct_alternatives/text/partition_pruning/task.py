"""partition_pruning in SQL text, with bound parameters."""

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

MONTH_BY_STATUS = text(
    "SELECT status, COUNT(*) AS n FROM tasks"
    " WHERE created_at >= :start AND created_at < :end"
    " GROUP BY status ORDER BY status"
)


def run(session: Session, year: int, month: int) -> list[tuple[str, int]]:
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1)
    rows = session.execute(MONTH_BY_STATUS, {"start": start, "end": end})
    return [(status, n) for status, n in rows]
