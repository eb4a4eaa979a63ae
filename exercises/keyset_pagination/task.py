"""keyset_pagination: a deep page of the open tasks.

The open tasks (every status but ``done``) are listed in id order,
``per_page`` to a page. Return page ``page`` (counted from 1) as
``(id, title)`` tuples. ``after`` is the id of the last task of the page
before: the client received it with that page and sends it back.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int, after: int) -> list[tuple[int, str]]:
    stmt = (
        select(Task.id, Task.title)
        .where(Task.status != "done")
        .order_by(Task.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [(row.id, row.title) for row in session.execute(stmt)]
