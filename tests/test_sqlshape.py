"""Unit tests of grader.analysis.sqlshape on SQL that SQLAlchemy really renders and sends.

Core statements are compiled for SQLite, PostgreSQL (psycopg) and MySQL (pymysql);
ORM loading strategies are executed against an in-memory SQLite database and the
statements are captured as they reach the DBAPI cursor, because what is sent
(expanded IN lists, subquery wrapping) differs from what ``compile()`` shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import (
    Engine,
    ForeignKey,
    String,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)
from sqlalchemy.sql import ClauseElement

from grader.analysis.sqlshape import JoinInfo, StatementShape, fingerprint, parse_statement


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(100))
    age: Mapped[int | None]
    tasks: Mapped[list[Task]] = relationship(back_populates="assignee")


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    assignee: Mapped[User | None] = relationship(back_populates="tasks")


USER_COLUMNS = frozenset({"id", "name", "email", "age"})
TASK_COLUMNS = frozenset({"id", "title", "assignee_id", "project_id"})

DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.psycopg.dialect(),
    "mysql": mysql.pymysql.dialect(),
}
# The placeholder each DBAPI's paramstyle puts where a LIMIT/OFFSET value goes.
PLACEHOLDERS = {"sqlite": "?", "postgresql": "%(param_1)s", "mysql": "%s"}


def compiled(stmt: ClauseElement, dialect: str) -> str:
    return str(stmt.compile(dialect=DIALECTS[dialect]))


def shape_of(stmt: ClauseElement, dialect: str) -> StatementShape:
    return parse_statement(compiled(stmt, dialect))


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """An in-memory SQLite database with five users, each owning 0-2 tasks."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Project(id=1, name="p"))
        for i in range(5):
            tasks = [Task(title=f"t{i}{j}", project_id=1) for j in range(i % 3)]
            session.add(User(name=f"u{i}", email=f"u{i}@example.org", age=20 + i, tasks=tasks))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def sent(engine: Engine) -> Callable[[Callable[[Session], object]], list[str]]:
    """Run a function with a session and return the SQL statements it sent."""

    def run(work: Callable[[Session], object]) -> list[str]:
        statements: list[str] = []

        def record(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(engine, "before_cursor_execute", record)
        try:
            with Session(engine) as session:
                work(session)
                session.rollback()
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return statements

    return run


# ---------------------------------------------------------------- filter, limit, offset


@pytest.mark.parametrize("dialect", DIALECTS)
def test_filter_and_limit(dialect: str) -> None:
    shape = shape_of(select(User).where(User.age > 30).limit(5), dialect)

    assert shape.kind == "SELECT"
    assert shape.tables == shape.main_tables == {"users"}
    assert shape.has_where
    assert shape.where_tables == {"users"}
    assert shape.has_limit
    assert shape.limit == PLACEHOLDERS[dialect]
    assert shape.joins == ()
    assert shape.selected == {"users": USER_COLUMNS}
    assert not shape.selects_expressions


@pytest.mark.parametrize(
    ("dialect", "rendered", "limit", "offset"),
    [
        ("sqlite", "LIMIT ? OFFSET ?", "?", "?"),
        (
            "postgresql",
            "LIMIT %(param_1)s::INTEGER OFFSET %(param_2)s::INTEGER",
            "%(param_1)s",
            "%(param_2)s",
        ),
        ("mysql", "LIMIT %s, %s", "%s", "%s"),
    ],
)
def test_limit_and_offset(dialect: str, rendered: str, limit: str, offset: str) -> None:
    sql = compiled(select(User).order_by(User.id).limit(10).offset(20), dialect)
    shape = parse_statement(sql)

    assert rendered in sql
    assert shape.has_order_by
    assert (shape.has_limit, shape.limit) == (True, limit)
    assert (shape.has_offset, shape.offset) == (True, offset)


def test_mysql_limit_offset_comma_form_puts_offset_first() -> None:
    shape = parse_statement("SELECT users.id FROM users LIMIT 40, 20")

    assert (shape.limit, shape.offset) == ("20", "40")


@pytest.mark.parametrize(
    "sql",
    [
        compiled(select(User.id).order_by(User.id).offset(20), "postgresql"),  # LIMIT ALL
        compiled(select(User.id).order_by(User.id).offset(20), "mysql"),  # 18446744073709551615
        "SELECT users.id FROM users ORDER BY users.id LIMIT -1 OFFSET 20",  # SQLite by hand
    ],
)
def test_offset_without_limit_renders_a_no_limit_sentinel(sql: str) -> None:
    shape = parse_statement(sql)

    assert shape.has_offset
    assert not shape.has_limit
    assert shape.limit is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fetch_first_counts_as_limit(dialect: str) -> None:
    shape = shape_of(select(User).order_by(User.id).fetch(3), dialect)

    assert shape.has_limit
    assert shape.limit is not None and "::" not in shape.limit


def test_top_counts_as_limit() -> None:
    shape = parse_statement("SELECT TOP 5 users.id FROM users")

    assert (shape.has_limit, shape.limit) == (True, "5")
    assert shape.selected == {"users": {"id"}}


# ------------------------------------------------------------------- ORM loading, sent


def test_joinedload_with_limit_keeps_limit_in_subquery(sent: Callable[..., list[str]]) -> None:
    statements = sent(
        lambda s: s.scalars(select(User).options(joinedload(User.tasks)).limit(5)).unique().all()
    )

    assert len(statements) == 1
    shape = parse_statement(statements[0])
    assert "FROM (SELECT" in shape.sql
    assert shape.kind == "SELECT"
    assert shape.tables == {"users", "tasks"}
    assert shape.main_tables == {"users", "tasks"}
    assert not shape.has_limit
    assert not shape.has_where
    assert shape.aliases == {"anon_1": "users", "tasks_1": "tasks"}
    assert shape.joins == (JoinInfo("LEFT OUTER", "tasks", "tasks_1"),)
    assert shape.selected == {"users": USER_COLUMNS, "tasks": TASK_COLUMNS}


def test_subqueryload_labels_traced_to_inner_columns(sent: Callable[..., list[str]]) -> None:
    statements = sent(
        lambda s: s.scalars(select(User).options(subqueryload(User.tasks)).limit(2)).all()
    )

    shape = parse_statement(statements[1])
    assert "anon_1.users_id" in shape.sql
    assert shape.selected == {"tasks": TASK_COLUMNS, "users": {"id"}}
    assert shape.joins == (JoinInfo("INNER", "tasks", None),)


def test_selectinload_in_lists_of_any_length_share_a_fingerprint(
    sent: Callable[..., list[str]],
) -> None:
    def load(limit: int) -> Callable[[Session], object]:
        return lambda s: s.scalars(
            select(User).options(selectinload(User.tasks)).order_by(User.id).limit(limit)
        ).all()

    two = sent(load(2))[1]
    five = sent(load(5))[1]

    assert "POSTCOMPILE" not in two + five
    assert "IN (?, ?)" in two
    assert "IN (?, ?, ?, ?, ?)" in five
    assert fingerprint(two) == fingerprint(five)
    assert fingerprint(two).endswith("WHERE tasks.assignee_id IN (...)")
    shape = parse_statement(five)
    assert shape.where_tables == {"tasks"}
    assert shape.selected == {"tasks": TASK_COLUMNS}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_postcompile_in_form_matches_sent_in_list(dialect: str) -> None:
    rendered = compiled(select(User.id).where(User.id.in_([1, 2, 3])), dialect)

    assert "__[POSTCOMPILE_id_1]" in rendered
    assert fingerprint(rendered) == fingerprint(
        "SELECT users.id FROM users WHERE users.id IN (?, ?, ?)"
    )


def test_whole_entity_select_reads_every_column(sent: Callable[..., list[str]]) -> None:
    statements = sent(lambda s: s.scalars(select(User)).all())

    assert parse_statement(statements[0]).selected == {"users": USER_COLUMNS}


def test_query_count_wraps_the_filter_in_a_subquery(sent: Callable[..., list[str]]) -> None:
    statements = sent(lambda s: s.query(User).filter(User.age > 21).count())

    shape = parse_statement(statements[0])
    assert shape.aggregates == {"COUNT"}
    assert shape.main_tables == {"users"}
    assert not shape.has_where  # the WHERE is inside the subquery only


def test_bulk_insert_batches_of_any_size_share_a_fingerprint(
    sent: Callable[..., list[str]],
) -> None:
    def insert_rows(n: int) -> Callable[[Session], object]:
        rows = [{"name": f"n{i}", "email": "e"} for i in range(n)]
        return lambda s: s.execute(insert(User).returning(User.id), rows)

    three, five = sent(insert_rows(3))[0], sent(insert_rows(5))[0]

    assert three != five
    assert fingerprint(three) == fingerprint(five)
    assert "VALUES (?, ?), ..." in fingerprint(three)
    assert fingerprint(three) != fingerprint("INSERT INTO users (name, email) VALUES (?, ?)")


# ------------------------------------------------------------------- joins and grouping


def test_handwritten_lowercase_text_with_aliases_group_by_and_count(
    sent: Callable[..., list[str]],
) -> None:
    sql = (
        "select u.name, count(t.id) as n from users u left join tasks t"
        " on t.assignee_id = u.id group by u.name order by n desc"
    )
    statements = sent(lambda s: s.execute(text(sql)).all())

    shape = parse_statement(statements[0])
    assert shape.kind == "SELECT"
    assert shape.aliases == {"u": "users", "t": "tasks"}
    assert shape.joins == (JoinInfo("LEFT OUTER", "tasks", "t"),)
    assert shape.has_group_by
    assert shape.has_order_by
    assert shape.aggregates == {"COUNT"}
    assert shape.selected == {"users": {"name"}, "tasks": {"id"}}
    assert shape.selects_expressions
    assert shape.fingerprint.startswith("SELECT u.name, count(t.id) AS n FROM users u LEFT JOIN")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_left_outer_join_with_group_by(dialect: str) -> None:
    stmt = select(User.name, func.count(Task.id)).outerjoin(User.tasks).group_by(User.id)
    shape = shape_of(stmt, dialect)

    assert shape.joins == (JoinInfo("LEFT OUTER", "tasks", None),)
    assert shape.main_tables == {"users", "tasks"}
    assert shape.has_group_by
    assert shape.aggregates == {"COUNT"}
    assert shape.selected == {"users": {"name"}, "tasks": {"id"}}


@pytest.mark.parametrize(
    ("join", "kind"),
    [
        ("JOIN", "INNER"),
        ("INNER JOIN", "INNER"),
        ("LEFT JOIN", "LEFT OUTER"),
        ("left outer join", "LEFT OUTER"),
        ("RIGHT JOIN", "RIGHT OUTER"),
        ("FULL OUTER JOIN", "FULL OUTER"),
        ("CROSS JOIN", "CROSS"),
        (",", "CROSS"),
    ],
)
def test_join_kinds(join: str, kind: str) -> None:
    on = "" if kind == "CROSS" else " ON t.assignee_id = u.id"
    shape = parse_statement(f"SELECT u.id FROM users AS u {join} tasks AS t{on}")

    assert shape.joins == (JoinInfo(kind, "tasks", "t"),)


def test_parenthesized_join_and_self_join() -> None:
    shape = parse_statement(
        "SELECT * FROM (users u1 JOIN users u2 ON u1.id = u2.id)"
        " LEFT JOIN projects p ON p.id = u1.id WHERE u1.age = 1 AND id = 3"
    )

    assert shape.main_tables == {"users", "projects"}
    assert shape.aliases == {"u1": "users", "u2": "users", "p": "projects"}
    assert [j.alias for j in shape.joins] == ["u2", "p"]
    assert shape.selected == {"users": {"*"}, "projects": {"*"}}


# --------------------------------------------------------------------------- projection


@pytest.mark.parametrize("dialect", DIALECTS)
def test_column_projection(dialect: str) -> None:
    shape = shape_of(select(User.id, User.name), dialect)

    assert shape.selected == {"users": {"id", "name"}}
    assert not shape.selects_expressions
    assert shape.aggregates == frozenset()


@pytest.mark.parametrize(
    ("sql", "selected"),
    [
        ("SELECT * FROM users", {"users": {"*"}}),
        ("SELECT u.* FROM users AS u", {"users": {"*"}}),
        ("SELECT * FROM users, tasks", {"users": {"*"}, "tasks": {"*"}}),
        ("SELECT id, name FROM users", {"users": {"id", "name"}}),
        ("SELECT id FROM users JOIN tasks ON tasks.assignee_id = users.id", {"": {"id"}}),
        ("SELECT lower(users.email) AS e FROM users", {"users": {"email"}}),
        ("SELECT * FROM (SELECT users.id FROM users) AS a", {"users": {"id"}}),
    ],
)
def test_selected_columns(sql: str, selected: dict[str, set[str]]) -> None:
    assert parse_statement(sql).selected == selected


@pytest.mark.parametrize(
    "sql",
    ["SELECT count(*) FROM users", "select COUNT (*) from users"],
)
def test_count_star(sql: str) -> None:
    shape = parse_statement(sql)

    assert shape.aggregates == {"COUNT"}
    assert shape.selects_expressions
    assert shape.main_tables == {"users"}
    assert shape.selected == {}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_orm_count(dialect: str) -> None:
    shape = shape_of(select(func.count()).select_from(User), dialect)

    assert shape.aggregates == {"COUNT"}
    assert shape.selects_expressions


def test_aggregates_in_having_and_nested_calls() -> None:
    shape = parse_statement(
        "SELECT projects.name, coalesce(sum(tasks.id), 0), group_concat(tasks.title)"
        " FROM projects JOIN tasks ON tasks.project_id = projects.id"
        " GROUP BY projects.name HAVING max(tasks.id) > 3"
    )

    assert shape.aggregates == {"SUM", "GROUP_CONCAT", "MAX"}


def test_aggregate_only_inside_subquery_is_not_top_level() -> None:
    shape = parse_statement(
        "SELECT users.id, (SELECT count(*) FROM tasks WHERE tasks.assignee_id = users.id) AS n"
        " FROM users"
    )

    assert shape.aggregates == frozenset()
    assert shape.tables == {"users", "tasks"}
    assert shape.main_tables == {"users"}
    assert shape.selects_expressions


# -------------------------------------------------------------------------------- DML


@pytest.mark.parametrize("dialect", DIALECTS)
def test_update_where(dialect: str) -> None:
    shape = shape_of(update(User).where(User.age < 18).values(name="x"), dialect)

    assert shape.kind == "UPDATE"
    assert shape.main_tables == {"users"}
    assert shape.has_where
    assert shape.where_tables == {"users"}


def test_update_without_where() -> None:
    shape = parse_statement("UPDATE users SET age=(users.age + ?)")

    assert (shape.kind, shape.has_where) == ("UPDATE", False)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_delete(dialect: str) -> None:
    shape = shape_of(delete(Task).where(Task.assignee_id == 3), dialect)

    assert shape.kind == "DELETE"
    assert shape.tables == shape.main_tables == {"tasks"}
    assert shape.where_tables == {"tasks"}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_insert_values(dialect: str) -> None:
    shape = shape_of(insert(User).values(name="a", email="b"), dialect)

    assert shape.kind == "INSERT"
    assert shape.tables == shape.main_tables == {"users"}
    assert not shape.has_where


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_insert_returning(dialect: str) -> None:
    shape = shape_of(insert(User).values(name="a", email="b").returning(User.id), dialect)

    assert shape.kind == "INSERT"
    assert "RETURNING" in shape.sql
    assert shape.selected == {"users": {"id"}}


@pytest.mark.parametrize(
    ("sql", "kind", "main_tables"),
    [
        ("INSERT OR REPLACE INTO users (id) VALUES (1)", "INSERT", {"users"}),
        ("REPLACE INTO users (id) VALUES (1)", "INSERT", {"users"}),
        ("INSERT INTO users (id) SELECT tasks.assignee_id FROM tasks", "INSERT", {"users"}),
        (
            "UPDATE users u JOIN tasks t ON t.assignee_id = u.id SET u.age = 1",
            "UPDATE",
            {"users", "tasks"},
        ),
        (
            "DELETE FROM tasks USING users WHERE tasks.assignee_id = users.id",
            "DELETE",
            {"users", "tasks"},
        ),
        (
            "DELETE t FROM tasks t JOIN users u ON u.id = t.assignee_id",
            "DELETE",
            {"users", "tasks"},
        ),
    ],
)
def test_dml_variants(sql: str, kind: str, main_tables: set[str]) -> None:
    shape = parse_statement(sql)

    assert shape.kind == kind
    assert shape.main_tables == main_tables


def test_insert_on_conflict_reads_no_extra_tables() -> None:
    shape = parse_statement(
        "INSERT INTO users (id, name) VALUES (?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name"
    )

    assert shape.tables == {"users"}


# --------------------------------------------------------------------- dialect quirks


def test_postgres_casts_are_not_columns_and_vanish_from_limit() -> None:
    first = compiled(select(User).where(User.age > 30).limit(5), "postgresql")
    second = compiled(select(User).where(User.id == 7).where(User.age > 30).limit(5), "postgresql")
    shape = parse_statement(first)

    assert "%(age_1)s::INTEGER" in first
    assert shape.where_tables == {"users"}
    assert shape.limit == "%(param_1)s"
    assert "?::integer" in shape.fingerprint
    assert fingerprint(first) == fingerprint(first.replace("age_1", "age_2"))
    assert fingerprint(first) != fingerprint(second)


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "users"."id", "users"."name" FROM "users" WHERE "users"."age" > 3',
        "SELECT `users`.`id`, `users`.`name` FROM `users` WHERE `users`.`age` > 3",
        "SELECT [users].[id], [users].[name] FROM [users] WHERE [users].[age] > 3",
        'SELECT "Users".id, "Users".name FROM "main"."Users" WHERE "Users".age > 3',
    ],
)
def test_quoted_identifiers(sql: str) -> None:
    shape = parse_statement(sql)

    assert shape.tables == {"users"}
    assert shape.selected == {"users": {"id", "name"}}
    assert shape.where_tables == {"users"}
    assert fingerprint(sql).endswith("users.age > ?")


