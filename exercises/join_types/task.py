"""join_types: open tasks per user, users without any included.

Return, for every user of ``country`` in id order, a tuple
``(id, name, open_tasks)``: how many of the tasks assigned to the user are
not ``done`` (0 when there are none).
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    users = session.execute(
        select(User.id, User.name).where(User.country == country).order_by(User.id)
    ).all()
    report = []
    for user_id, name in users:
        open_tasks = session.scalar(
            select(func.count())
            .select_from(Task)
            .where(Task.assignee_id == user_id, Task.status != "done")
        )
        report.append((user_id, name, open_tasks))
    return report
