"""join_types: open tasks per user, users without any included.

Return, for every user of ``country`` in id order, a tuple
``(id, name, open_tasks)``: how many of the tasks assigned to the user are
not ``done`` (0 when there are none).
"""

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(session: Session, country: str) -> list[tuple[int, str, int]]:
    # The status test belongs to the join: in WHERE it would drop the users
    # whose tasks are all done, as an inner join does.
    open_task = and_(Task.assignee_id == User.id, Task.status != "done")
    stmt = (
        select(User.id, User.name, func.count(Task.id))
        .outerjoin(Task, open_task)
        .where(User.country == country)
        .group_by(User.id, User.name)
        .order_by(User.id)
    )
    return [tuple(row) for row in session.execute(stmt)]
