"""migration_zero_downtime and the graded checks it brings: locks taken, default for new rows.

`lock_findings` is judged both ways on recorded statements; `LockRecorder` is
run on real engines (a SQLite file, the PostgreSQL and MariaDB servers) to
show that it numbers transactions as the database runs them; and variants
of a student's revision — right ones written another way, and wrong ones of
each kind the exercise teaches — are graded end to end on every dialect.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from grader.checks.migration import (
    DEFAULT_OK,
    DEFAULT_REFUSED,
    LOCKS_HELD,
    LOCKS_INDEX_CONCURRENT,
    LOCKS_OK,
)
from grader.course.catalog import Catalog
from grader.errors import SpecFieldError
from grader.execution.guard import TAMPERING
from grader.grading.runner import GradeOptions, GradingSession, grade, open_session
from grader.migrations.locks import (
    BIG_TRANSACTION,
    INDEX_NOT_CONCURRENT,
    NOTE_INDEX_MYSQL,
    NOTE_INDEX_SQLITE,
    NOTE_SET_NOT_NULL,
    NOTE_TABLE_COPY,
    UNRECORDED_WRITES,
    LockRecorder,
    RecordedStatement,
    lock_findings,
    target_table,
)
from grader.results import ExerciseResult, Outcome
from tests.recording import check as make_check

EXERCISE = "migration_zero_downtime"
SEED = 21
STARTER_HEAD = "4d1c6a0e2b17"


def fits(template: str, text_: str) -> bool:
    """Whether ``text_`` is ``template`` with its ``{fields}`` filled in."""
    pattern = ".*".join(re.escape(part) for part in re.split(r"\{[^}]*\}", template))
    return re.fullmatch(pattern, text_, re.S) is not None


def statement(index: int, sql: str, rows: int = 0, transaction: int = 1) -> RecordedStatement:
    verb = sql.split(None, 1)[0].upper()
    return RecordedStatement(index, sql, verb, target_table(sql, verb), rows, transaction)


# -- reading the statements -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("UPDATE tasks SET priority_rank=? WHERE tasks.id >= ?", "tasks"),
        ('UPDATE "public"."tasks" SET x = 1', "tasks"),
        ("UPDATE `tasks` SET x = 1", "tasks"),
        ("INSERT INTO _alembic_tmp_tasks (id) SELECT id FROM tasks", "_alembic_tmp_tasks"),
        ("DELETE FROM tasks WHERE id = 1", "tasks"),
        ("CREATE INDEX CONCURRENTLY ix_tasks_priority_rank ON tasks (priority_rank)", "tasks"),
        ("CREATE UNIQUE INDEX ix ON public.tasks (priority_rank)", "tasks"),
        ("ALTER TABLE tasks ALTER COLUMN priority_rank SET NOT NULL", "tasks"),
        ("SELECT min(id) FROM tasks", None),
    ],
)
def test_the_table_a_statement_writes_or_alters(sql: str, table: str | None) -> None:
    assert target_table(sql, sql.split(None, 1)[0].upper()) == table


def test_batches_each_committed_hold_no_long_lock() -> None:
    statements = [
        statement(1, "ALTER TABLE tasks ADD COLUMN priority_rank INTEGER DEFAULT 2 NOT NULL"),
        *(statement(i, "UPDATE tasks SET priority_rank=1", 500, i) for i in range(2, 14)),
        statement(14, "CREATE INDEX CONCURRENTLY ix_tasks_priority_rank ON tasks (x)", 0, 14),
    ]
    reading = lock_findings(statements, "postgresql", "tasks", 1000)
    assert reading.findings == ()
    assert (reading.largest, reading.transactions) == (500, 12)
    assert reading.notes == ()


def test_a_backfill_in_one_transaction_is_a_finding() -> None:
    statements = [statement(i, "UPDATE tasks SET priority_rank=1", 500, 1) for i in range(1, 5)]
    reading = lock_findings(statements, "sqlite", "tasks", 1000)
    (finding,) = reading.findings
    assert finding.rule == "big_transaction"
    assert finding.message == BIG_TRANSACTION.format(
        rows=2000, table="tasks", statement=1, sql="UPDATE tasks SET priority_rank=1"
    )
    assert "autocommit_block" in finding.hint and "1,000" in finding.hint
    # At the limit it is no finding; rows of another table never count.
    assert lock_findings(statements[:2], "sqlite", "tasks", 1000).findings == ()
    other = [statement(1, "UPDATE users SET name='x'", 5000)]
    assert lock_findings(other, "sqlite", "tasks", 1000).findings == ()


def test_a_plain_index_is_a_finding_on_postgresql_only() -> None:
    plain = [statement(1, "CREATE INDEX ix_tasks_priority_rank ON tasks (priority_rank)")]
    (finding,) = lock_findings(plain, "postgresql", "tasks", 1000).findings
    assert finding.rule == "index_not_concurrent"
    assert fits(INDEX_NOT_CONCURRENT, finding.message)
    assert "postgresql_concurrently=True" in finding.hint
    sqlite = lock_findings(plain, "sqlite", "tasks", 1000)
    assert sqlite.findings == () and sqlite.notes == (NOTE_INDEX_SQLITE,)
    mysql = lock_findings(plain, "mysql", "tasks", 1000)
    assert mysql.findings == () and mysql.notes == (NOTE_INDEX_MYSQL,)
    # An index on another table is not the exercise's.
    users = [statement(1, "CREATE INDEX ix_users_email ON users (email)")]
    assert lock_findings(users, "postgresql", "tasks", 1000).findings == ()


def test_rows_changed_beyond_the_recorded_writes_are_a_finding() -> None:
    statements = [statement(1, "UPDATE tasks SET priority_rank=1", 400, 1)]
    (finding,) = lock_findings(statements, "mysql", "tasks", 1000, changed=3000).findings
    assert finding.rule == "unrecorded_writes"
    assert finding.message == UNRECORDED_WRITES.format(changed=3000, table="tasks", recorded=400)
    # Within a batch of what was recorded it is no finding.
    assert lock_findings(statements, "mysql", "tasks", 1000, changed=1400).findings == ()


def test_set_not_null_and_table_copies_are_noted_not_counted() -> None:
    scan = [statement(1, "ALTER TABLE tasks ALTER COLUMN priority_rank SET NOT NULL")]
    reading = lock_findings(scan, "postgresql", "tasks", 1000)
    assert reading.findings == ()
    assert reading.notes == (NOTE_SET_NOT_NULL.format(statement=1, table="tasks"),)
    validated = [
        statement(
            1, "ALTER TABLE tasks ADD CONSTRAINT ck CHECK (priority_rank IS NOT NULL) NOT VALID"
        ),
        statement(2, "ALTER TABLE tasks VALIDATE CONSTRAINT ck"),
        statement(3, "ALTER TABLE tasks ALTER COLUMN priority_rank SET NOT NULL"),
    ]
    assert lock_findings(validated, "postgresql", "tasks", 1000).notes == ()
    copy = [statement(1, "INSERT INTO _alembic_tmp_tasks (id) SELECT tasks.id FROM tasks", 6000)]
    reading = lock_findings(copy, "sqlite", "tasks", 1000)
    assert reading.findings == ()
    assert reading.notes[0] == NOTE_TABLE_COPY.format(statement=1, rows=6000, table="tasks")


def test_a_graded_lock_feedback_needs_its_table() -> None:
    with pytest.raises(SpecFieldError, match="table"):
        make_check("lock_feedback", points=3)
    with pytest.raises(SpecFieldError, match="batch_rows"):
        make_check("lock_feedback", points=3, table="tasks", batch_rows=0)
    assert make_check("lock_feedback", points=0).graded is False
    assert make_check("lock_feedback", points=3, table="tasks").graded is True


# -- recording on real databases ---------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'locks.db'}"
    return request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")


def test_the_recorder_numbers_transactions_as_the_database_runs_them(engine_url: str) -> None:
    engine = create_engine(engine_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS lock_probe"))
            connection.execute(text("CREATE TABLE lock_probe (id INTEGER PRIMARY KEY, n INTEGER)"))
            connection.execute(
                text("INSERT INTO lock_probe (id, n) VALUES (:id, 0)"),
                [{"id": i} for i in range(1, 11)],
            )
        with LockRecorder(engine) as recorder, engine.connect() as connection:
            connection.execute(text("UPDATE lock_probe SET n = 1 WHERE id <= 4"))
            connection.execute(text("UPDATE lock_probe SET n = 1 WHERE id > 4"))
            connection.commit()
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text("UPDATE lock_probe SET n = 2 WHERE id <= 5"))
            connection.execute(text("UPDATE lock_probe SET n = 2 WHERE id > 5"))
            assert recorder.intact()
        updates = [s for s in recorder.statements if s.verb == "UPDATE"]
        assert [s.rows for s in updates] == [4, 6, 5, 5]
        assert updates[0].transaction == updates[1].transaction
        assert len({updates[1].transaction, updates[2].transaction, updates[3].transaction}) == 3
        reading = lock_findings(recorder.statements, engine.dialect.name, "lock_probe", 5)
        assert reading.largest == 10 and len(reading.findings) == 1
        assert not recorder.intact()  # listeners gone once it is closed
    finally:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS lock_probe"))
        engine.dispose()


# -- the exercise graded end to end -------------------------------------------------------

HEADER = '''\
"""rank tasks by priority

