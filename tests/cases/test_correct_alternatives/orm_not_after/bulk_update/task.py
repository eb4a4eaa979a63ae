import datetime as dt

from sqlalchemy import not_, update
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, before: dt.datetime) -> int:
    # "not on or after the cut-off" is "before it".
    stmt = (
        update(Task)
        .where(Task.status == "review")
        .where(not_(Task.created_at >= before))
        .values(status="done")
        .execution_options(synchronize_session=False)
    )
    closed = session.execute(stmt).rowcount
    session.commit()
    return closed
