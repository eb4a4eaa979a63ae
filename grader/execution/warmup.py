"""Starting the forkserver early: what it preloads, and a start that does not wait for it.

Runs are forked from a forkserver (see `grader.execution.sandbox`), a fresh
interpreter that first imports SQLAlchemy and the grader's child code, about a
second of CPU. A command that knows it will run exercises starts it first
thing with `start_forkserver`, so that this import runs on the other core while
the command imports the engine and prepares its templates, instead of after
them. The module imports nothing of the grader's but the platform layer, so
calling it costs no SQLAlchemy import, and nothing POSIX-only at import time.
"""

from __future__ import annotations

from grader.execution.platform import current, short_socket_dir

#: Imported once in the forkserver (see `grader.execution.forkserver`), not in every child.
PRELOAD = (
    "grader.execution.forkserver",
    # The async SQLite driver, for async exercises (graded on SQLite by default).
    "sqlalchemy.dialects.sqlite.aiosqlite",
    "aiosqlite",
)
#: The server dialects and their drivers, where installed (multiprocessing skips those
#: that are not): a child grading on PostgreSQL would otherwise spend some 0.2 s of
#: every run importing psycopg.
SERVER_PRELOAD = (
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
    "sqlalchemy.dialects.mysql.pymysql",
    "pymysql",
    "sqlalchemy.dialects.mysql.aiomysql",
    "aiomysql",
)


def preload(servers: bool = True) -> list[str]:
    """The modules the forkserver imports before it forks any child.

    Args:
        servers: Also the server dialects and drivers (leave them out only when
            every run of the process is known to be on SQLite).
    """
    return [*PRELOAD, *(SERVER_PRELOAD if servers else ())]


def start_forkserver(servers: bool = True) -> None:
    """Start the forkserver now, if this platform forks from one; return without waiting.

    The server imports its preload while the caller goes on; the first run
    waits only for what is left of it. A forkserver already running is kept
    as it is (with what it preloaded).

    Args:
        servers: See `preload`.
    """
    if current().start_method != "forkserver":
        return
    # Imported here: a platform without forkserver may lack what the module needs.
    import multiprocessing.forkserver

    short_socket_dir()
    multiprocessing.forkserver.set_forkserver_preload(preload(servers))
    multiprocessing.forkserver.ensure_running()
