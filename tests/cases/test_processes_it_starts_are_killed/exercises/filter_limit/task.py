import os
import time
from pathlib import Path


def run(session, country, limit):
    marker = Path(session.get_bind().url.database).parent / "grandchild.pid"
    if os.fork() == 0:
        marker.write_text(str(os.getpid()))
        time.sleep(600)
        os._exit(0)
    while not marker.exists():
        time.sleep(0.01)
    return []
