"""Every query check, both ways, on real recordings against real SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, joinedload, selectinload

from grader.checks.base import NOT_JUDGED, judge_all
from grader.checks.query import (
    CLAUSE_FORBIDDEN,
    CLAUSE_MISSING,
    CLAUSE_OK,
    CONSTANT_QUERIES,
    FULL_SCAN,
    GROWING_QUERIES,
    NO_READ,
    PROJECTION_EXTRA,
    PROJECTION_OK,
    QUERIES_OK,
    TOO_MANY_QUERIES,
    WRONG_RESULT,
    WRONG_STATE,
    describe_difference,
)
from grader.domain import Task, User
from grader.errors import SpecError
from grader.execution.run import RunRecord
from tests.recording import check, evaluation, plans_of, record, seeded_engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = seeded_engine(tmp_path_factory.mktemp("db") / "tiny.sqlite")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def bigger(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = seeded_engine(tmp_path_factory.mktemp("db") / "small.sqlite", size="small")
    yield engine
    engine.dispose()


def youngest_python(session: Session) -> list[tuple[int, str]]:
    users = session.scalars(select(User)).all()
    keep = sorted((u for u in users if u.country == "DE"), key=lambda u: (u.age, u.id))
    return [(u.id, u.name) for u in keep[:5]]


def youngest_sql(session: Session) -> list[tuple[int, str]]:
    stmt = (
        select(User.id, User.name).where(User.country == "DE").order_by(User.age, User.id).limit(5)
    )
    return [tuple(r) for r in session.execute(stmt)]


def titles_lazy(session: Session) -> list[list[str]]:
    users = session.scalars(select(User).order_by(User.id)).all()
    return [sorted(t.title for t in u.tasks) for u in users]


def titles_eager(session: Session) -> list[list[str]]:
    users = session.scalars(select(User).order_by(User.id).options(selectinload(User.tasks))).all()
    return [sorted(t.title for t in u.tasks) for u in users]


# -- correct_result -------------------------------------------------------------


def test_correct_result_passes_for_an_equal_answer(engine: Engine) -> None:
    oracle = record(engine, youngest_python, "oracle")
    main = record(engine, youngest_sql)
    verdict = check("correct_result").judge(evaluation(oracle, main))
    assert verdict.passed
    assert "seed 5" in verdict.message


def test_correct_result_fails_for_a_different_answer_and_says_where(engine: Engine) -> None:
    oracle = record(engine, youngest_python, "oracle")
    main = record(engine, lambda s: youngest_sql(s)[:-1])
    n = len(oracle.value)
    assert n >= 2
    verdict = check("correct_result").judge(evaluation(oracle, main))
    assert not verdict.passed
    assert verdict.message == WRONG_RESULT.format(difference=f"expected {n} items, got {n - 1}")
    assert [e.label for e in verdict.evidence] == ["expected (starter)", "returned"]


def test_correct_result_unordered_ignores_order(engine: Engine) -> None:
    oracle = record(engine, youngest_python, "oracle")
    main = record(engine, lambda s: list(reversed(youngest_sql(s))))
    assert not check("correct_result").judge(evaluation(oracle, main)).passed
    assert check("correct_result").judge(evaluation(oracle, main, ordered=False)).passed


def test_correct_result_compares_the_database_state_after_the_call(engine: Engine) -> None:
    oracle = RunRecord("oracle", "main", value=1, snapshot=[1, 2, 3])
    main = RunRecord("submission", "main", value=1, snapshot=[1, 2])
    verdict = check("correct_result").judge(evaluation(oracle, main))
    assert not verdict.passed
    assert verdict.message == WRONG_STATE.format(difference="expected 3 items, got 2")


def test_a_failed_gate_leaves_every_other_check_unjudged(engine: Engine) -> None:
    oracle = record(engine, youngest_python, "oracle")
    main = record(engine, lambda s: [])
    checks = [check("correct_result", 4), check("max_queries", 2, max=1)]
    results = judge_all(checks, evaluation(oracle, main))
    assert [r.points for r in results] == [0, 0]
    assert results[1].message == NOT_JUDGED


def test_describe_difference_names_the_first_differing_item() -> None:
    assert describe_difference([1, 2, 3], [1, 5, 3]) == "item 1 differs: expected 2, got 5"
    assert describe_difference({"a": 1}, {"b": 1}).startswith("keys differ")
    assert describe_difference(3, "3").startswith("expected a int, got a str")


# -- max_queries ------------------------------------------------------------------


def test_max_queries_passes_within_the_bound(engine: Engine) -> None:
    main = record(engine, titles_eager)
    verdict = check("max_queries", max=2).judge(evaluation(main, main))
    assert verdict.passed
    assert verdict.message == QUERIES_OK.format(observed=2, bound=2)


def test_max_queries_fails_with_the_repeated_statement_as_evidence(engine: Engine) -> None:
    main = record(engine, titles_lazy)
    users = 40  # the tiny dataset
    verdict = check("max_queries", max=2).judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == TOO_MANY_QUERIES.format(observed=users + 1, bound=2)
    top = verdict.evidence[0]
    assert top.label == f"statement ×{users} (lazy load of User.tasks)"
    assert "FROM tasks" in top.text


def test_max_queries_can_count_one_verb(engine: Engine) -> None:
    def write(session: Session) -> int:
        session.execute(text("UPDATE users SET age = age WHERE id = 1"))
        session.execute(text("SELECT 1"))
        session.rollback()
        return 0

    main = record(engine, write)
    assert check("max_queries", max=1, verbs=["UPDATE"]).judge(evaluation(main, main)).passed
    assert not check("max_queries", max=0, verbs=["UPDATE"]).judge(evaluation(main, main)).passed


# -- no_n_plus_one ----------------------------------------------------------------


def test_no_n_plus_one_passes_when_the_count_stays_constant(engine: Engine, bigger: Engine) -> None:
    small, large = record(engine, titles_eager), record(bigger, titles_eager)
    ev = evaluation(small, small, scaled=large, dataset="tiny", scaled_dataset="small")
    verdict = check("no_n_plus_one").judge(ev)
    assert verdict.passed
    assert verdict.message == CONSTANT_QUERIES.format(
        small="2 queries", large="2 queries", small_size="size tiny", large_size="size small"
    )


def test_no_n_plus_one_fails_when_the_count_grows(engine: Engine, bigger: Engine) -> None:
    small, large = record(engine, titles_lazy), record(bigger, titles_lazy)
    ev = evaluation(small, small, scaled=large, dataset="tiny", scaled_dataset="small")
    verdict = check("no_n_plus_one").judge(ev)
    assert not verdict.passed
    assert verdict.message == GROWING_QUERIES.format(
        small="41 queries", large="301 queries", small_size="size tiny", large_size="size small"
    )
    assert "lazy load of User.tasks" in verdict.evidence[0].label


def test_no_n_plus_one_accepts_joinedload(engine: Engine, bigger: Engine) -> None:
    def joined(session: Session) -> list[list[str]]:
        users = session.scalars(select(User).options(joinedload(User.tasks))).unique().all()
        return [sorted(t.title for t in u.tasks) for u in users]

    small, large = record(engine, joined), record(bigger, joined)
    ev = evaluation(small, small, scaled=large, dataset="tiny", scaled_dataset="small")
    verdict = check("no_n_plus_one").judge(ev)
    assert verdict.passed
    # One statement at each size: "1 query", never "1 queries".
    assert verdict.message == CONSTANT_QUERIES.format(
        small="1 query", large="1 query", small_size="size tiny", large_size="size small"
    )
    assert "1 queries" not in verdict.message


# -- clause -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "label"), [("where", "WHERE"), ("limit", "LIMIT"), ("order_by", "ORDER BY")]
)
def test_clause_passes_when_the_database_does_the_work(
    engine: Engine, clause: str, label: str
) -> None:
    main = record(engine, youngest_sql)
    verdict = check("clause", clause=clause, table="users").judge(evaluation(main, main))
    assert verdict.passed
    assert verdict.message == CLAUSE_OK.format(clause=label, table="users")


@pytest.mark.parametrize(
    ("clause", "label"), [("where", "WHERE"), ("limit", "LIMIT"), ("order_by", "ORDER BY")]
)
def test_clause_fails_when_python_does_the_work(engine: Engine, clause: str, label: str) -> None:
    main = record(engine, youngest_python)
    verdict = check("clause", clause=clause, table="users").judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == CLAUSE_MISSING.format(clause=label, table="users", reads=1)
    assert "FROM users" in verdict.evidence[0].text


def test_clause_limit_alone_is_not_an_offset_on_sqlite(engine: Engine) -> None:
    main = record(engine, youngest_sql)  # rendered LIMIT ? OFFSET ? with offset 0
    assert (
        check("clause", clause="offset", table="users", present=False)
        .judge(evaluation(main, main))
        .passed
    )
    assert not check("clause", clause="offset", table="users").judge(evaluation(main, main)).passed


def test_clause_forbidden_offset_fails_when_used(engine: Engine) -> None:
    main = record(
        engine, lambda s: s.scalars(select(User.id).order_by(User.id).limit(5).offset(10)).all()
    )
    verdict = check("clause", clause="offset", table="users", present=False).judge(
        evaluation(main, main)
    )
    assert not verdict.passed
    assert verdict.message == CLAUSE_FORBIDDEN.format(count=1, table="users", clause="OFFSET")


def test_clause_join_kind(engine: Engine) -> None:
    def counts(session: Session) -> list[tuple[int, int]]:
        stmt = (
            select(User.id, func.count(Task.id))
            .outerjoin(Task, Task.assignee_id == User.id)
            .group_by(User.id)
            .order_by(User.id)
        )
        return [tuple(r) for r in session.execute(stmt)]

    main = record(engine, counts)
    ev = evaluation(main, main)
    assert check("clause", clause="join", table="tasks", join_kind="LEFT OUTER").judge(ev).passed
    assert check("clause", clause="group_by", table="users").judge(ev).passed
    inner = check("clause", clause="join", table="tasks", join_kind="INNER").judge(ev)
    assert not inner.passed
    assert inner.message == CLAUSE_MISSING.format(clause="INNER JOIN", table="tasks", reads=1)


def test_clause_fails_when_the_table_is_never_read(engine: Engine) -> None:
    main = record(engine, youngest_sql)
    verdict = check("clause", clause="where", table="comments").judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == NO_READ.format(table="comments")


def test_clause_rejects_an_unknown_clause() -> None:
    with pytest.raises(SpecError, match="clause must be one of"):
        check("clause", clause="having", table="users")


# -- column_projection --------------------------------------------------------------


def test_column_projection_passes_for_the_needed_columns(engine: Engine) -> None:
    main = record(engine, youngest_sql)
    verdict = check("column_projection", table="users", columns=["id", "name"]).judge(
        evaluation(main, main)
    )
    assert verdict.passed
    assert verdict.message == PROJECTION_OK.format(table="users", columns="id, name")


def test_column_projection_fails_for_whole_entities(engine: Engine) -> None:
    main = record(engine, youngest_python)
    verdict = check("column_projection", table="users", columns=["id", "name"]).judge(
        evaluation(main, main)
    )
    assert not verdict.passed
    assert verdict.message == PROJECTION_EXTRA.format(
        count=1, table="users", extra="age, bio, country, created_at, email, is_active"
    )


def test_column_projection_counts_raw_driver_sql(engine: Engine) -> None:
    def raw(session: Session) -> int:
        cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT * FROM users")
        return len(cursor.fetchall())

    main = record(engine, raw)
    verdict = check("column_projection", table="users", columns=["id"]).judge(
        evaluation(main, main)
    )
    assert not verdict.passed
    assert "(raw driver cursor)" in verdict.evidence[0].label


# -- index_used ---------------------------------------------------------------------


def lookup(session: Session) -> list[int]:
    return list(session.scalars(select(User.id).where(User.email == "nobody@example.org")))


def test_index_used_fails_on_a_full_scan_and_shows_the_plan(tmp_path: Path) -> None:
    engine = seeded_engine(tmp_path / "db.sqlite")
    main = record(engine, lookup)
    ev = evaluation(main, main, plans=plans_of(engine, main))
    verdict = check("index_used", table="users").judge(ev)
    assert not verdict.passed
    assert verdict.message == FULL_SCAN.format(count=1, table="users")
    assert "SCAN users" in verdict.evidence[1].text


def test_index_used_passes_with_an_index_search(tmp_path: Path) -> None:
    engine = seeded_engine(tmp_path / "db.sqlite")
    # Plain DDL: an Index object would attach itself to the shared User table.
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_test_users_email ON users (email)")
    main = record(engine, lookup)
    ev = evaluation(main, main, plans=plans_of(engine, main))
    verdict = check("index_used", table="users", index="ix_test_users_email").judge(ev)
    assert verdict.passed, verdict.message
    assert "ix_test_users_email" in verdict.message


def test_index_used_accepts_a_primary_key_search(engine: Engine) -> None:
    main = record(engine, lambda s: s.get(User, 3).name)
    ev = evaluation(main, main, plans=plans_of(engine, main))
    assert check("index_used", table="users").judge(ev).passed


def test_unknown_option_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="unknown option"):
        check("max_queries", max=1, maximum=2)


def test_missing_option_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^max: missing"):
        check("max_queries")
