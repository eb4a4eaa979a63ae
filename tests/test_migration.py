"""The migration engine's parts, in-process: states, histories, model comparison, checks.

The end-to-end tests (test_migration_grading.py) run whole submissions in child
processes; these judge the pieces they are made of on small hand-made inputs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, create_engine, text
from sqlalchemy.engine import Engine

from grader.checks import build_check
from grader.checks.migration import DataPreserved, row_differences
from grader.course.catalog import Catalog
from grader.course.spec import CheckSpec
from grader.errors import SpecError
from grader.migrations.comparison import compare_models
from grader.migrations.history import (
    HISTORY_BROKEN,
    MULTIPLE_HEADS,
    NO_MIGRATION,
    NO_VERSIONS_FOLDER,
    STARTER_MISSING,
    History,
    Revision,
    body_is_empty,
    code_fingerprint,
    read_history,
)
from grader.migrations.state import ColumnState, DatabaseState, IndexState, TableState, snapshot

STARTER_HEAD = "4d1c6a0e2b17"
STARTER_FILE = f"{STARTER_HEAD}_create_users_and_tasks.py"


def users(*columns: ColumnState, indexes: tuple[IndexState, ...] = ()) -> DatabaseState:
    """A database holding one users table with ``columns``."""
    return DatabaseState((TableState("users", columns, ("id",), indexes),))


ID = ColumnState("id", "INTEGER", "Integer", False)
NAME = ColumnState("name", "VARCHAR(100)", "String", True)
FULL_NAME = ColumnState("full_name", "VARCHAR(100)", "String", True)


# -- database states --------------------------------------------------------------


def test_schema_differences_name_each_change() -> None:
    before = users(ID, NAME, indexes=(IndexState("ix_users_name", ("name",), False),))
    after = users(
        ID,
        FULL_NAME,
        ColumnState("name", "TEXT", "Text", False),
        indexes=(IndexState("ix_users_name", ("full_name",), False),),
    )
    assert before.differences(after) == [
        "column users.name VARCHAR(100) NULL is now name TEXT NOT NULL",
        "column users.full_name VARCHAR(100) NULL is new",
        "index ix_users_name (name) on users is now ix_users_name (full_name)",
    ]
    assert before.differences(before) == []


def test_schema_differences_ignore_column_order() -> None:
    assert users(ID, NAME, FULL_NAME).differences(users(FULL_NAME, NAME, ID)) == []


def test_row_differences_match_rows_by_key() -> None:
    before = [{"id": 1, "name": "Ada"}, {"id": 2, "name": None}, {"id": 3, "name": "Alan"}]
    after = [{"id": 2, "name": None}, {"id": 1, "name": "ada"}, {"id": 4, "name": "Grace"}]
    assert row_differences(before, after, ("id",)) == [
        "row id = 1: name was 'Ada', is 'ada'",
        "row id = 3 is gone",
        "row id = 4 is new",
    ]
    assert row_differences(before, before, ("id",)) == []


def test_snapshot_names_are_plain_strings(tmp_path: Path) -> None:
    # Regression: reflected names are quoted_name, which the parent refuses to unpickle.
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(10))"))
        connection.execute(text("CREATE INDEX ix_users_name ON users (name)"))
        connection.execute(text("INSERT INTO users VALUES (1, 'Ada'), (2, NULL)"))
        state = snapshot(connection)
    engine.dispose()
    (table,) = state.tables
    names = [table.name, *table.primary_key, *(c.name for c in table.columns)]
    names += [
        table.indexes[0].name,
        *table.indexes[0].columns,
        *state.rows,
        *state.rows["users"][0],
    ]
    assert all(type(n) is str for n in names)
    assert state.rows["users"] == ({"id": 1, "name": "Ada"}, {"id": 2, "name": None})
    assert table.column("name") == ColumnState("name", "VARCHAR(10)", "String", True)


# -- revision files and histories -----------------------------------------------------


def write_revision(
    folder: Path, revision: str, down: str | None, upgrade: str, downgrade: str
) -> Path:
    """A revision file in ``folder`` with the given bodies."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{revision}_step.py"
    path.write_text(
        f'"""a step"""\n\nfrom alembic import op\n\nrevision = {revision!r}\n'
        f"down_revision = {down!r}\n\n\ndef upgrade() -> None:\n{upgrade}\n\n\n"
        f"def downgrade() -> None:\n{downgrade}\n",
        encoding="utf-8",
    )
    return path