def test_columns_named_like_keywords_are_columns() -> None:
    shape = parse_statement("SELECT date, text, data, name FROM events WHERE date > ?")

    assert shape.selected == {"events": {"date", "text", "data", "name"}}
    assert shape.where_tables == {"events"}
    assert not shape.selects_expressions


def test_cast_types_and_date_literals_are_not_columns() -> None:
    shape = parse_statement(
        "SELECT CAST(users.age AS INTEGER), users.age::TEXT FROM users"
        " WHERE users.created > DATE '2020-01-01' AND users.email <> X'ab'"
    )

    assert shape.selected == {"users": {"age"}}
    assert shape.where_tables == {"users"}


# -------------------------------------------------------------------------- subqueries


@pytest.mark.parametrize("dialect", DIALECTS)
def test_exists_subquery(dialect: str) -> None:
    stmt = select(User).where(exists().where(Task.assignee_id == User.id))
    shape = shape_of(stmt, dialect)

    assert shape.tables == {"users", "tasks"}
    assert shape.main_tables == {"users"}
    assert shape.has_where
    assert shape.selected == {"users": USER_COLUMNS}


def test_where_only_inside_subquery_is_not_top_level() -> None:
    shape = parse_statement(
        "SELECT anon_1.id FROM (SELECT users.id AS id FROM users WHERE users.age > ?"
        " ORDER BY users.id LIMIT ?) AS anon_1"
    )

    assert not shape.has_where
    assert shape.where_tables == frozenset()
    assert not shape.has_order_by
    assert not shape.has_limit
    assert shape.selected == {"users": {"id"}}


