"""read_replica_routing: hand a leaving user's open tasks over to a colleague.

``primary`` takes the writes; ``replica`` is a copy of it that replication
keeps up to date, there to answer reads. User ``user_id`` is leaving. Find
their open tasks (every status but ``done``) and the colleague who takes
them over: the active user of the same country, other than the one leaving,
with the fewest open tasks (ties go to the lowest id). Assign the open tasks
to that colleague and mark the leaving user inactive. Return
``(colleague_id, task_ids)`` with the ids of the tasks handed over in
ascending order.
"""

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.domain import Task, User


def run(primary: Engine, replica: Engine, user_id: int) -> tuple[int, list[int]]:
    with Session(primary) as session:
        leaving = session.get_one(User, user_id)
        task_ids = session.scalars(
            select(Task.id)
            .where(Task.assignee_id == user_id, Task.status != "done")
            .order_by(Task.id)
        ).all()
        open_tasks = func.count(Task.id)
        colleague_id = session.scalars(
            select(User.id)
            .outerjoin(Task, (Task.assignee_id == User.id) & (Task.status != "done"))
            .where(User.country == leaving.country, User.is_active, User.id != user_id)
            .group_by(User.id)
            .order_by(open_tasks, User.id)
            .limit(1)
        ).one()
        session.execute(update(Task).where(Task.id.in_(task_ids)).values(assignee_id=colleague_id))
        leaving.is_active = False
        session.commit()
    return colleague_id, list(task_ids)
