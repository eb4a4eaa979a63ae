"""filter_limit, hostile: never returns."""


def run(session, country, limit):
    while True:
        pass
