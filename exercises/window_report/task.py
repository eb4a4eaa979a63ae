"""window_report: the three largest tasks of every project.

Return, for every project that has tasks, its three largest tasks by
``estimate_hours`` (a project with fewer tasks returns all of them), as
tuples ``(project_id, rank, task_id, title, estimate_hours)``: ordered by
project id, then by rank (1, 2, 3). Among tasks of equal estimate, the
lower task id ranks first.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session) -> list[tuple[int, int, int, str, int]]:
    by_project: dict[int, list[Task]] = {}
    for task in session.scalars(select(Task)):
        by_project.setdefault(task.project_id, []).append(task)
    report = []
    for project_id in sorted(by_project):
        largest = sorted(by_project[project_id], key=lambda t: (-t.estimate_hours, t.id))[:3]
        for rank, task in enumerate(largest, start=1):
            report.append((project_id, rank, task.id, task.title, task.estimate_hours))
    return report
