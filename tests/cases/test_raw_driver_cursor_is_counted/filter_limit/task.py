"""Right answer, but through a raw driver cursor, and with a second query."""


def run(session, country, limit):
    cursor = session.connection().connection.dbapi_connection.cursor()
    cursor.execute("SELECT count(*) FROM users")
    cursor.fetchall()
    cursor.execute(
        "SELECT id, name FROM users WHERE country = ? AND is_active = 1 "
        "ORDER BY age, id LIMIT ?",
        (country, limit),
    )
    return [tuple(row) for row in cursor.fetchall()]
