from sqlalchemy import text


def run(session, country, limit):
    return helper(session, country)


def helper(session, country):
    return session.execute(text("SELECT nickname FROM users")).all()
