"""Shared fixtures: the catalog, example submissions and the database servers.

Tests that need the PostgreSQL or MariaDB server, or the Redis or RabbitMQ
broker, skip with the reason when it is not reachable, unless
``ORMGRADE_REQUIRE_SERVERS=1`` (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from grader.course.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"
POSTGRES_URL = os.environ.get(
    "ORMGRADE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("ORMGRADE_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
#: Redis database 14 is the tests' own; each test also uses a queue of its own.
REDIS_URL = os.environ.get("ORMGRADE_TEST_REDIS", "redis://127.0.0.1:6379/14")
RABBITMQ_URL = os.environ.get("ORMGRADE_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")
REQUIRE_ENV = "ORMGRADE_REQUIRE_SERVERS"


def _reachable(url: str) -> str | None:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except Exception as exc:  # any driver error means: not reachable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()


def _broker_reachable(url: str) -> str | None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
            return None
    except Exception as exc:  # any transport error means: not reachable
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def server_url(url: str, name: str, broker: bool = False) -> str:
    """``url`` when its server answers; else skip (or fail under ORMGRADE_REQUIRE_SERVERS=1)."""
    problem = _broker_reachable(url) if broker else _reachable(url)
    if problem is None:
        return url
    reason = f"{name} not reachable at {url}: {problem}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test server's URL."""
    return server_url(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The MariaDB/MySQL test server's URL."""
    return server_url(MYSQL_URL, "MariaDB")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis broker's URL (the tests' own database number)."""
    return server_url(REDIS_URL, "Redis", broker=True)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The RabbitMQ broker's URL."""
    return server_url(RABBITMQ_URL, "RabbitMQ", broker=True)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """This repository's catalog."""
    return Catalog(ROOT)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep seeded templates of the test run out of the user's cache.

    The processes of one run (pytest-xdist) share one cache: each template is
    built once (under the cache's build lock), not once per process.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "ormgrade-cache"
        shared.mkdir(exist_ok=True)
        os.environ.setdefault("ORMGRADE_CACHE", str(shared))
    else:
        os.environ.setdefault("ORMGRADE_CACHE", str(tmp_path_factory.mktemp("ormgrade-cache")))


#: Most processes `-n auto` starts, and how many per core: the tests wait on child
#: processes, servers and brokers much of the time, so a core serves two.
MAX_TEST_PROCESSES = 8
TEST_PROCESSES_PER_CORE = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """How many processes `-n auto` starts (``PYTEST_XDIST_AUTO_NUM_WORKERS`` wins)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(MAX_TEST_PROCESSES, TEST_PROCESSES_PER_CORE * (cores or 1))


#: The modules that take longest, started first: the processes then end at about
#: the same time instead of one of them running a long module alone at the end
#: (`--no-loadscope-reorder` keeps this order; pytest-xdist would otherwise
#: order modules by their number of tests). Measured wall times of one run with
#: four processes on 2 cores, in seconds: the variants on three dialects 88, the
#: zero-downtime migration 70, the Celery workers 53 (mostly waiting for workers
#: to start, die and retry), the write checks 45 (a traced export), the hostile
#: submissions 39, async grading 35, the server databases 29, the dialects 28,
#: bulk grading 23, the portable sandbox 20, migration grading 19, the notebook
#: kernel 17; every other module takes under 15.
LONGEST_FIRST = (
    "test_alternatives.py",
    "test_zero_downtime.py",
    "test_worker.py",
    "test_checks_write.py",
    "test_hostile.py",
    "test_grading_async.py",
    "test_server_database.py",
    "test_dialects.py",
    "test_bulk.py",
    "test_portable.py",
    "test_migration_grading.py",
    "test_notebook_kernel.py",
)


def _start_rank(item: pytest.Item) -> int:
    name = item.path.name
    return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first (`LONGEST_FIRST`); each module's tests keep their order."""
    items.sort(key=_start_rank)  # stable: the other modules keep the collection's order


def case_dir(name: str) -> Path:
    """The example submission folder of a test case."""
    path = CASES / name
    assert path.is_dir(), f"missing test case folder {path}"
    return path
