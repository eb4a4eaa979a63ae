import threading


def run(session, country, limit):
    threading.Event().wait()
