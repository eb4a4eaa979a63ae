import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

CLOSE = text("UPDATE tasks SET status = 'done' WHERE status = 'review' AND created_at < :before")


def run(session: Session, before: dt.datetime) -> int:
    closed = session.execute(CLOSE, {"before": before}).rowcount
    session.commit()
    return closed
