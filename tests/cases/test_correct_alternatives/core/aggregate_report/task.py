from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from grader.domain import Project, Task

projects, tasks = Project.__table__, Task.__table__


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    done = func.sum(case((tasks.c.status == "done", 1), else_=0))
    stmt = (
        select(
            projects.c.id,
            projects.c.name,
            func.count(tasks.c.id),
            func.sum(tasks.c.estimate_hours),
            done,
        )
        .select_from(tasks.join(projects, tasks.c.project_id == projects.c.id))
        .group_by(projects.c.id, projects.c.name)
        .order_by(projects.c.id)
    )
    rows = session.connection().execute(stmt)
    return [(i, name, int(n), int(hours), int(d)) for i, name, n, hours, d in rows]
