import time

while True:
    time.sleep(60)


def run(session, country, limit):
    return []
