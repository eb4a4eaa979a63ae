"""read_replica_routing with every statement on the replica: the writes never reach the primary.

Fast, but wrong.
"""

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(primary: Engine, replica: Engine, user_id: int) -> tuple[int, list[int]]:
    with Session(replica) as session:
        leaving = session.get_one(User, user_id)
        task_ids = session.scalars(
            select(Task.id)
            .where(Task.assignee_id == user_id, Task.status != "done")
            .order_by(Task.id)
        ).all()
        colleague_id = session.scalars(
            select(User.id)
            .outerjoin(Task, (Task.assignee_id == User.id) & (Task.status != "done"))
            .where(User.country == leaving.country, User.is_active, User.id != user_id)
            .group_by(User.id)
            .order_by(func.count(Task.id), User.id)
            .limit(1)
        ).one()
        session.execute(update(Task).where(Task.id.in_(task_ids)).values(assignee_id=colleague_id))
        leaving.is_active = False
        session.commit()
    return colleague_id, list(task_ids)
