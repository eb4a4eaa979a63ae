"""Grade in the portable sandbox, as on a system without POSIX-only modules.

`test_portable` runs this module in a fresh interpreter with
``ORMGRADE_PLATFORM=portable`` and `SITECUSTOMIZE` on its ``PYTHONPATH``, so
that the grading process and every child it spawns start without
``resource``, ``fcntl``, ``termios``, ``pwd`` or ``grp``, and cannot fork,
start a session or signal a process group. It grades each job read from the
JSON document in ``argv[1]`` and prints one JSON document: the platform used
and the results of each job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: POSIX-only modules (and POSIX-only functions of ``os``) a Windows Python does not have.
POSIX_ONLY_MODULES = ("resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "syslog")
POSIX_ONLY_FUNCTIONS = ("fork", "forkpty", "setsid", "setpgid", "killpg", "getpgid")

#: Imported at start-up of every interpreter whose PYTHONPATH holds it.
SITECUSTOMIZE = f"""
import importlib.abc
import os
import sys

BLOCKED = {POSIX_ONLY_MODULES!r}
REFUSED = []


class RefusePosixOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            REFUSED.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused)", name=name)
        return None


for _name in BLOCKED:
    sys.modules.pop(_name, None)
sys.meta_path.insert(0, RefusePosixOnly())


def _refused(name):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"os.{{name}} is not available in the portable sandbox")
    return refuse


for _name in {POSIX_ONLY_FUNCTIONS!r}:
    if hasattr(os, _name):
        setattr(os, _name, _refused(_name))
sys.ormgrade_refused_imports = REFUSED
"""


def main(argv: list[str]) -> None:
    """Grade the jobs of the document ``argv[1]`` and print what happened."""
    from grader.course.catalog import Catalog
    from grader.execution import sandbox
    from grader.execution.platform import current
    from grader.grading.runner import GradeOptions, grade

    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    catalog = Catalog(Path(spec["catalog"]))
    reports = []
    for job in spec["jobs"]:
        options = GradeOptions(seed=spec["seed"], timeout=job.get("timeout"))
        report = grade(Path(job["submission"]), catalog, job["ids"], options)
        reports.append(report.to_dict())
    platform = current()
    print(
        json.dumps(
            {
                "platform": platform.name,
                "start_method": sandbox._mp_context().get_start_method(),
                "refused_imports": sorted(set(getattr(sys, "ormgrade_refused_imports", []))),
                "resource_loaded": "resource" in sys.modules,
                "reports": reports,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv)
