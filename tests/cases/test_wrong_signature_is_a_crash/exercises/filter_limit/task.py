def run(session, country):
    return []
