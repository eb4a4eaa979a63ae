"""Starting the forkserver early: runs work from it, with the preload it was started with."""

from __future__ import annotations

import importlib.machinery
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from grader.execution.warmup import MIGRATION_PRELOAD, SERVER_PRELOAD, main_imports, preload

#: A run that reports which server drivers its process has (it is forked from the forkserver).
TASK = """\
import sys

def run(engine):
    return sorted(name for name in {names!r} if name in sys.modules)
"""

#: A fresh interpreter: this test process may have started its forkserver long ago.
SCRIPT = """\
import json, sys
from grader.execution.run import Job
from grader.execution.sandbox import run_job
from grader.execution.warmup import start_forkserver

start_forkserver(servers={servers}, migrations=False)
job = Job(exercise_id="warmup", role="submission", purpose="main", module_path={task!r},
          entry="run", call="engine", databases={{"main": "sqlite:///{folder}/run.sqlite"}},
          workdir={folder!r})
record = run_job(job, timeout=60, memory_mb=1536)
print(json.dumps([record.ok, record.value, record.failure and record.failure.message]))
"""


def installed_drivers() -> list[str]:
    found = []
    for name in SERVER_PRELOAD:
        try:
            __import__(name)
        except ImportError:
            continue
        found.append(name)
    return sorted(found)


def run_after_warmup(tmp_path: Path, servers: bool) -> list[str]:
    task = tmp_path / "task.py"
    task.write_text(TASK.format(names=SERVER_PRELOAD), encoding="utf-8")
    script = SCRIPT.format(servers=servers, task=str(task), folder=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ok, value, failure = json.loads(done.stdout.splitlines()[-1])
    assert ok, failure
    return list(value)


def test_preload_leaves_the_server_drivers_out_only_when_asked() -> None:
    assert set(SERVER_PRELOAD) <= set(preload())
    assert not set(SERVER_PRELOAD) & set(preload(servers=False))
    assert "grader.execution.forkserver" in preload(servers=False)


def test_preload_leaves_the_migration_runner_out_only_when_asked() -> None:
    assert set(MIGRATION_PRELOAD) <= set(preload())
    assert not set(MIGRATION_PRELOAD) & set(preload(migrations=False))
    assert "grader.execution.forkserver" in preload(migrations=False)


#: A program whose main script imports a module that notes each process importing it.
MAIN_SCRIPT = """import json
import noted_import
from grader.execution.run import Job
from grader.execution.sandbox import run_job
from grader.execution.warmup import start_forkserver

if __name__ == "__main__":
    start_forkserver(servers=False, migrations=False)
    values = []
    for number in range(3):
        job = Job(exercise_id="warmup", role="submission", purpose="main",
                  module_path={task!r}, entry="run", call="engine",
                  databases={{"main": "sqlite:///{folder}/run-%d.sqlite" % number}},
                  workdir={folder!r})
        record = run_job(job, timeout=60, memory_mb=1536)
        values.append(record.value if record.ok else record.failure.message)
    print(json.dumps(values))
"""

NOTED_IMPORT = """import os
with open({log!r}, "a") as log:
    log.write(f"{{os.getpid()}}\\n")
"""

PID_TASK = """import os

def run(engine):
    return os.getpid()
"""


def test_a_child_does_not_import_again_what_the_main_script_imports(tmp_path: Path) -> None:
    # A forked child runs the main script again (as __mp_main__) before its job: the
    # script's imports are found in the forkserver, not imported in every run.
    log = tmp_path / "imports.log"
    (tmp_path / "noted_import.py").write_text(NOTED_IMPORT.format(log=str(log)), "utf-8")
    task = tmp_path / "task.py"
    task.write_text(PID_TASK, encoding="utf-8")
    script = tmp_path / "program.py"
    script.write_text(MAIN_SCRIPT.format(task=str(task), folder=str(tmp_path)), "utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    children = json.loads(done.stdout.splitlines()[-1])
    assert all(isinstance(pid, int) for pid in children), children
    importers = log.read_text().split()
    # The program itself and its forkserver; none of the three children.
    assert len(importers) == 2, importers
    assert not set(map(str, children)) & set(importers)


def test_the_main_modules_imports_are_found_for_a_script_a_module_and_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "tool"
    script.write_text(
        "import re, sys\nfrom grader.cli import main\nfrom . import nothing\n"
        "if __name__ == '__main__':\n    import json\n",
        encoding="utf-8",
    )
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert main_imports() == ["re", "sys", "grader.cli"]
    main.__spec__ = importlib.machinery.ModuleSpec("grader.cli", None)
    assert main_imports() == ["grader.cli"]
    main.__spec__ = importlib.machinery.ModuleSpec("pytest.__main__", None)
    assert main_imports() == []  # multiprocessing leaves a package's __main__ alone
    del main.__file__
    main.__spec__ = None
    assert main_imports() == []  # python -c, an interactive session


def test_an_early_forkserver_for_sqlite_runs_jobs_without_the_server_drivers(
    tmp_path: Path,
) -> None:
    assert run_after_warmup(tmp_path, servers=False) == []


def test_an_early_forkserver_for_servers_runs_jobs_with_the_drivers_loaded(
    tmp_path: Path,
) -> None:
    drivers = installed_drivers()
    if not drivers:
        pytest.skip("no server driver installed")
    assert run_after_warmup(tmp_path, servers=True) == drivers
