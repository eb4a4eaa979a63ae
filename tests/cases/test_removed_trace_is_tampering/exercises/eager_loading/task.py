def run(session, country):
    raw = session.connection().connection.dbapi_connection
    # Around any method the connection's class defines: the C base class's own.
    base = type(raw).__mro__[-2]
    base.set_trace_callback(raw, None)
    cursor = raw.cursor()
    users = cursor.execute(
        "SELECT id, name FROM users WHERE country = ? ORDER BY id", (country,)
    ).fetchall()
    result = []
    for user_id, name in users:
        titles = cursor.execute(
            "SELECT title FROM tasks WHERE assignee_id = ? AND status != 'done'", (user_id,)
        ).fetchall()
        result.append((user_id, name, sorted(title for (title,) in titles)))
    return result
