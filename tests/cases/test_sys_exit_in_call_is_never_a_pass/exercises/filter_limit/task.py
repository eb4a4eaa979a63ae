import sys


def run(session, country, limit):
    sys.exit(0)
