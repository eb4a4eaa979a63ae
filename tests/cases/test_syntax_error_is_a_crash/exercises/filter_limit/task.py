def run(session, country, limit)
    return []
