"""Every query check, both ways, on real recordings against real SQLite files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import distinct, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, joinedload, selectinload

from grader.analysis.sqlshape import parse_statement
from grader.checks.base import NOT_JUDGED, judge_all
from grader.checks.query import (
    CLAUSE_FORBIDDEN,
    CLAUSE_MISSING,
    CLAUSE_OK,
    CLAUSES,
    CONSTANT_QUERIES,
    FULL_SCAN,
    GROWING_QUERIES,
    NO_READ,
    ONLY_LOADERS_READ,
    PROJECTION_EXTRA,
    PROJECTION_OK,
    QUERIES_OK,
    TOO_MANY_QUERIES,
    WRONG_RESULT,
    WRONG_STATE,
    describe_difference,
)
from grader.domain import Tag, Task, User
from grader.errors import SpecError
from grader.execution.run import RunRecord
from grader.wording import counted
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
    with pytest.raises(SpecError) as raised:
        check("clause", clause="having", table="users")
    assert raised.value.field == "clause"  # type: ignore[attr-defined]
    assert "'distinct'" in str(raised.value) and "found 'having' (string)" in str(raised.value)


def test_clause_rejects_an_unknown_statement_choice() -> None:
    with pytest.raises(SpecError) as raised:
        check("clause", clause="where", table="users", statement="main")
    assert raised.value.field == "statement"  # type: ignore[attr-defined]
    assert "'answer', 'any'" in str(raised.value)


# Two starters that load related rows with a loader and filter in Python, their
# half-done and their finished variants. The loader's follow-up statement has
# a WHERE on tasks (selectinload(User.tasks): "WHERE tasks.assignee_id IN (…)")
# or a JOIN of tags (selectinload(Task.tags)): neither may meet a check of the
# statement that returns the answer's rows.
def open_titles_selectinload(session: Session) -> list[str]:
    """Starter: French users with their tasks (selectinload), filtered in Python."""
    users = session.scalars(select(User).options(selectinload(User.tasks))).all()
    return sorted(
        t.title for u in users if u.country == "FR" for t in u.tasks if t.status != "done"
    )


def open_titles_lazy(session: Session) -> list[str]:
    """The same starter with lazy loads, one per user."""
    users = session.scalars(select(User).where(User.country == "FR")).all()
    return sorted(t.title for u in users for t in u.tasks if t.status != "done")


def open_titles_sql(session: Session) -> list[str]:
    stmt = select(Task.title).join(Task.assignee).where(User.country == "FR", Task.status != "done")
    return sorted(session.scalars(stmt))


def open_bugs_selectinload(session: Session) -> list[int]:
    """Starter: every task with its tags (selectinload), filtered in Python."""
    tasks = session.scalars(select(Task).options(selectinload(Task.tags))).all()
    return sorted(
        t.id for t in tasks if t.status != "done" and any(g.name == "bug" for g in t.tags)
    )


def open_bugs_half(session: Session) -> list[int]:
    """Half done: the status filter in SQL, the tag filter still in Python."""
    stmt = select(Task).where(Task.status != "done").options(selectinload(Task.tags))
    tasks = session.scalars(stmt).all()
    return sorted(t.id for t in tasks if any(g.name == "bug" for g in t.tags))


def open_bugs_sql(session: Session) -> list[int]:
    """The fix: one statement joins the tags and filters."""
    stmt = (
        select(Task.id)
        .join(Task.tags)
        .where(Tag.name == "bug", Task.status != "done")
        .order_by(Task.id)
    )
    return list(session.scalars(stmt))


def open_bugs_text(session: Session) -> list[int]:
    """The fix written as text(): the database joins and filters as well."""
    sql = text(
        "SELECT t.id FROM tasks t JOIN task_tags tt ON tt.task_id = t.id "
        "JOIN tags g ON g.id = tt.tag_id WHERE g.name = 'bug' AND t.status <> 'done' "
        "ORDER BY t.id"
    )
    return list(session.scalars(sql))


WHERE_TASKS = {"clause": "where", "table": "tasks"}
JOIN_TAGS = {"clause": "join", "table": "tags"}
#: (starter, the check its loader met by accident, the fixes in several styles)
LOADER_CASES = {
    "where-selectinload": (open_titles_selectinload, WHERE_TASKS, [open_titles_sql]),
    "where-lazy": (open_titles_lazy, WHERE_TASKS, [open_titles_sql]),
    "join-selectinload": (open_bugs_selectinload, JOIN_TAGS, [open_bugs_sql, open_bugs_text]),
}


@pytest.mark.parametrize("case", list(LOADER_CASES))
def test_a_loaders_follow_up_does_not_meet_a_clause_of_the_main_query(
    engine: Engine, case: str
) -> None:
    starter, options, _ = LOADER_CASES[case]
    main = record(engine, starter)
    loaded = [s for s in main.log if s.loader]
    assert loaded, "the starter emits relationship loads"
    ev = evaluation(main, main)
    # What the grader did before it told statements apart: the loader met the check.
    assert check("clause", statement="any", **options).judge(ev).passed
    verdict = check("clause", **options).judge(ev)
    assert not verdict.passed
    table = options["table"]
    own = [s for s in main.log if not s.loader and table in parse_statement(s.sql).tables]
    if own:
        label = CLAUSES[options["clause"]][0]
        assert verdict.message == CLAUSE_MISSING.format(clause=label, table=table, reads=len(own))
    else:
        assert verdict.message == ONLY_LOADERS_READ.format(
            table=table, reads=counted(len(loaded), "statement")
        )


@pytest.mark.parametrize("case", list(LOADER_CASES))
@pytest.mark.parametrize("statement", ["answer", "any"])
def test_the_fix_meets_the_clause_check_whichever_statements_are_judged(
    engine: Engine, case: str, statement: str
) -> None:
    starter, options, fixes = LOADER_CASES[case]
    oracle = record(engine, starter, role="oracle")
    for fix in fixes:
        main = record(engine, fix)
        assert main.value == oracle.value
        verdict = check("clause", statement=statement, **options).judge(evaluation(oracle, main))
        assert verdict.passed, verdict.message


def test_half_the_work_in_sql_meets_only_the_clause_it_does(engine: Engine) -> None:
    main = record(engine, open_bugs_half)
    ev = evaluation(main, main)
    assert check("clause", **WHERE_TASKS).judge(ev).passed
    assert not check("clause", **JOIN_TAGS).judge(ev).passed


# -- distinct: who has a task tagged bug (each user once) ----------------------------


def bug_people_python(session: Session) -> list[int]:
    """Duplicates removed in Python: one row per (user, bug task) is fetched."""
    stmt = select(Task.assignee_id).join(Task.tags).where(Tag.name == "bug")
    return sorted({i for i in session.scalars(stmt) if i is not None})


def bug_people_distinct(session: Session) -> list[int]:
    stmt = (
        select(Task.assignee_id)
        .join(Task.tags)
        .where(Tag.name == "bug", Task.assignee_id.is_not(None))
        .distinct()
        .order_by(Task.assignee_id)
    )
    return list(session.scalars(stmt))


def bug_people_group_by(session: Session) -> list[int]:
    stmt = (
        select(Task.assignee_id)
        .join(Task.tags)
        .where(Tag.name == "bug", Task.assignee_id.is_not(None))
        .group_by(Task.assignee_id)
        .order_by(Task.assignee_id)
    )
    return list(session.scalars(stmt))


def bug_people_count_distinct(session: Session) -> int:
    stmt = select(func.count(distinct(Task.assignee_id))).join(Task.tags).where(Tag.name == "bug")
    return int(session.scalar(stmt) or 0)


def bug_people_count_subquery(session: Session) -> int:
    inner = (
        select(Task.assignee_id)
        .join(Task.tags)
        .where(Tag.name == "bug", Task.assignee_id.is_not(None))
        .distinct()
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


@pytest.mark.parametrize(
    "solution",
    [
        bug_people_distinct,
        bug_people_group_by,
        bug_people_count_distinct,
        bug_people_count_subquery,
    ],
)
def test_distinct_clause_passes_when_the_database_removes_duplicates(
    engine: Engine, solution: Any
) -> None:
    main = record(engine, solution)
    verdict = check("clause", clause="distinct", table="tasks").judge(evaluation(main, main))
    assert verdict.passed
    assert verdict.message == CLAUSE_OK.format(clause=CLAUSES["distinct"][0], table="tasks")


def test_distinct_clause_fails_when_python_removes_duplicates(engine: Engine) -> None:
    main = record(engine, bug_people_python)
    assert main.value == record(engine, bug_people_distinct).value
    verdict = check("clause", clause="distinct", table="tasks").judge(evaluation(main, main))
    assert not verdict.passed
    assert verdict.message == CLAUSE_MISSING.format(
        clause=CLAUSES["distinct"][0], table="tasks", reads=1
    )


def test_distinct_only_inside_a_where_subquery_does_not_count(engine: Engine) -> None:
    def people(session: Session) -> list[int]:
        bugs = select(Task.assignee_id).join(Task.tags).where(Tag.name == "bug").distinct()
        return list(session.scalars(select(User.id).where(User.id.in_(bugs)).order_by(User.id)))

    main = record(engine, people)
    assert (
        not check("clause", clause="distinct", table="users").judge(evaluation(main, main)).passed
    )


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
