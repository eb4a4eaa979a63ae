"""Capture: one record per execution, lazy loads marked, raw cursors counted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, selectinload

from grader.databases import dataset
from grader.domain import Task, User
from grader.execution.capture import INTERNAL_OPTION, capture


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    dataset.build(engine, dataset.SIZES["tiny"], seed=3)
    yield engine
    engine.dispose()


def test_one_record_per_select_with_rows_fetched(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        users = session.scalars(select(User).limit(7)).all()
    log = live.result
    assert log is not None
    assert len(users) == 7
    assert len(log) == 1
    assert log.statements[0].verb == "SELECT"
    assert log.statements[0].rows_fetched == 7
    assert log.statements[0].source == "engine"


def test_lazy_loads_are_marked_with_their_relationship(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        for user in session.scalars(select(User).order_by(User.id).limit(5)):
            list(user.tasks)
    log = live.result
    assert log is not None
    assert len(log) == 6
    assert [s.lazy_load for s in log.lazy_loads] == ["User.tasks"] * 5


def test_selectinload_is_not_a_lazy_load(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        session.scalars(select(User).options(selectinload(User.tasks))).all()
    log = live.result
    assert log is not None
    assert len(log) == 2
    assert log.lazy_loads == ()


def test_insertmanyvalues_batches_count_once_with_row_count(engine: Engine) -> None:
    now = dt.datetime(2024, 1, 1)
    with capture(engine) as live, Session(engine) as session:
        session.add_all(
            User(id=10_000 + i, name="n", email=f"{i}@x", age=30, country="DE", created_at=now)
            for i in range(2_500)
        )
        session.commit()
    log = live.result
    assert log is not None
    inserts = log.of_verb("INSERT")
    assert len(inserts) == 1
    assert inserts[0].rows_in == 2_500
    assert inserts[0].executemany


def test_core_executemany_counts_once(engine: Engine) -> None:
    with capture(engine) as live, engine.begin() as conn:
        conn.execute(
            insert(Task.__table__),
            [
                {
                    "project_id": 1,
                    "title": f"t{i}",
                    "status": "todo",
                    "priority": 1,
                    "estimate_hours": 1,
                    "created_at": dt.datetime(2024, 1, 1),
                }
                for i in range(300)
            ],
        )
    log = live.result
    assert log is not None
    assert len(log.of_verb("INSERT")) == 1
    assert log.of_verb("INSERT")[0].rows_in == 300


def test_raw_driver_cursor_is_counted_through_the_sqlite_trace(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        cursor.execute("SELECT count(*) FROM users WHERE age > 30")
        cursor.fetchall()
    log = live.result
    assert log is not None
    assert log.trace_available
    assert log.driver_only == 1
    driver = [s for s in log.statements if s.source == "driver"]
    assert len(driver) == 1
    assert "count(*) FROM users" in driver[0].sql


def test_transaction_control_is_kept_apart(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        session.execute(text("UPDATE users SET age = age + 1 WHERE id = 1"))
        session.commit()
    log = live.result
    assert log is not None
    assert [s.verb for s in log.statements] == ["UPDATE"]
    assert [c.split()[0] for c in log.transaction_control] == ["BEGIN", "COMMIT"]


def test_internal_statements_are_not_recorded(engine: Engine) -> None:
    with capture(engine) as live:
        with engine.connect().execution_options(**{INTERNAL_OPTION: True}) as internal:
            internal.execute(text("SELECT 1"))
        with engine.connect() as conn:
            conn.execute(text("SELECT 2"))
    log = live.result
    assert log is not None
    assert [s.sql for s in log.statements] == ["SELECT 2"]


def test_listeners_are_removed_after_the_block(engine: Engine) -> None:
    with capture(engine):
        pass
    assert not event.contains(engine, "before_cursor_execute", lambda *a: None)
    assert not engine.dispatch.before_cursor_execute
    assert not engine.dispatch.after_cursor_execute


def test_listeners_are_removed_when_the_block_raises(engine: Engine) -> None:
    with pytest.raises(RuntimeError), capture(engine):
        raise RuntimeError("boom")
    assert not engine.dispatch.before_cursor_execute


def test_removing_the_listeners_is_detected_and_statements_still_seen(engine: Engine) -> None:
    with capture(engine) as live, Session(engine) as session:
        engine.dispatch.before_cursor_execute.clear()
        session.execute(text("SELECT count(*) FROM tasks")).all()
    log = live.result
    assert log is not None
    assert not log.listeners_intact
    # The SQLite trace still saw the statement.
    assert log.driver_only == 1