def test_in_subquery_tables_counted_but_not_where_tables() -> None:
    shape = parse_statement(
        "SELECT users.name FROM users WHERE users.id IN (SELECT tasks.assignee_id FROM tasks)"
    )

    assert shape.tables == {"users", "tasks"}
    assert shape.where_tables == {"users"}


def test_cte_name_is_not_a_table() -> None:
    shape = parse_statement(
        "WITH recent AS (SELECT tasks.id, tasks.assignee_id FROM tasks WHERE tasks.id > 5)"
        " SELECT recent.id FROM recent JOIN users ON users.id = recent.assignee_id"
    )

    assert shape.kind == "SELECT"
    assert shape.tables == {"tasks", "users"}
    assert shape.selected == {"tasks": {"id"}}
    assert not shape.has_where


def test_recursive_cte_does_not_report_itself() -> None:
    shape = parse_statement(
        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5)"
        " SELECT n FROM c"
    )

    assert shape.kind == "SELECT"
    assert shape.tables == frozenset()


def test_union_order_and_limit_apply_to_the_whole() -> None:
    shape = parse_statement(
        "SELECT users.name FROM users UNION ALL SELECT projects.name FROM projects"
        " ORDER BY 1 LIMIT 3"
    )

    assert shape.main_tables == {"users", "projects"}
    assert shape.has_order_by
    assert (shape.has_limit, shape.limit) == (True, "3")
    assert shape.selected == {"users": {"name"}, "projects": {"name"}}


