"""PostgreSQL and MariaDB as grading databases: templates, per-run copies, leftovers.

The names and the COPY encoding are tested without a server; everything else
against the live servers (skipped with the reason when one does not answer,
failed instead under ``ORMGRADE_REQUIRE_SERVERS=1``). Each test builds its
templates from a size of its own and a seed drawn for this test session, and
the module drops them at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url

from grader.databases import dataset
from grader.databases.backend import backend_for
from grader.databases.connect import driver_options, make_engine
from grader.databases.dataset import DatasetSize
from grader.databases.postgresql import _copy_field
from grader.databases.server import (
    DRIVER_PACKAGES,
    HOST,
    MAX_NAME,
    NO_DRIVER,
    NOT_A_RUN,
    RUN_PREFIX,
    STALE_AFTER,
    TEMPLATE_PREFIX,
    UNREACHABLE,
    ScratchName,
    ServerBackend,
    process_alive,
    scratch_name,
    template_name,
)
from grader.domain import Base, Tag
from grader.errors import DatabaseError, UsageError
from grader.execution.run import Job
from grader.execution.sandbox import run_job
from tests.conftest import ROOT

#: A size of this module's own, small enough to build in a blink.
SIZE = DatasetSize("srvtest", users=40, projects=6, tasks=120, tags=8, comments=60)
#: A seed for this session: templates built here are new, the server may hold old ones.
SEED = random.SystemRandom().randrange(10**6, 10**7)


# -- without a server -------------------------------------------------------------------


def test_scratch_names_parse_back() -> None:
    name = scratch_name("r")
    parsed = ScratchName.parse(name)
    assert name.startswith(RUN_PREFIX)
    assert len(name) <= MAX_NAME
    assert parsed is not None
    assert (parsed.kind, parsed.host, parsed.pid) == ("r", HOST, os.getpid())
    assert abs(parsed.created - time.time()) < 60


@pytest.mark.parametrize(
    "name",
    ["test", "ormgrade_t_abc_small_s7", "ormgrade_r_xyz_1_2_ab", "ormgrade_x_a1b2c3_1_2_ab"],
)
def test_other_names_are_not_scratch_names(name: str) -> None:
    assert ScratchName.parse(name) is None


def test_leftover_when_its_process_is_gone_or_it_is_old() -> None:
    now = time.time()
    mine = ScratchName("r", HOST, 1234, int(now))
    assert mine.is_leftover(now, alive=lambda pid: False)
    assert not mine.is_leftover(now, alive=lambda pid: True)
    elsewhere = ScratchName("r", "ffffff", 1234, int(now))
    assert not elsewhere.is_leftover(now, alive=lambda pid: False)
    old = ScratchName("b", "ffffff", 1234, int(now - STALE_AFTER - 1))
    assert old.is_leftover(now, alive=lambda pid: True)


def test_process_alive() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(dead_pid())


def schema_with_priority(kind: type[Integer] | type[String]) -> MetaData:
    metadata = MetaData()
    Table("tasks", metadata, Column("id", Integer, primary_key=True), Column("priority", kind()))
    return metadata


def test_template_name_is_stable_and_keyed_by_size_seed_and_schema() -> None:
    name = template_name(SIZE, 7)
    assert name == template_name(SIZE, 7)
    assert name.startswith(TEMPLATE_PREFIX)
    assert name == template_name(SIZE, 7, Base.metadata)
    assert name != template_name(SIZE, 8)
    assert name != template_name(dataset.SIZES["small"], 7)
    # A keyed hash: the name does not tell the seed to a run that lists the databases.
    assert re.fullmatch(r"[0-9a-f]{24}", name.removeprefix(TEMPLATE_PREFIX))
    # A migration exercise's starter schema may differ from another only in a type.
    assert template_name(SIZE, 7, schema_with_priority(Integer)) != template_name(
        SIZE, 7, schema_with_priority(String)
    )


def test_template_name_fits_a_database_name_whatever_the_seed() -> None:
    huge = template_name(DatasetSize("a-very-long-size-name", 1, 1, 1), 10**40)
    assert len(huge) <= MAX_NAME
    assert huge.startswith(TEMPLATE_PREFIX)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (None, "\\N"),
        (True, "t"),
        (False, "f"),
        (42, "42"),
        ("tab\there\nnew\\line\r", "tab\\there\\nnew\\\\line\\r"),
        (dt.datetime(2024, 3, 1, 9, 30), "2024-03-01 09:30:00"),
    ],
)
def test_copy_text_format(value: object, field: str) -> None:
    assert _copy_field(value) == field


def test_unsupported_database_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unsupported database 'oracle'"):
        backend_for("oracle://scott@127.0.0.1/orcl")


def test_missing_driver_names_the_extra_to_install() -> None:
    url = "postgresql+pg8000://postgres@127.0.0.1/test"
    with pytest.raises(UsageError) as raised:
        backend_for(url)
    expected = NO_DRIVER.format(
        url=url,
        problem="No module named 'pg8000'",
        extra="postgres",
        package=DRIVER_PACKAGES["postgres"],
        example="postgresql+psycopg://…",
    )
    assert str(raised.value) == expected


def test_the_driver_packages_named_are_the_projects_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    for extra, package in DRIVER_PACKAGES.items():
        # The extra installs the driver the message names (and may add its async driver).
        assert package in extras[extra]


def test_dead_server_says_how_to_start_it() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/test"
    with pytest.raises(DatabaseError) as raised:
        backend_for(url)
    before, after = UNREACHABLE.split("{problem}")
    message = str(raised.value)
    assert message.startswith(before.format(dialect="postgresql", url=url))
    assert message.endswith(after)


# -- against the servers ----------------------------------------------------------------


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of one live server; this module's templates are dropped at the end."""
    url = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    yield url
    sweeper = backend_for(url)
    try:
        assert isinstance(sweeper, ServerBackend)
        for name in sweeper.templates():
            if "_srvtest_" in name or "_failing_" in name:
                sweeper._drop_unpinned(name)
    finally:
        sweeper.close()


