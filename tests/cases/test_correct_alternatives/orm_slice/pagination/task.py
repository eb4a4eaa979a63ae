from sqlalchemy.orm import Session

from grader.domain import Task


def run(session: Session, page: int, per_page: int) -> list[tuple[int, str, int]]:
    start = (page - 1) * per_page
    query = session.query(Task.id, Task.title, Task.priority).order_by(
        Task.priority.desc(), Task.id
    )
    return [tuple(row) for row in query[start : start + per_page]]
