class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def run(session, country, limit):
    raise Unprintable()
