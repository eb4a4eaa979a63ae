"""What the forkserver loads once, before it forks the children that run jobs.

`grader.execution.sandbox` starts its forkserver with this module preloaded. Importing
it imports the child's code (and the sandbox's, which each child starts
in), the shared domain and the SQLite dialect, and configures the domain's
mappers, so that no child pays for any of it.
"""

from __future__ import annotations

import importlib
from contextlib import suppress

from sqlalchemy.dialects import sqlite as _sqlite  # noqa: F401  imported for its side effect
from sqlalchemy.orm import configure_mappers

from grader import domain as _domain  # noqa: F401
from grader.execution import child as _child  # noqa: F401
from grader.execution import sandbox as _sandbox  # noqa: F401

configure_mappers()

# The server dialects and their drivers, where installed: a child grading on
# PostgreSQL would otherwise spend some 0.2 s of every run importing psycopg.
for _module in (
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "sqlalchemy.dialects.mysql.pymysql",
    "pymysql",
    # The async drivers, for async exercises.
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
    "sqlalchemy.dialects.mysql.aiomysql",
    "aiomysql",
):
    with suppress(ImportError):
        importlib.import_module(_module)
