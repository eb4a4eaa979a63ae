"""transaction_atomic: import a batch of tasks into a project, all or nothing.

``rows`` holds the new tasks, each a dict with the keys ``title``,
``status``, ``priority``, ``estimate_hours``, ``assignee_id`` and
``created_at``. Add them all to project ``project_id`` and return how many
were added. The import is all or nothing: if any row cannot be written, no
row of the batch may stay in the database, so that the import can simply be
run again.
"""

from typing import Any

from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, project_id: int, rows: list[dict[str, Any]]) -> int:
    # One transaction: committed at the end of the block, rolled back if anything fails.
    with session.begin():
        session.add_all(Task(project_id=project_id, **row) for row in rows)
    return len(rows)
