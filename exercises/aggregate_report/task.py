"""aggregate_report: per-project statistics.

Return, for every project that has tasks, in project id order, a tuple
``(project_id, project_name, tasks, estimate_hours, done)``: how many tasks
the project has, the sum of their ``estimate_hours`` and how many of them
are ``done``.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Project, Task


def run(session: Session) -> list[tuple[int, str, int, int, int]]:
    names = {project.id: project.name for project in session.scalars(select(Project))}
    totals: dict[int, list[int]] = {}
    for task in session.scalars(select(Task)):
        line = totals.setdefault(task.project_id, [0, 0, 0])
        line[0] += 1
        line[1] += task.estimate_hours
        line[2] += 1 if task.status == "done" else 0
    return [(project_id, names[project_id], *totals[project_id]) for project_id in sorted(totals)]