# ------------------------------------------------------------------------- fingerprint


def test_fingerprint_ignores_values_case_whitespace_and_comments() -> None:
    a = "SELECT users.id FROM users WHERE users.name = 'ann' AND users.age > 30 LIMIT 10"
    b = "select users.id\n  from users -- who\n where users.name='bob' and users.age>41 limit 5"

    assert fingerprint(a) == fingerprint(b)
    assert (
        fingerprint(a)
        == "SELECT users.id FROM users WHERE users.name = ? AND users.age > ? LIMIT ?"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "SELECT users.id FROM users WHERE users.id = ?",
            "SELECT users.id FROM users WHERE users.age = ?",
        ),
        ("SELECT users.id FROM users", "SELECT users.id FROM users LIMIT ?"),
        (
            "SELECT users.id FROM users WHERE users.id = ?",
            "SELECT users.id FROM users WHERE users.id IS NULL",
        ),
    ],
)
def test_fingerprint_keeps_structure_apart(a: str, b: str) -> None:
    assert fingerprint(a) != fingerprint(b)


@pytest.mark.parametrize(
    "in_list",
    ["(1)", "(1, 2, 3)", "('a', 'b')", "(%s, %s)", "(%(id_1_1)s::INTEGER, %(id_1_2)s::INTEGER)"],
)
def test_fingerprint_collapses_in_lists(in_list: str) -> None:
    assert (
        fingerprint(f"SELECT users.id FROM users WHERE users.id IN {in_list}")
        == "SELECT users.id FROM users WHERE users.id IN (...)"
    )


