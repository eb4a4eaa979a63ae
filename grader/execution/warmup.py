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

import ast
import sys
from pathlib import Path

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

#: What a migration exercise's run imports (Alembic, and through it every dialect's
#: DDL): some 0.25 s of every migration run otherwise.
MIGRATION_PRELOAD = ("grader.migrations.execute",)


def preload(servers: bool = True, migrations: bool = True) -> list[str]:
    """The modules the forkserver imports before it forks any child.

    Args:
        servers: Also the server dialects and drivers (leave them out only when
            every run of the process is known to be on SQLite).
        migrations: Also the migration runner and Alembic (`MIGRATION_PRELOAD`;
            leave them out only when no migration exercise is graded).
    """
    return [
        *PRELOAD,
        *(SERVER_PRELOAD if servers else ()),
        *(MIGRATION_PRELOAD if migrations else ()),
        *main_imports(),
    ]


def main_imports() -> list[str]:
    """What the program's main module imports at its top level, to import in the forkserver.

    A forked child runs the program's main script again (as ``__mp_main__``, so its
    ``if __name__ == "__main__"`` part stays out) before it runs its job; the
    forkserver does not run it for its children (``main_path`` never reaches it),
    so each child would import what the script imports: `grader.cli` under
    `ormgrade`, pytest under `pytest`, about 0.1 s of every run. With those
    modules in the forkserver, the child's second run of the script finds them
    imported. A main module run by name (``python -m NAME``) is run again by
    name: NAME itself is preloaded then. Nothing when the main module has no
    source to read (``python -c``, an interactive session).
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    if name:
        # multiprocessing leaves a package's __main__ alone.
        return [] if name == "__main__" or name.endswith(".__main__") else [name]
    path = getattr(main, "__file__", None)
    if not path:
        return []
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return [n for n in dict.fromkeys(names) if n not in PRELOAD]


def start_forkserver(servers: bool = True, migrations: bool = True) -> None:
    """Start the forkserver now, if this platform forks from one; return without waiting.

    The server imports its preload while the caller goes on; the first run
    waits only for what is left of it. A forkserver already running is kept
    as it is (with what it preloaded).

    Args:
        servers: See `preload`.
        migrations: See `preload`.
    """
    if current().start_method != "forkserver":
        return
    # Imported here: a platform without forkserver may lack what the module needs.
    import multiprocessing.forkserver

    short_socket_dir()
    multiprocessing.forkserver.set_forkserver_preload(preload(servers, migrations))
    multiprocessing.forkserver.ensure_running()
