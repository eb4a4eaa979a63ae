import inspect
import os
from pathlib import Path

# At import time: find the run's database (in the grading session's folder)
# and leave a marker naming the process that imported this file.
for _info in inspect.stack():
    _job = _info.frame.f_locals.get("job")
    if _job is not None and hasattr(_job, "databases"):
        _folder = Path(_job.databases["main"].removeprefix("sqlite:///")).parent
        (_folder / f"imported-by-{os.getpid()}").write_text(str(os.getppid()))
        break


def run(session, country, limit):
    return []
