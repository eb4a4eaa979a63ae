import itertools


def run(session, country, limit):
    return (n for n in itertools.count())
