def run(session, country, limit):
    n = 0
    while True:
        n += 1
