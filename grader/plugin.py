"""The ``pytest11`` entry point: re-exports the hooks of `grader.pytest_plugin`.

The plugin does nothing until switched on with ``--ormgrade`` or the
``ormgrade = true`` ini key (see `grader.pytest_plugin`).
"""

from grader.pytest_plugin import (
    pytest_addoption,
    pytest_collect_file,
    pytest_configure,
    pytest_report_header,
    pytest_sessionfinish,
    pytest_unconfigure,
)

__all__ = [
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
    "pytest_report_header",
    "pytest_sessionfinish",
    "pytest_unconfigure",
]
