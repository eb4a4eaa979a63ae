"""Engines for the grader's and the runs' connections, with the driver options they need.

PyMySQL (1.2 and later) asks a MariaDB/MySQL server for TLS whenever it can
("preferred" mode): every connection first loads the system's certificate
authorities, about 25 ms of CPU, even when the server has TLS turned off (0.4 ms
without). Every run connects at least once and an exercise makes several runs,
so on a server on this machine (a loopback address or a Unix socket), where TLS
protects nothing, the grader turns it off. A URL naming any ``ssl`` option, and a
server on another host, keep PyMySQL's own choice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url

#: Host names that reach this machine only.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


def driver_options(url: str | URL) -> dict[str, Any]:
    """The connect arguments the grader adds for ``url`` (none for most URLs)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        return {}
    if parsed.get_driver_name() != "pymysql":
        return {}
    if any(key.lower().startswith("ssl") for key in parsed.query):
        return {}
    if parsed.host is not None and parsed.host.lower() not in LOOPBACK:
        return {}
    return {"ssl_disabled": True}


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """``create_engine(url, **kwargs)`` with `driver_options` added to its connect arguments."""
    added = driver_options(url)
    if added:
        kwargs["connect_args"] = {**added, **kwargs.get("connect_args", {})}
    return create_engine(url, **kwargs)
