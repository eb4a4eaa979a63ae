"""What an upgrade locks on a live table: its statements recorded, then read for long locks.

On a production table a migration competes with the application's own
writes. Two things make it hold a lock long enough to be an outage: a
transaction that writes a great many rows (every written row stays locked
until the commit, and on SQLite the whole database is), and on PostgreSQL an
index built without ``CONCURRENTLY`` (a SHARE lock on the table: no write
gets through while the index builds).

`LockRecorder` listens to the engine while ``upgrade head`` runs and keeps
each statement with the rows it wrote and the transaction it ran in (a
statement in an autocommit block is a transaction of its own; on MySQL and
MariaDB a DDL statement commits implicitly). `lock_findings` reads that
record for one table; the graded ``lock_feedback`` check of
`grader.checks.migration` turns the findings into its verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

#: Statements that write rows, by their first keyword.
WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"})
#: Statements after which MySQL and MariaDB commit on their own.
IMPLICIT_COMMIT_VERBS = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"})
#: The prefix of the copy Alembic's batch mode makes of a table it recreates (SQLite).
BATCH_COPY_PREFIX = "_alembic_tmp_"

_NAME = r"(?:[`\"\[]?\w+[`\"\]]?\.)?[`\"\[]?(\w+)[`\"\]]?"
_TARGET = {
    "UPDATE": re.compile(rf"^\s*UPDATE\s+(?:ONLY\s+|LOW_PRIORITY\s+|IGNORE\s+)*{_NAME}", re.I),
    "INSERT": re.compile(rf"^\s*INSERT\s+(?:IGNORE\s+)?INTO\s+{_NAME}", re.I),
    "REPLACE": re.compile(rf"^\s*REPLACE\s+INTO\s+{_NAME}", re.I),
    "DELETE": re.compile(rf"^\s*DELETE\s+FROM\s+(?:ONLY\s+)?{_NAME}", re.I),
    "MERGE": re.compile(rf"^\s*MERGE\s+INTO\s+{_NAME}", re.I),
}
_CREATE_INDEX = re.compile(
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_NAME}\s+)?ON\s+(?:ONLY\s+)?{_NAME}",
    re.I,
)
_ALTER_TABLE = re.compile(rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}", re.I)
_SET_NOT_NULL = re.compile(r"\bSET\s+NOT\s+NULL\b", re.I)
_VALIDATE = re.compile(r"\bVALIDATE\s+CONSTRAINT\b", re.I)

# -- what is said of each finding ---------------------------------------------------
#: Too many rows of the table written in one transaction.
BIG_TRANSACTION = (
    "{rows} rows of {table} written in one transaction (statement {statement}: {sql}): "
    "every one of them stays locked until the commit"
)
BIG_TRANSACTION_HINT = (
    "Backfill in batches of at most {limit} rows, each its own transaction: loop over ranges "
    "of the primary key inside `with op.get_context().autocommit_block():`, one UPDATE a range "
    "(an UPDATE of the whole table, or batches without a commit between them, lock every row "
    "at once)."
)
#: A plain CREATE INDEX on PostgreSQL.
INDEX_NOT_CONCURRENT = (
    "the index is built without CONCURRENTLY (statement {statement}: {sql}): PostgreSQL "
    "blocks every write to {table} until it is built"
)
INDEX_NOT_CONCURRENT_HINT = (
    "On PostgreSQL build it with op.create_index(..., postgresql_concurrently=True) inside "
    "`with op.get_context().autocommit_block():` (CREATE INDEX CONCURRENTLY cannot run in a "
    "transaction); the option is ignored by the other databases."
)
#: Rows changed that no recorded statement wrote.
UNRECORDED_WRITES = (
    "{changed} rows of {table} changed during the upgrade, but the statements it ran through "
    "its connection wrote {recorded}: the rest were written around it (a raw driver cursor, "
    "a connection of its own), where their locks cannot be told"
)
UNRECORDED_WRITES_HINT = (
    "Write through the migration's own connection: op.execute(...) or "
    "op.get_bind().execute(...), so that every batch is seen."
)
# -- notes: what the grade does not count, said all the same --------------------------
NOTE_SET_NOT_NULL = (
    "SET NOT NULL (statement {statement}) reads every row of {table} under an ACCESS "
    "EXCLUSIVE lock (no reads, no writes) unless a validated CHECK (… IS NOT NULL) constraint "
    "proves it first; a NOT NULL column added with a constant default needs no such scan"
)
NOTE_TABLE_COPY = (
    "statement {statement} copies all {rows} rows of {table} into a new table in one "
    "transaction (SQLite's batch mode recreates a table to change a column)"
)
NOTE_INDEX_SQLITE = "SQLite has no concurrent index build: the index is not judged here"
NOTE_INDEX_MYSQL = "InnoDB builds a secondary index online: the index is not judged here"


@dataclass(frozen=True)
class RecordedStatement:
    """One statement of the upgrade, with what it wrote and where it committed.

    Attributes:
        index: Position in the upgrade, from 1.
        sql: The statement as sent (placeholders kept).
        verb: Its first keyword, upper-case.
        table: The table it writes to or alters, when it names one.
        rows: Rows it wrote (0 for a statement that writes none).
        transaction: The transaction it ran in; statements of one transaction
            share the number.
    """

    index: int
    sql: str
    verb: str
    table: str | None
    rows: int
    transaction: int

    def short(self, limit: int = 90) -> str:
        """The statement on one line, cut at ``limit`` characters."""
        line = " ".join(self.sql.split())
        return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class LockFinding:
    """A long lock the upgrade takes, with what would avoid it.

    Attributes:
        rule: ``big_transaction`` or ``index_not_concurrent``.
        message: What happens, naming the statement.
        hint: What to write instead.
    """

    rule: str
    message: str
    hint: str


@dataclass(frozen=True)
class LockReading:
    """The upgrade's statements read for one table.

    Attributes:
        findings: The long locks it takes (what the grade counts).
        notes: What else it locks that the grade does not count.
        largest: The most rows of the table written in one transaction.
        transactions: Transactions that wrote rows of the table.
    """

    findings: tuple[LockFinding, ...]
    notes: tuple[str, ...]
    largest: int
    transactions: int


def statement_verb(sql: str) -> str:
    """The first keyword of ``sql``, upper-case."""
    head = sql.lstrip(" (\n\t").split(None, 1)
    return head[0].upper() if head else ""


def target_table(sql: str, verb: str) -> str | None:
    """The table a write or an ALTER TABLE names, without schema or quotes."""
    if verb == "ALTER":
        found = _ALTER_TABLE.match(sql)
    elif verb == "CREATE":
        index = _CREATE_INDEX.match(sql)
        return index.group(3) if index else None
    else:
        pattern = _TARGET.get(verb)
        found = pattern.match(sql) if pattern else None
    return found.group(1) if found else None


class LockRecorder:
    """Keeps the statements an engine runs, with rows written and transaction, while listening.

    A transaction starts at each BEGIN (SQLAlchemy's, autobegun or not) and
    ends at its COMMIT or ROLLBACK; a statement run in AUTOCOMMIT isolation
    (Alembic's ``autocommit_block``) is a transaction by itself, and on MySQL
    and MariaDB a DDL statement ends the transaction before it and is one of
    its own.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[RecordedStatement] = []
        self._transaction = 0
        self._open = False
        self._implicit_commits = engine.dialect.name in ("mysql", "mariadb")

    def __enter__(self) -> LockRecorder:
        event.listen(self.engine, "begin", self._begin)
        event.listen(self.engine, "commit", self._end)
        event.listen(self.engine, "rollback", self._end)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._listeners():
            if event.contains(self.engine, name, fn):
                event.remove(self.engine, name, fn)

    def _listeners(self) -> tuple[tuple[str, Any], ...]:
        return (
            ("begin", self._begin),
            ("commit", self._end),
            ("rollback", self._end),
            ("after_cursor_execute", self._after),
        )

    def intact(self) -> bool:
        """Whether every listener is still in place (recorded code may have removed one)."""
        return all(event.contains(self.engine, name, fn) for name, fn in self._listeners())

    def _begin(self, connection: Connection) -> None:
        self._transaction += 1
        self._open = True

    def _end(self, connection: Connection) -> None:
        self._open = False

    def _after(
        self,
        connection: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        verb = statement_verb(statement)
        autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        implicit = self._implicit_commits and verb in IMPLICIT_COMMIT_VERBS
        if autocommit or implicit or not self._open:
            self._transaction += 1
            # The statements after an implicit commit, or after an autocommit
            # one, are in a transaction of their own until the next BEGIN.
            self._open = not (autocommit or implicit)
        rows = 0
        if verb in WRITE_VERBS:
            count = getattr(cursor, "rowcount", -1)
            rows = count if isinstance(count, int) and count > 0 else 0
        self.statements.append(
            RecordedStatement(
                index=len(self.statements) + 1,
                sql=statement.strip(),
                verb=verb,
                table=target_table(statement, verb),
                rows=rows,
                transaction=self._transaction,
            )
        )


def _same(name: str | None, table: str) -> bool:
    return name is not None and name.lower() == table.lower()


def lock_findings(
    statements: Sequence[RecordedStatement],
    dialect: str,
    table: str,
    batch_rows: int,
    changed: int = 0,
) -> LockReading:
    """Read the upgrade's ``statements`` for long locks on ``table``.

    Graded: a transaction writing more than ``batch_rows`` rows of the table;
    on PostgreSQL, an index on the table built without ``CONCURRENTLY``; and
    rows written where the recording cannot see them: when ``changed`` (rows
    of the table the data shows were written) is more than the rows the
    recorded statements wrote, and the difference is more than a batch.
    Noted only: SET NOT NULL without a validated constraint on PostgreSQL,
    and a batch-mode table copy on SQLite.
    """
    written: dict[int, int] = {}
    first: dict[int, RecordedStatement] = {}
    for statement in statements:
        if statement.verb in WRITE_VERBS and _same(statement.table, table) and statement.rows:
            written[statement.transaction] = written.get(statement.transaction, 0) + statement.rows
            first.setdefault(statement.transaction, statement)
    findings: list[LockFinding] = []
    largest = max(written.values(), default=0)
    if largest > batch_rows:
        transaction = next(t for t, rows in written.items() if rows == largest)
        culprit = first[transaction]
        findings.append(
            LockFinding(
                "big_transaction",
                BIG_TRANSACTION.format(
                    rows=largest, table=table, statement=culprit.index, sql=culprit.short()
                ),
                BIG_TRANSACTION_HINT.format(limit=f"{batch_rows:,}"),
            )
        )
    recorded = sum(written.values())
    if changed - recorded > batch_rows:
        findings.append(
            LockFinding(
                "unrecorded_writes",
                UNRECORDED_WRITES.format(changed=changed, table=table, recorded=recorded),
                UNRECORDED_WRITES_HINT,
            )
        )
    notes: list[str] = []
    validated = False
    for statement in statements:
        if statement.verb == "CREATE" and _same(statement.table, table):
            index = _CREATE_INDEX.match(statement.sql)
            if dialect == "postgresql" and index and not index.group(1):
                findings.append(
                    LockFinding(
                        "index_not_concurrent",
                        INDEX_NOT_CONCURRENT.format(
                            statement=statement.index, sql=statement.short(), table=table
                        ),
                        INDEX_NOT_CONCURRENT_HINT,
                    )
                )
        if statement.verb == "ALTER" and _same(statement.table, table):
            if _VALIDATE.search(statement.sql):
                validated = True
            elif dialect == "postgresql" and _SET_NOT_NULL.search(statement.sql) and not validated:
                notes.append(NOTE_SET_NOT_NULL.format(statement=statement.index, table=table))
        if (
            statement.verb == "INSERT"
            and statement.table is not None
            and statement.table.lower() == (BATCH_COPY_PREFIX + table).lower()
        ):
            notes.append(
                NOTE_TABLE_COPY.format(statement=statement.index, rows=statement.rows, table=table)
            )
    if dialect == "sqlite":
        notes.append(NOTE_INDEX_SQLITE)
    elif dialect in ("mysql", "mariadb"):
        notes.append(NOTE_INDEX_MYSQL)
    return LockReading(tuple(findings), tuple(notes), largest, len(written))


def describe(statements: Iterable[RecordedStatement]) -> str:
    """The upgrade's statements, one a line: transaction, rows written, SQL."""
    lines = []
    for statement in statements:
        rows = f", {statement.rows} rows" if statement.rows else ""
        lines.append(
            f"{statement.index}. [transaction {statement.transaction}{rows}] {statement.short()}"
        )
    return "\n".join(lines)
