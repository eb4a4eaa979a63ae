"""How long the application's writes wait while a migration backfills a large table.

The teaching evidence of migration_zero_downtime: a table of tasks is filled,
a new column is added, and the backfill runs while a second connection —
the application — updates one task every few milliseconds, as the code
already deployed does. Printed per way of backfilling: the backfill's wall
time and the longest one application write waited. On PostgreSQL the index
build is measured the same way (plain CREATE INDEX against CONCURRENTLY).

    python bench/locks.py                    # a SQLite file
    python bench/locks.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/locks.py --rows 50000       # smaller (default 200,000)

``bench/run.py --teaching migration_zero_downtime`` runs it on every --db given.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

#: Rows a backfill batch covers, as the exercise's reference solution.
BATCH = 500
#: Seconds between two application writes.
WRITE_EVERY = 0.005
#: The rank rule of the exercise, in SQL every dialect runs.
RANK = (
    "CASE lower(trim(priority)) WHEN 'low' THEN 1 WHEN 'high' THEN 3 "
    "WHEN 'urgent' THEN 4 ELSE 2 END"
)


def fill(engine: Engine, rows: int) -> None:
    """A tasks table of ``rows`` rows with the new column already added (its default 2)."""
    priorities = ("low", "medium", " High", "urgent", None)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bench_tasks"))
        connection.execute(
            text(
                "CREATE TABLE bench_tasks (id INTEGER PRIMARY KEY, title VARCHAR(200), "
                "priority VARCHAR(10), priority_rank INTEGER DEFAULT 2 NOT NULL)"
            )
        )
        for start in range(1, rows + 1, 10_000):
            connection.execute(
                text("INSERT INTO bench_tasks (id, title, priority) VALUES (:id, :t, :p)"),
                [
                    {"id": i, "t": f"task {i}", "p": priorities[i % len(priorities)]}
                    for i in range(start, min(start + 10_000, rows + 1))
                ],
            )


def one_update(connection: Connection, rows: int) -> None:
    connection.execute(text(f"UPDATE bench_tasks SET priority_rank = {RANK}"))
    connection.commit()


def batches(connection: Connection, rows: int) -> None:
    connection.execution_options(isolation_level="AUTOCOMMIT")
    for start in range(1, rows + 1, BATCH):
        connection.execute(
            text(f"UPDATE bench_tasks SET priority_rank = {RANK} WHERE id >= :start AND id < :end"),
            {"start": start, "end": start + BATCH},
        )


def plain_index(connection: Connection, rows: int) -> None:
    connection.execute(text("CREATE INDEX ix_bench_rank ON bench_tasks (priority_rank)"))
    connection.commit()


def concurrent_index(connection: Connection, rows: int) -> None:
    connection.execution_options(isolation_level="AUTOCOMMIT")
    connection.execute(
        text("CREATE INDEX CONCURRENTLY ix_bench_rank ON bench_tasks (priority_rank)")
    )


def measure(
    engine: Engine, migrate: Callable[[Connection, int], None], rows: int
) -> tuple[float, float]:
    """Run ``migrate`` while the application writes: (its seconds, longest write wait)."""
    waits: list[float] = []
    done = threading.Event()
    started = threading.Event()

    def application() -> None:
        with engine.connect() as connection:
            started.wait()
            while not done.is_set():
                began = time.perf_counter()
                # A task the backfill reaches first: locked from its first batch on.
                connection.execute(text("UPDATE bench_tasks SET title = title WHERE id = 2"))
                connection.commit()
                waits.append(time.perf_counter() - began)
                time.sleep(WRITE_EVERY)

    writer = threading.Thread(target=application)
    writer.start()
    with engine.connect() as connection:
        began = time.perf_counter()
        started.set()
        migrate(connection, rows)
        seconds = time.perf_counter() - began
    done.set()
    writer.join()
    return seconds, max(waits, default=0.0)


def evidence(url: str | None, rows: int) -> list[list[str]]:
    """One row per way of migrating: dialect, what, seconds, longest wait."""
    with tempfile.TemporaryDirectory() as folder:
        target = url or f"sqlite:///{Path(folder) / 'locks.db'}"
        options = {"connect_args": {"timeout": 60}} if target.startswith("sqlite") else {}
        engine = create_engine(target, **options)
        try:
            ways: list[tuple[str, Callable[[Connection, int], None]]] = [
                ("backfill, one UPDATE", one_update),
                (f"backfill, batches of {BATCH} (autocommit)", batches),
            ]
            if engine.dialect.name == "postgresql":
                ways += [
                    ("CREATE INDEX", plain_index),
                    ("CREATE INDEX CONCURRENTLY", concurrent_index),
                ]
            found = []
            for label, migrate in ways:
                fill(engine, rows)
                seconds, wait = measure(engine, migrate, rows)
                found.append([engine.dialect.name, label, f"{seconds:.2f}", f"{wait * 1000:.0f}"])
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE IF EXISTS bench_tasks"))
            return found
        finally:
            engine.dispose()


def table(rows: list[list[str]]) -> str:
    header = ["database", "migration step", "seconds", "longest application write (ms)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", default=[], help="a server URL (repeatable)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the table")
    parser.add_argument("--no-sqlite", action="store_true", help="only the --db servers")
    args = parser.parse_args()
    urls: list[str | None] = ([] if args.no_sqlite else [None]) + list(args.db)
    found = []
    for url in urls:
        found += evidence(url, args.rows)
    print(f"Application writes during a migration of {args.rows:,} rows (one run):\n")
    print(table(found))


if __name__ == "__main__":
    main()