def test_body_is_empty_sees_through_docstrings_and_pass(tmp_path: Path) -> None:
    path = write_revision(
        tmp_path, "abc", "x", '    """Nothing yet."""\n    pass', '    op.drop_index("ix")'
    )
    assert body_is_empty(path, "upgrade")
    assert not body_is_empty(path, "downgrade")
    assert body_is_empty(path, "no_such_function")


def test_code_fingerprint_ignores_layout_and_comments(tmp_path: Path) -> None:
    original = write_revision(tmp_path / "a", "abc", None, '    op.drop_index("ix")', "    pass")
    reformatted = write_revision(
        tmp_path / "b",
        "abc",
        None,
        "    # the index\n    op.drop_index(\n        'ix'\n    )",
        "    pass",
    )
    edited = write_revision(tmp_path / "c", "abc", None, '    op.drop_index("iy")', "    pass")
    assert code_fingerprint(original) == code_fingerprint(reformatted)
    assert code_fingerprint(original)["upgrade()"] != code_fingerprint(edited)["upgrade()"]
    assert code_fingerprint(original)["downgrade()"] == code_fingerprint(edited)["downgrade()"]


@pytest.fixture
def starter(catalog: Catalog) -> ScriptDirectory:
    """The starter history of migration_add_column."""
    config = Config()
    config.set_main_option(
        "script_location", str(catalog.exercises_dir / "migration_add_column" / "migrations")
    )
    return ScriptDirectory.from_config(config)