@pytest.fixture
def backend(server: str) -> Iterator[ServerBackend]:
    made = backend_for(server)
    assert isinstance(made, ServerBackend)
    yield made
    made.close()


def engine_for(url: str) -> Engine:
    return create_engine(url)


def counts(url: str) -> dict[str, int]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def ours(names: list[str]) -> list[str]:
    """The run and build databases this process made."""
    return [
        n for n in names if (p := ScratchName.parse(n)) and p.pid == os.getpid() and p.host == HOST
    ]


def test_copy_holds_the_seeded_rows_keys_and_indexes(backend: ServerBackend) -> None:
    template = backend.template(SIZE, SEED)
    url = backend.copy(template)
    expected = {table: len(rows) for table, rows in dataset.generate(SIZE, SEED).items()}
    assert counts(url) == expected
    engine = engine_for(url)
    try:
        inspector = inspect(engine)
        keys = {fk["name"] for fk in inspector.get_foreign_keys("tasks")}
        assert keys == {"fk_tasks_project_id_projects", "fk_tasks_assignee_id_users"}
        assert {"ix_tasks_project_id", "ix_tasks_assignee_id"} <= {
            index["name"] for index in inspector.get_indexes("tasks")
        }
    finally:
        engine.dispose()
    backend.drop(url)


def test_copies_do_not_see_each_other(backend: ServerBackend) -> None:
    template = backend.template(SIZE, SEED)
    first, second = backend.copy(template), backend.copy(template)
    assert make_url(first).database != make_url(second).database
    engine = engine_for(first)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM comments"))
    engine.dispose()
    assert counts(first)["comments"] == 0
    assert counts(second)["comments"] == SIZE.comments
    assert counts(template.url)["comments"] == SIZE.comments


def test_copies_made_from_several_threads_at_once(backend: ServerBackend) -> None:
    template = backend.template(SIZE, SEED)
    start = threading.Barrier(3)
    urls: list[str] = []

    def copy() -> None:
        start.wait()
        urls.append(backend.copy(template))

    threads = [threading.Thread(target=copy) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({make_url(url).database for url in urls}) == 3
    for url in urls:
        assert counts(url)["tasks"] == SIZE.tasks
        backend.drop(url)


def test_new_rows_get_ids_after_the_seeded_ones(backend: ServerBackend) -> None:
    url = backend.copy(backend.template(SIZE, SEED))
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            new_id = conn.execute(insert(Tag).values(name="fresh").returning(Tag.id)).scalar_one()
    finally:
        engine.dispose()
    assert new_id == SIZE.tags + 1


def test_strings_compare_and_sort_in_byte_order(backend: ServerBackend) -> None:
    names = ["b", "B", "a", "_x", "A b", "Ab", "é", "z"]
    url = backend.copy(backend.template(SIZE, SEED))
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM task_tags"))
            conn.execute(text("DELETE FROM tags"))
            conn.execute(insert(Tag), [{"id": i, "name": n} for i, n in enumerate(names, 1)])
            ordered = conn.execute(select(Tag.name).order_by(Tag.name)).scalars().all()
            exact = conn.execute(select(Tag.name).where(Tag.name == "b")).scalars().all()
    finally:
        engine.dispose()
    assert ordered == sorted(names)
    assert exact == ["b"]


def test_planner_statistics_come_with_the_copy(backend: ServerBackend) -> None:
    url = backend.copy(backend.template(SIZE, SEED))
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            if backend.dialect == "postgresql":
                known = conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'tasks'")
                ).scalar_one()
            else:
                known = conn.execute(
                    text(
                        "SELECT n_rows FROM mysql.innodb_table_stats"
                        " WHERE database_name = DATABASE() AND table_name = 'tasks'"
                    )
                ).scalar_one()
    finally:
        engine.dispose()
    assert known == pytest.approx(SIZE.tasks, rel=0.5)


