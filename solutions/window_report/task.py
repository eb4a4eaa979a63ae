"""window_report: the three largest tasks of every project.

Return, for every project that has tasks, its three largest tasks by
``estimate_hours`` (a project with fewer tasks returns all of them), as
tuples ``(project_id, rank, task_id, title, estimate_hours)``: ordered by
project id, then by rank (1, 2, 3). Among tasks of equal estimate, the
lower task id ranks first.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    rank = (
        func.row_number()
        .over(
            partition_by=Task.project_id,
            order_by=(Task.estimate_hours.desc(), Task.id),
        )
        .label("rank")
    )
    ranked = select(Task.project_id, rank, Task.id, Task.title, Task.estimate_hours).subquery()
    stmt = select(ranked).where(ranked.c.rank <= 3).order_by(ranked.c.project_id, ranked.c.rank)
    return [tuple(row) for row in session.execute(stmt)]