Revision ID: 9c0ffee12345
Revises: 4d1c6a0e2b17
Create Date: 2024-09-16 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

revision = "9c0ffee12345"
down_revision = "4d1c6a0e2b17"
branch_labels = None
depends_on = None

tasks = sa.table(
    "tasks",
    sa.column("id", sa.Integer),
    sa.column("priority", sa.String),
    sa.column("priority_rank", sa.Integer),
)
RANK = sa.case(
    {"low": 1, "high": 3, "urgent": 4},
    value=sa.func.lower(sa.func.trim(tasks.c.priority)),
    else_=2,
)


def batches(size=400):
    bounds = sa.select(sa.func.min(tasks.c.id), sa.func.max(tasks.c.id))
    low, high = op.get_bind().execute(bounds).one()
    for start in range(low, high + 1, size):
        op.execute(
            tasks.update()
            .where(tasks.c.id >= start, tasks.c.id < start + size)
            .values(priority_rank=RANK)
        )


def index_concurrently():
    with op.get_context().autocommit_block():
        op.create_index(
            op.f("ix_tasks_priority_rank"), "tasks", ["priority_rank"],
            postgresql_concurrently=True,
        )


def downgrade():
    op.drop_index(op.f("ix_tasks_priority_rank"), table_name="tasks")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("priority_rank")

