"""read_replica_routing: reports on the replica, but the leaving user is loaded on the primary.

Right answer, one read still on the primary.
"""

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(primary: Engine, replica: Engine, user_id: int) -> tuple[int, list[int]]:
    with Session(replica) as reader:
        task_ids = reader.scalars(
            select(Task.id)
            .where(Task.assignee_id == user_id, Task.status != "done")
            .order_by(Task.id)
        ).all()
    with Session(primary) as writer:
        leaving = writer.get_one(User, user_id)
        with Session(replica) as reader:
            colleague_id = reader.scalars(
                select(User.id)
                .outerjoin(Task, (Task.assignee_id == User.id) & (Task.status != "done"))
                .where(User.country == leaving.country, User.is_active, User.id != user_id)
                .group_by(User.id)
                .order_by(func.count(Task.id), User.id)
                .limit(1)
            ).one()
        writer.execute(update(Task).where(Task.id.in_(task_ids)).values(assignee_id=colleague_id))
        leaving.is_active = False
        writer.commit()
    return colleague_id, list(task_ids)