def project_with(tmp_path: Path, catalog: Catalog, keep_starter: bool = True) -> Path:
    """An exercise folder holding (a copy of) the starter's revision."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    if keep_starter:
        source = catalog.exercises_dir / "migration_add_column" / "migrations" / "versions"
        shutil.copyfile(source / STARTER_FILE, versions / STARTER_FILE)
    return tmp_path


def test_read_history_finds_the_revision_by_its_parent(
    tmp_path: Path, catalog: Catalog, starter: ScriptDirectory
) -> None:
    project = project_with(tmp_path, catalog)
    write_revision(
        project / "migrations" / "versions", "f00d", STARTER_HEAD, "    op.f('x')", "    op.f('x')"
    )
    history = read_history(project, MetaData(), starter, versions_present=True)
    assert history.starter_head == STARTER_HEAD
    assert history.heads == ("f00d",)
    assert [r.id for r in history.written] == ["f00d"]
    assert history.written[0].file == "migrations/versions/f00d_step.py"
    assert history.blocked == ""


def test_read_history_reports_a_dangling_down_revision(
    tmp_path: Path, catalog: Catalog, starter: ScriptDirectory
) -> None:
    project = project_with(tmp_path, catalog)
    write_revision(project / "migrations" / "versions", "f00d", "nowhere", "    pass", "    pass")
    history = read_history(project, MetaData(), starter, versions_present=True)
    assert history.broken.startswith(
        "revision nowhere is named as a down_revision but no file defines it"
    )
    assert history.blocked == HISTORY_BROKEN.format(error=history.broken)


def test_read_history_reports_a_missing_starter_revision(
    tmp_path: Path, catalog: Catalog, starter: ScriptDirectory
) -> None:
    project = project_with(tmp_path, catalog, keep_starter=False)
    write_revision(project / "migrations" / "versions", "f00d", None, "    pass", "    pass")
    history = read_history(project, MetaData(), starter, versions_present=True)
    assert history.missing == (STARTER_HEAD,)
    assert history.blocked == STARTER_MISSING.format(revision=STARTER_HEAD)


def test_blocked_says_why_upgrade_cannot_run() -> None:
    written = Revision("b", (STARTER_HEAD,), "migrations/versions/b.py")
    other = Revision("c", (STARTER_HEAD,), "migrations/versions/c.py")
    history = History(starter_head=STARTER_HEAD, heads=(STARTER_HEAD,))
    assert history.blocked == NO_MIGRATION.format(head=STARTER_HEAD)
    assert History(STARTER_HEAD, versions_present=False).blocked == NO_VERSIONS_FOLDER
    two = History(STARTER_HEAD, heads=("b", "c"), new_revisions=(written, other))
    assert two.blocked == MULTIPLE_HEADS.format(count=2, heads="b, c")
    assert History(STARTER_HEAD, heads=("b",), new_revisions=(written,)).blocked == ""


# -- comparing the models with the schema -------------------------------------------------


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite database: users(id, name NULL, email) with email_idx on (email)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE users (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(100) NULL, "
                "email VARCHAR(200) NOT NULL)"
            )
        )
        connection.execute(text("CREATE INDEX email_idx ON users (email)"))
    yield engine
    engine.dispose()


def users_model(
    *indexes: Index, name_nullable: bool = True, email: String | None = None
) -> MetaData:
    """The users model: id, name, email and ``indexes``."""
    metadata = MetaData()
    Table(
        "users",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(100), nullable=name_nullable),
        Column("email", email if email is not None else String(200), nullable=False),
        *indexes,
    )
    return metadata


def test_models_match_a_schema_with_the_same_index(database: Engine) -> None:
    with database.connect() as connection:
        assert compare_models(connection, users_model(Index("email_idx", "email"))) == []


def test_an_index_is_compared_by_its_columns_too(database: Engine) -> None:
    with database.begin() as connection:
        connection.execute(text("CREATE INDEX ix_users_email ON users (name)"))
    with database.connect() as connection:
        found = compare_models(connection, users_model(Index("ix_users_email", "email")))
    assert found == [
        "the database has index email_idx on users (email); models.py has not",
        "index ix_users_email is on users (name) in the database, on (email) in models.py",
    ]


def test_an_index_under_another_name_is_told_as_such(database: Engine) -> None:
    with database.connect() as connection:
        found = compare_models(connection, users_model(Index("ix_users_email", "email")))
    assert found == [
        "the index on users (email) is called email_idx in the database, "
        "ix_users_email in models.py"
    ]


def test_types_and_nulls_are_compared(database: Engine) -> None:
    model = users_model(Index("email_idx", "email"), name_nullable=False, email=Text())
    with database.connect() as connection:
        found = compare_models(connection, model)
    assert found == [
        "users.name is NULL in the database, NOT NULL in models.py",
        "users.email is VARCHAR(200) in the database, TEXT in models.py",
    ]


# -- check options ----------------------------------------------------------------------


def test_data_preserved_maps_values_as_the_readme_says() -> None:
    check = build_check(
        CheckSpec(
            "data_preserved",
            "data_preserved",
            1,
            options={
                "table": "tasks",
                "column": "priority",
                "mapping": {"low": 1, "high": 3},
                "fold": True,
            },
        )
    )
    assert isinstance(check, DataPreserved)
    assert [check.expected_value(v) for v in (" High", "LOW ", "", None, "medium")] == [
        3,
        1,
        None,
        None,
        None,
    ]


def test_data_preserved_default_fills_the_unmapped() -> None:
    check = build_check(
        CheckSpec(
            "data_preserved",
            "data_preserved",
            1,
            options={
                "table": "tasks",
                "column": "is_done",
                "source": "status",
                "mapping": {"done": True},
                "default": False,
            },
        )
    )
    assert isinstance(check, DataPreserved)
    assert [check.expected_value(v) for v in ("done", "Done", "todo", None)] == [
        True,
        False,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("kind", "options", "fragment"),
    [
        ("schema_change", {"table": "users"}, r"^column: missing \(expected a column name"),
        ("data_preserved", {"column": "full_name"}, r"^table: missing \(expected the table"),
        (
            "downgrade_round_trip",
            {"rows": "yes"},
            r"^rows: expected true or false, found 'yes' \(string\)",
        ),
    ],
)
def test_bad_check_options_fail_when_the_spec_loads(
    kind: str, options: dict[str, object], fragment: str
) -> None:
    with pytest.raises(SpecError, match=fragment):
        build_check(CheckSpec(kind, kind, 1, options=options))
