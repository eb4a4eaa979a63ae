while True:
    pass


def run(session, country, limit):
    return []
