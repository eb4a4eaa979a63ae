def solve(session, country, limit):
    return []
