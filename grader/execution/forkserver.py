"""What the forkserver loads once, before it forks the children that run jobs.

`grader.execution.sandbox` starts its forkserver with this module preloaded (and the
server drivers of `grader.execution.warmup.SERVER_PRELOAD`, unless every run of the
process is known to be on SQLite). Importing it imports the child's code (and the
sandbox's, which each child starts in), the shared domain and the SQLite dialect,
and configures the domain's mappers, so that no child pays for any of it.
"""

from __future__ import annotations

from sqlalchemy.dialects import sqlite as _sqlite  # noqa: F401  imported for its side effect
from sqlalchemy.orm import configure_mappers

from grader import domain as _domain  # noqa: F401
from grader.execution import child as _child  # noqa: F401
from grader.execution import sandbox as _sandbox  # noqa: F401

configure_mappers()
