import sys


def run(session, country, limit):
    line = "spam " * 200 + "\n"
    for _ in range(8_000):
        sys.stdout.write(line)
        sys.stderr.write(line)
    print("the very last line")
    raise RuntimeError("after printing megabytes")