def test_empty_database_has_no_tables(backend: ServerBackend) -> None:
    url = backend.empty()
    engine = engine_for(url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    backend.drop(url)


def test_drop_refuses_what_is_not_a_run_database(backend: ServerBackend) -> None:
    with pytest.raises(UsageError) as raised:
        backend.drop(backend.url_of("test"))
    assert str(raised.value) == NOT_A_RUN.format(name="test", prefix=RUN_PREFIX)


def test_close_drops_every_run_database_and_spare(server: str) -> None:
    backend = backend_for(server)
    assert isinstance(backend, ServerBackend)
    template = backend.template(SIZE, SEED)
    kept = [backend.copy(template), backend.copy(template), backend.empty()]
    assert len(ours(backend.databases())) >= len(kept)
    backend.close()
    with pytest.raises(DatabaseError):
        backend.copy(template)
    checker = backend_for(server)
    assert isinstance(checker, ServerBackend)
    try:
        assert ours(checker.databases()) == []
        assert template.location in checker.templates()
    finally:
        checker.close()


def test_a_template_is_built_once_by_racing_backends(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = SEED + 1
    backends = [backend_for(server) for _ in range(3)]
    kind = type(backends[0])
    builds: list[str] = []
    build = kind._build  # type: ignore[attr-defined]

    def counted(self: ServerBackend, name: str, *args: object) -> None:
        builds.append(name)
        build(self, name, *args)

    monkeypatch.setattr(kind, "_build", counted)
    start = threading.Barrier(len(backends))
    names: list[str] = []
    errors: list[BaseException] = []

    def use(backend: object) -> None:
        assert isinstance(backend, ServerBackend)
        start.wait()
        try:
            names.append(backend.template(SIZE, seed).location)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(b,)) for b in backends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(names) == len(backends)
        assert len(set(names)) == 1
        assert builds == names[:1]
        first = backends[0]
        assert isinstance(first, ServerBackend)
        assert names[0] in first.templates()
        assert [n for n in ours(first.databases()) if n.startswith("ormgrade_b_")] == []
        url = first.copy(first.template(SIZE, seed))
        assert counts(url)["tasks"] == SIZE.tasks
    finally:
        for backend in backends:
            backend.close()


def test_a_pinned_template_is_never_evicted(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = SEED + 2
    user, evictor = backend_for(server), backend_for(server)
    assert isinstance(user, ServerBackend) and isinstance(evictor, ServerBackend)
    try:
        pinned = user.template(SIZE, seed).location
        # Only this test's template is a candidate: others belong to other gradings.
        monkeypatch.setattr(evictor, "_templates_oldest_first", lambda: [pinned])
        assert evictor.evict(keep=0) == []
        user.close()
        # The server lets go of a closed connection soon, not at once.
        dropped: list[str] = []
        for _ in range(100):
            dropped = evictor.evict(keep=0)
            if dropped:
                break
            time.sleep(0.05)
        assert dropped == [pinned]
        monkeypatch.undo()
        assert pinned not in evictor.templates()
    finally:
        user.close()
        evictor.close()


def create_database(server: str, name: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    finally:
        engine.dispose()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_leftovers_of_gone_processes_are_dropped_on_open(server: str) -> None:
    now = int(time.time())
    gone = f"ormgrade_r_{HOST}_{dead_pid()}_{now}_aaaaaa"
    old = f"ormgrade_b_ffffff_1_{now - int(STALE_AFTER) - 60}_bbbbbb"
    alive = f"ormgrade_r_{HOST}_{os.getppid()}_{now}_cccccc"
    elsewhere = f"ormgrade_r_ffffff_1_{now}_dddddd"
    for name in (gone, old, alive, elsewhere):
        create_database(server, name)
    backend = backend_for(server)
    assert isinstance(backend, ServerBackend)
    try:
        left = backend.databases()
        assert gone not in left
        assert old not in left
        assert alive in left
        assert elsewhere in left
    finally:
        for name in (alive, elsewhere):
            backend._drop_database(backend._admin, name)
        backend.close()


KILLED_RUN = """
import ast, os, signal, sys
from grader.databases.backend import backend_for
from grader.databases.dataset import DatasetSize
backend = backend_for(sys.argv[1])
size = DatasetSize(**ast.literal_eval(sys.argv[3]))
url = backend.copy(backend.template(size, int(sys.argv[2])))
backend._background().submit(lambda: None).result()  # the next copy is made too
print(os.getpid(), url, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_run_is_cleaned_up_by_the_next(server: str, tmp_path: Path) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED_RUN, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script), server, str(SEED), repr(dataset.describe(SIZE))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr
    pid, url = proc.stdout.split()
    assert make_url(url).database in backend_databases_before(server)
    backend = backend_for(server)
    assert isinstance(backend, ServerBackend)
    try:
        left = [ScratchName.parse(name) for name in backend.databases()]
        assert [p for p in left if p is not None and p.pid == int(pid) and p.host == HOST] == []
    finally:
        backend.close()


def backend_databases_before(server: str) -> list[str]:
    """The databases on the server, listed without opening a backend (which cleans up)."""
    engine = create_engine(server)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                return list(conn.execute(text("SELECT datname FROM pg_database")).scalars())
            return list(conn.execute(text("SHOW DATABASES")).scalars())
    finally:
        engine.dispose()


def test_a_failed_build_leaves_nothing_behind(backend: ServerBackend) -> None:
    # The generated titles do not fit the column: the load fails mid-build.
    metadata = MetaData()
    Table("tasks", metadata, Column("id", Integer, primary_key=True), Column("title", String(3)))
    size = DatasetSize("failing", users=5, projects=1, tasks=10, tags=1)
    with pytest.raises(DatabaseError, match="preparing the template"):
        backend.template(size, SEED, metadata)
    assert [n for n in ours(backend.databases()) if n.startswith("ormgrade_b_")] == []
    assert template_name(size, SEED, metadata) not in backend.templates()


# -- the driver options the grader adds ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "added"),
    [
        ("mysql+pymysql://root@127.0.0.1:3306/test", {"ssl_disabled": True}),
        ("mysql+pymysql://root@LOCALHOST/test", {"ssl_disabled": True}),
        ("mariadb+pymysql://root@[::1]:3306/test", {"ssl_disabled": True}),
        ("mysql+pymysql://root@/test?unix_socket=/run/mysqld/mysqld.sock", {"ssl_disabled": True}),
        ("mysql+pymysql://root@db.example.org/test", {}),
        ("mysql+pymysql://root@127.0.0.1/test?ssl_ca=/etc/ssl/ca.pem", {}),
        ("mysql+pymysql://root@127.0.0.1/test?ssl_disabled=false", {}),
        ("mysql+aiomysql://root@127.0.0.1/test", {}),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", {}),
        ("sqlite:///grading.sqlite", {}),
    ],
)
def test_tls_is_turned_off_only_for_pymysql_on_this_machine(
    url: str, added: dict[str, object]
) -> None:
    assert driver_options(url) == added


#: A run that tells whether its connection skipped the certificate authorities (PyMySQL
#: makes ``ctx``, an SSL context, before connecting unless TLS is turned off).
TLS_PROBE = """\
def run(engine):
    with engine.connect() as connection:
        return getattr(connection.connection.dbapi_connection, "ctx", None) is None
"""


@pytest.mark.mysql
def test_the_grader_and_its_runs_connect_to_a_local_mariadb_without_tls(
    mysql_url: str, tmp_path: Path
) -> None:
    import pymysql

    def loads_certificates(engine: Engine) -> bool:
        try:
            with engine.connect() as connection:
                return getattr(connection.connection.dbapi_connection, "ctx", None) is not None
        finally:
            engine.dispose()

    assert not loads_certificates(make_engine(mysql_url))
    # Connect arguments given are kept beside the added one, and win over it.
    assert not loads_certificates(make_engine(mysql_url, connect_args={"connect_timeout": 5}))
    if tuple(int(part) for part in pymysql.__version__.split(".")[:2]) >= (1, 2):
        # PyMySQL's own choice (TLS when the server offers it) loads them.
        assert loads_certificates(create_engine(mysql_url))
        assert loads_certificates(make_engine(mysql_url, connect_args={"ssl_disabled": False}))
    task = tmp_path / "task.py"
    task.write_text(TLS_PROBE, encoding="utf-8")
    job = Job(
        exercise_id="tls",
        role="submission",
        purpose="main",
        module_path=str(task),
        entry="run",
        call="engine",
        databases={"main": mysql_url},
        workdir=str(tmp_path),
    )
    record = run_job(job, timeout=60, memory_mb=1536)
    assert record.failure is None, record.failure
    assert record.value is True