def test_fingerprint_collapses_tuple_in_lists() -> None:
    one = "SELECT users.id FROM users WHERE (users.id, users.age) IN ((?, ?))"
    two = "SELECT users.id FROM users WHERE (users.id, users.age) IN ((?, ?), (?, ?))"

    assert fingerprint(one) == fingerprint(two)


def test_fingerprint_keeps_in_subquery() -> None:
    sql = "SELECT users.id FROM users WHERE users.id IN (SELECT tasks.assignee_id FROM tasks)"

    assert "IN (SELECT tasks.assignee_id FROM tasks)" in fingerprint(sql)


def test_string_literal_with_semicolon_and_comment_marker() -> None:
    shape = parse_statement(
        "SELECT users.id FROM users WHERE users.name = 'it''s; -- not a comment' -- real"
    )

    assert shape.where_tables == {"users"}
    assert shape.fingerprint == "SELECT users.id FROM users WHERE users.name = ?"


# ----------------------------------------------------------------- robustness, caching


@pytest.mark.parametrize(
    "sql",
    [
        "",
        "   ",
        ";;",
        ")))",
        "((",
        "'unterminated",
        "SELECT",
        "SELECT * FROM",
        "SELECT FROM WHERE LIMIT",
        "SELECT x FROM t JOIN",
        "SELECT * FROM t AS",
        "SELECT x FROM t ORDER BY x OFFSET",
        "SELECT a. FROM t.",
        "WITH x AS",
        "INSERT INTO",
        "UPDATE",
        "DELETE",
        "this is not sql (((",
        'select \x00 \u00e9 from "',
        "SELECT * FROM users WHERE id IN (__[POSTCOMPILE_",
    ],
)
def test_garbage_does_not_raise(sql: str) -> None:
    shape = parse_statement(sql)

    assert shape.sql == sql
    assert shape.kind in {"SELECT", "INSERT", "UPDATE", "DELETE", "OTHER"}
    assert isinstance(shape.fingerprint, str)


