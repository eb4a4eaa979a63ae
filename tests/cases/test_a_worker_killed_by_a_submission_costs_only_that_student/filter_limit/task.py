"""filter_limit, hostile: kills the grading worker that runs it.

The worker is the ancestor started by multiprocessing's spawn; the search
stops there, so nothing above it (the test run itself) is ever touched.
"""

import os
import signal
from pathlib import Path


def run(session, country, limit):
    pid = os.getppid()
    while pid > 1:
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
            return []
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no grading worker among my ancestors")
