"""Starting the forkserver early: runs work from it, with the preload it was started with."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.execution.warmup import SERVER_PRELOAD, preload

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

start_forkserver(servers={servers})
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
    assert preload() == [*preload(servers=False), *SERVER_PRELOAD]
    assert "grader.execution.forkserver" in preload(servers=False)


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
