"""filter_limit, broken: the bracket is never closed."""


def run(session, country, limit):
    return [(
