"""Files the package finds beside its own modules are where the stage packages put them.

Regression tests for the move into stage packages: a module that finds a file by its
own ``__file__`` looked one folder too deep once it sat in a sub-package (the catalog of
an editable install: tests/test_oracle.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import grader
from grader.authoring import release
from grader.classbook import dashboard
from grader.execution import child
from grader.execution.audit import default_trusted_roots
from grader.execution.run import Job

PACKAGE = Path(grader.__file__).resolve().parent


def test_release_and_dashboard_templates_are_found() -> None:
    assert (release._TEMPLATES / "release" / "README.md.j2").is_file()
    assert (dashboard.TEMPLATE_DIR / "dashboard.html.j2").is_file()


def test_the_whole_grader_package_is_trusted_by_the_audit_hook() -> None:
    assert str(PACKAGE) + os.sep in default_trusted_roots()


def test_tracebacks_leave_out_the_whole_grader_package(tmp_path: Path) -> None:
    assert child.GRADER_DIR.resolve() == PACKAGE
    job = Job(
        exercise_id="x",
        role="submission",
        purpose="main",
        module_path=str(tmp_path / "task.py"),
        entry="run",
        call="session",
        databases={},
    )
    assert str(child.GRADER_DIR.parent) in child._path_roots(job)
