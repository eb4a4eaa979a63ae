def run(session, country):
    cursor = session.connection().connection.dbapi_connection.cursor()
    rows = cursor.execute(
        "SELECT users.id, users.name, tasks.title, tasks.status FROM users "
        "LEFT OUTER JOIN tasks ON tasks.assignee_id = users.id "
        "WHERE users.country = ? ORDER BY users.id",
        (country,),
    ).fetchall()
    result = {}
    for user_id, name, title, status in rows:
        titles = result.setdefault(user_id, (user_id, name, []))[2]
        if title is not None and status != "done":
            titles.append(title)
    return [(user_id, name, sorted(titles)) for user_id, name, titles in result.values()]