@pytest.mark.parametrize(
    "sql", ["BEGIN", "COMMIT", "PRAGMA foreign_keys = ON", "CREATE TABLE t (id INTEGER)"]
)
def test_other_statements(sql: str) -> None:
    shape = parse_statement(sql)

    assert shape.kind == "OTHER"
    assert shape.tables == frozenset()


def test_only_the_first_statement_is_analysed() -> None:
    shape = parse_statement("DELETE FROM tasks; SELECT * FROM users")

    assert (shape.kind, shape.tables) == ("DELETE", {"tasks"})


def test_parse_statement_is_cached() -> None:
    sql = "SELECT users.id FROM users WHERE users.id = ?"

    assert parse_statement(sql) is parse_statement(sql)


def test_shape_is_frozen_and_read_only() -> None:
    shape = parse_statement("SELECT u.id FROM users AS u")

    with pytest.raises(dataclasses.FrozenInstanceError):
        shape.kind = "UPDATE"  # type: ignore[misc]
    with pytest.raises(TypeError):
        shape.aliases["x"] = "y"  # type: ignore[index]
    assert hash(shape) == hash(parse_statement("SELECT u.id FROM users AS u"))


@pytest.mark.parametrize(
    ("sql", "distinct"),
    [
        ("SELECT DISTINCT users.name FROM users", True),
        ("SELECT DISTINCT ON (tasks.project_id) tasks.id FROM tasks", True),
        ("SELECT count(DISTINCT tasks.assignee_id) AS n FROM tasks", True),
        ("SELECT COUNT( DISTINCT `tasks`.`assignee_id`) AS n FROM `tasks`", True),
        (
            "SELECT t.project_id FROM tasks t GROUP BY t.project_id "
            "HAVING count(DISTINCT t.status) > 1",
            True,
        ),
        ("SELECT count(*) FROM (SELECT DISTINCT tasks.assignee_id FROM tasks) AS anon_1", True),
        ("SELECT users.id FROM users UNION SELECT tasks.assignee_id FROM tasks", True),
        ("SELECT users.id FROM users", False),
        ("SELECT count(tasks.assignee_id) FROM tasks", False),
        ("SELECT users.id FROM users UNION ALL SELECT tasks.assignee_id FROM tasks", False),
        (
            "SELECT users.id FROM users WHERE users.id IN "
            "(SELECT DISTINCT tasks.assignee_id FROM tasks)",
            False,
        ),
        ("SELECT users.id, (SELECT count(DISTINCT tasks.status) FROM tasks) FROM users", False),
    ],
)
def test_distinct_is_seen_at_the_top_level_only(sql: str, distinct: bool) -> None:
    assert parse_statement(sql).has_distinct is distinct
