"""What keeps a grade from being faked, unit by unit: the checks' own rules, the
template cache, the audit hook's policy.

The end-to-end cases (a submission graded beside a good exercise) are in
``tests/test_hostile.py``; these test the parts those cases rest on.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.checks.base import NO_STATEMENTS, WRONG_ON_RUN, judge_all
from grader.checks.query import describe_difference
from grader.cli import main
from grader.databases.cache import (
    CACHE_MAX_ENV,
    CHECKSUM_SUFFIX,
    TEMPLATE_REBUILT,
    cache_entries,
    cache_max_bytes,
    evict,
)
from grader.databases.dataset import SIZES
from grader.databases.sqlite import RACY_NS, SQLiteBackend, verified
from grader.databases.template import Template
from grader.errors import UsageError
from grader.execution.run import RunRecord
from tests.recording import check, evaluation, record, seeded_engine

SEED = 5


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    seeded = seeded_engine(tmp_path_factory.mktemp("faking") / "tiny.sqlite")
    yield seeded
    seeded.dispose()  # Python 3.13 warns of a SQLite connection left open


def _users(session: Session) -> list[tuple[int, str]]:
    return [tuple(r) for r in session.execute(select_users())]  # type: ignore[misc]


def select_users():  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from grader.domain import User

    return select(User.id, User.name).order_by(User.id)


# -- a statement-based check needs statements --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("max_queries", {"max": 1}),
        ("clause", {"table": "users", "clause": "where", "present": False}),
        ("column_projection", {"table": "users", "columns": ["id", "name"]}),
    ],
)
def test_statement_check_is_not_met_by_an_answer_without_statements(
    engine: Engine, kind: str, options: dict[str, object]
) -> None:
    oracle = record(engine, _users, "oracle")
    answer = oracle.value
    main_run = RunRecord("submission", "main", value=answer)  # the right answer, no statement
    results = judge_all(
        [check("correct_result"), check(kind, **options)], evaluation(oracle, main_run)
    )
    assert results[0].passed
    assert not results[1].passed
    assert results[1].message == NO_STATEMENTS.format(tables="users")


def test_statement_check_with_statements_is_judged_as_before(engine: Engine) -> None:
    oracle = record(engine, _users, "oracle")
    main_run = record(engine, _users)
    results = judge_all(
        [check("correct_result"), check("max_queries", max=1)], evaluation(oracle, main_run)
    )
    assert all(r.passed for r in results)


# -- every run a check relies on is correct ------------------------------------------------


def test_a_check_on_a_wrong_scaled_run_is_not_met(engine: Engine) -> None:
    oracle = record(engine, _users, "oracle")
    main_run = record(engine, _users)
    scaled_oracle = RunRecord("oracle", "scaled", value=[[1, "a"], [2, "b"]], log=oracle.log)
    scaled = RunRecord("submission", "scaled", value=[], log=main_run.log)
    checks = [check("correct_result"), check("no_n_plus_one"), check("max_queries", max=1)]
    ev = evaluation(oracle, main_run, scaled=scaled)
    ev = type(ev)(**{**ev.__dict__, "scaled_oracle": scaled_oracle})
    results = judge_all(checks, ev)
    difference = describe_difference([[1, "a"], [2, "b"]], [])
    assert results[1].message == WRONG_ON_RUN.format(run="scaled", difference=difference)
    assert not results[1].passed
    assert results[2].passed  # judged on the main run only


# -- the template cache --------------------------------------------------------------------


def test_damaged_template_is_rebuilt_with_a_note(tmp_path: Path) -> None:
    backend = SQLiteBackend(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work")
    template = backend.template(SIZES["tiny"], SEED)
    with open(template.location, "r+b") as damaged:
        damaged.seek(4096)
        damaged.write(b"\xff" * 4096)
    url = backend.copy(template)
    assert backend.notes == [TEMPLATE_REBUILT]
    path = url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (40,)
    backend.close()


def _verified_template(tmp_path: Path) -> tuple[SQLiteBackend, Template]:
    """A backend whose tiny template this process has hashed, found sound and remembered."""
    backend = SQLiteBackend(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work")
    template = backend.template(SIZES["tiny"], SEED)
    time.sleep(2 * RACY_NS / 1e9)  # older than a clock tick: its stat is trusted
    backend.drop(backend.copy(template))  # hashed while copied, and remembered
    assert verified(template.location)
    backend.drop(backend.copy(template))  # copied as it is
    assert backend.notes == []
    assert verified(template.location)
    return backend, template


def _copy_is_sound(url: str) -> None:
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (40,)


def test_template_damaged_after_it_was_verified_is_still_rebuilt(tmp_path: Path) -> None:
    backend, template = _verified_template(tmp_path)
    with open(template.location, "r+b") as damaged:
        damaged.seek(4096)
        damaged.write(b"\xff" * 4096)
    url = backend.copy(template)
    assert backend.notes == [TEMPLATE_REBUILT]
    _copy_is_sound(url)
    backend.close()


def test_template_damaged_with_its_mtime_put_back_is_still_rebuilt(tmp_path: Path) -> None:
    backend, template = _verified_template(tmp_path)
    before = os.stat(template.location)
    with open(template.location, "r+b") as damaged:
        damaged.seek(4096)
        damaged.write(b"\xff" * 4096)
    # Same size, same mtime: only the ctime, which no writer can set, tells the change.
    os.utime(template.location, ns=(before.st_atime_ns, before.st_mtime_ns))
    url = backend.copy(template)
    assert backend.notes == [TEMPLATE_REBUILT]
    _copy_is_sound(url)
    backend.close()


def test_template_replaced_by_another_file_is_still_rebuilt(tmp_path: Path) -> None:
    backend, template = _verified_template(tmp_path)
    forged = Path(template.location + ".forged")
    forged.write_bytes(b"\0" * os.stat(template.location).st_size)
    os.replace(forged, template.location)
    url = backend.copy(template)
    assert backend.notes == [TEMPLATE_REBUILT]
    _copy_is_sound(url)
    backend.close()


def test_verified_template_copies_stay_sound(tmp_path: Path) -> None:
    backend, template = _verified_template(tmp_path)
    _copy_is_sound(backend.copy(template))
    assert backend.notes == []
    backend.close()


def test_template_name_does_not_tell_the_seed(tmp_path: Path) -> None:
    backend = SQLiteBackend(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work")
    template = backend.template(SIZES["tiny"], 123457)
    assert "123457" not in Path(template.location).name
    assert "tiny" not in Path(template.location).name
    other = SQLiteBackend(cache_dir=tmp_path / "other", work_dir=tmp_path / "work2")
    # Another cache has another key: the name cannot be recomputed without it.
    assert Path(other.template(SIZES["tiny"], 123457).location).name != Path(template.location).name
    backend.close()
    other.close()


def test_cache_evicts_least_recently_used_but_never_a_pinned_template(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = SQLiteBackend(cache_dir=cache, work_dir=tmp_path / "w1")
    old = Path(first.template(SIZES["tiny"], 1).location)
    first.close()  # unpinned
    pinned_by = SQLiteBackend(cache_dir=cache, work_dir=tmp_path / "w2")
    pinned = Path(pinned_by.template(SIZES["tiny"], 2).location)
    os.utime(pinned, (1, 1))  # the oldest of all, but in use
    newest = Path(
        SQLiteBackend(cache_dir=cache, work_dir=tmp_path / "w3").template(SIZES["tiny"], 3).location
    )
    removed = evict(cache, max_bytes=pinned.stat().st_size + newest.stat().st_size)
    assert removed == [old]
    assert pinned.exists() and newest.exists()
    assert not Path(str(old) + CHECKSUM_SUFFIX).exists()
    assert [e.pinned for e in cache_entries(cache) if e.path == pinned] == [True]
    pinned_by.close()


def test_cache_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_MAX_ENV, "5")
    assert cache_max_bytes() == 5 * 2**20
    monkeypatch.setenv(CACHE_MAX_ENV, "lots")
    with pytest.raises(UsageError, match=CACHE_MAX_ENV):
        cache_max_bytes()


def test_cache_command_shows_and_clears(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ORMGRADE_CACHE", str(cache))
    backend = SQLiteBackend(cache_dir=cache, work_dir=tmp_path / "work")
    template = Path(backend.template(SIZES["tiny"], 9).location)
    backend.close()
    shown = CliRunner().invoke(main, ["cache", "show"])
    assert shown.exit_code == 0, shown.output
    assert template.name in shown.output
    assert "1 template(s)" in shown.output
    cleared = CliRunner().invoke(main, ["cache", "clear"])
    assert cleared.exit_code == 0
    assert "removed 1 template(s)" in cleared.output
    assert not template.exists()
    assert "Remove every cached template" in CliRunner().invoke(main, ["cache", "--help"]).output


# -- the audit hook, in a process of its own ---------------------------------------------------

HOOKED = """
import os, sys
from grader.execution import audit
audit.install(audit.RunPolicy(run_dir=sys.argv[1]))
audit.arm()
audit.set_phase("call")
{body}
"""


def _hooked(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = HOOKED.format(body=textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )


def test_legitimate_library_use_is_not_refused(tmp_path: Path) -> None:
    done = _hooked(
        tmp_path,
        """
        import collections, typing, tempfile, threading, traceback, json, decimal
        Point = collections.namedtuple("Point", "x y")
        T = typing.TypeVar("T")
        lock = threading.Lock()
        with lock:
            pass
        try:
            raise ValueError("x")
        except ValueError:
            traceback.format_exc()
        with open(os.path.join(sys.argv[1], "out.csv"), "w") as out:
            out.write("a,b\\n")
        import sqlite3
        sqlite3.connect(":memory:").execute("SELECT 1")
        print("ok", audit.account().refusals)
        """,
    )
    assert done.stdout.strip() == "ok []", done.stderr


def test_refusals_stay_in_the_account_even_when_caught(tmp_path: Path) -> None:
    done = _hooked(
        tmp_path,
        """
        import gc
        outside = "/tmp/x-ormgrade"
        for attempt in (lambda: os.system("true"), gc.get_objects, lambda: open(outside, "w")):
            try:
                attempt()
            except PermissionError:
                pass
        print(len(audit.account().refusals))
        """,
    )
    assert done.stdout.strip() == "3", done.stderr