'''

#: The upgrade() of each variant, by name.
VARIANTS = {
    # Right: NOT NULL with its default at once, batches committed one by one.
    "at_once": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            with op.get_context().autocommit_block():
                batches()
            index_concurrently()
    """,
    # Right: the classic expand/contract — nullable, batches, then NOT NULL.
    "classic": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=True, server_default=sa.text("2")))
            with op.get_context().autocommit_block():
                batches(250)
            with op.batch_alter_table("tasks") as batch_op:
                batch_op.alter_column("priority_rank", existing_type=sa.Integer(),
                                      nullable=False, existing_server_default=sa.text("2"))
            index_concurrently()
    """,
    # Right: only the rows whose rank is not the default are written, in batches.
    "only_changed_rows": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            folded = sa.func.lower(sa.func.trim(tasks.c.priority))
            with op.get_context().autocommit_block():
                bounds = sa.select(sa.func.min(tasks.c.id), sa.func.max(tasks.c.id))
                low, high = op.get_bind().execute(bounds).one()
                for start in range(low, high + 1, 1500):
                    op.execute(
                        tasks.update()
                        .where(tasks.c.id >= start, tasks.c.id < start + 1500)
                        .where(folded.in_(["low", "high", "urgent"]))
                        .values(priority_rank=RANK)
                    )
            index_concurrently()
    """,
    # Wrong: the whole table in one UPDATE.
    "one_update": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            op.execute(tasks.update().values(priority_rank=RANK))
            index_concurrently()
    """,
    # Wrong: batches, but all in the migration's one transaction.
    "batches_uncommitted": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            batches()
            index_concurrently()
    """,
    # Wrong on PostgreSQL: a plain CREATE INDEX.
    "plain_index": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            with op.get_context().autocommit_block():
                batches()
            op.create_index(op.f("ix_tasks_priority_rank"), "tasks", ["priority_rank"])
    """,
    # Wrong: the default dropped once the rows are filled; deployed code is refused.
    "default_dropped": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            with op.get_context().autocommit_block():
                batches()
            with op.batch_alter_table("tasks") as batch_op:
                batch_op.alter_column("priority_rank", existing_type=sa.Integer(),
                                      existing_nullable=False, server_default=None)
            index_concurrently()
    """,
    # Wrong: the priority compared as written, not trimmed and lower-cased.
    "exact_spelling": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            rank = sa.case({"low": 1, "high": 3, "urgent": 4}, value=tasks.c.priority, else_=2)
            with op.get_context().autocommit_block():
                bounds = sa.select(sa.func.min(tasks.c.id), sa.func.max(tasks.c.id))
                low, high = op.get_bind().execute(bounds).one()
                for start in range(low, high + 1, 500):
                    op.execute(tasks.update().where(
                        tasks.c.id >= start, tasks.c.id < start + 500).values(priority_rank=rank))
            index_concurrently()
    """,
    # Hostile: the one UPDATE sent through the driver's own cursor, around SQLAlchemy.
    "raw_cursor": """
        def upgrade():
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            cursor = op.get_bind().connection.dbapi_connection.cursor()
            cursor.execute(
                "UPDATE tasks SET priority_rank = CASE lower(trim(priority)) WHEN 'low' THEN 1 "
                "WHEN 'high' THEN 3 WHEN 'urgent' THEN 4 ELSE 2 END"
            )
            cursor.close()
            index_concurrently()
    """,
    # Hostile: the one UPDATE, with the grader's listeners taken off the engine first.
    "listeners_removed": """
        def upgrade():
            from sqlalchemy import event
            engine = op.get_bind().engine
            for name in ("after_cursor_execute", "begin", "commit"):
                for fn in list(getattr(engine.dispatch, name)):
                    event.remove(engine, name, fn)
            op.add_column("tasks", sa.Column(
                "priority_rank", sa.Integer(), nullable=False, server_default=sa.text("2")))
            op.execute(tasks.update().values(priority_rank=RANK))
            index_concurrently()
    """,
}


def write_variant(catalog: Catalog, root: Path, name: str) -> Path:
    """A submission holding the solution's models and the variant's revision."""
    folder = root / name / EXERCISE
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copyfile(catalog.solutions_dir / EXERCISE / "models.py", folder / "models.py")
    body = HEADER + textwrap.dedent(VARIANTS[name])
    (versions / "9c0ffee12345_rank_tasks_by_priority.py").write_text(body, "utf-8")
    return root / name


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def session(request: pytest.FixtureRequest, catalog: Catalog) -> Iterator[GradingSession]:
    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue(
            "postgres_url" if request.param == "postgresql" else "mysql_url"
        )
    grading = open_session(catalog, GradeOptions(seed=SEED, db_url=url))
    yield grading
    grading.close()


@pytest.fixture(scope="module")
def graded(
    session: GradingSession, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], ExerciseResult]:
    root = tmp_path_factory.mktemp(f"zero-downtime-{session.backend.dialect}")
    done: dict[str, ExerciseResult] = {}

    def grade_variant(name: str) -> ExerciseResult:
        if name not in done:
            submission = write_variant(catalog, root, name)
            (done[name],) = grade(submission, catalog, [EXERCISE], session=session).exercises
        return done[name]

    return grade_variant


def failing(result: ExerciseResult) -> list[str]:
    return [c.name for c in result.checks if not c.passed]


def test_the_reference_solution_earns_full_marks(session: GradingSession, catalog: Catalog) -> None:
    (result,) = grade(catalog.solutions_dir, catalog, [EXERCISE], session=session).exercises
    assert result.score == result.max_score, failing(result)
    locks = result.check("lock_feedback")
    assert fits(LOCKS_OK, locks.message)
    assert locks.message.endswith(LOCKS_INDEX_CONCURRENT) == (
        session.backend.dialect == "postgresql"
    )
    assert result.check("default_for_new_rows").message == DEFAULT_OK.format(
        table="tasks", column="priority_rank", value="2"
    )


@pytest.mark.parametrize("name", ["at_once", "classic", "only_changed_rows"])
def test_right_answers_written_another_way_earn_full_marks(
    graded: Callable[[str], ExerciseResult], session: GradingSession, name: str
) -> None:
    result = graded(name)
    assert result.score == result.max_score, [
        (c.name, c.message) for c in result.checks if not c.passed
    ]
    notes = [e.text for e in result.check("lock_feedback").evidence if e.label == "note"]
    dialect = session.backend.dialect
    if name == "classic" and dialect == "postgresql":
        assert any(fits(NOTE_SET_NOT_NULL, n) for n in notes)
    if name == "classic" and dialect == "sqlite":
        assert any(fits(NOTE_TABLE_COPY, n) for n in notes)


@pytest.mark.parametrize("name", ["one_update", "batches_uncommitted"])
def test_a_backfill_holding_every_row_at_once_loses_the_lock_points(
    graded: Callable[[str], ExerciseResult], name: str
) -> None:
    result = graded(name)
    assert failing(result) == ["lock_feedback"]
    locks = result.check("lock_feedback")
    assert fits(LOCKS_HELD, locks.message)
    assert "written in one transaction" in locks.message
    assert "autocommit_block" in (locks.hint or "")
    assert result.score == result.max_score - locks.max_points


def test_a_plain_index_loses_the_lock_points_on_postgresql_only(
    graded: Callable[[str], ExerciseResult], session: GradingSession
) -> None:
    result = graded("plain_index")
    if session.backend.dialect != "postgresql":
        assert result.score == result.max_score
        return
    assert failing(result) == ["lock_feedback"]
    message = result.check("lock_feedback").message
    assert fits(LOCKS_HELD, message) and "without CONCURRENTLY" in message


def test_a_default_dropped_after_the_backfill_refuses_the_deployed_code(
    graded: Callable[[str], ExerciseResult],
) -> None:
    result = graded("default_dropped")
    assert failing(result) == ["default_for_new_rows"]
    assert fits(DEFAULT_REFUSED, result.check("default_for_new_rows").message)


def test_priorities_compared_as_written_are_backfilled_wrongly(
    graded: Callable[[str], ExerciseResult],
) -> None:
    result = graded("exact_spelling")
    assert failing(result) == ["data_preserved"]
    assert "priority_rank" in result.check("data_preserved").message


def test_rows_written_around_the_recording_lose_the_lock_points(
    graded: Callable[[str], ExerciseResult],
) -> None:
    result = graded("raw_cursor")
    assert failing(result) == ["lock_feedback"]
    locks = result.check("lock_feedback")
    assert "were written around it" in locks.message
    assert fits(UNRECORDED_WRITES, locks.evidence[0].text)


def test_an_upgrade_that_removes_the_listeners_is_tampering(
    graded: Callable[[str], ExerciseResult],
) -> None:
    result = graded("listeners_removed")
    assert result.outcome is Outcome.CRASHED
    assert result.error is not None
    assert fits(TAMPERING, result.error.splitlines()[0])
    assert result.score == 0
