"""The SQLite template cache: keyed names, checksums, pins and least-recently-used eviction.

Template names are keyed hashes that only this cache's key reproduces, so a
run cannot tell a template's seed from its name; each template carries the
SHA-256 taken when it was built; a template pinned by a live grading is never
evicted.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import filelock

from grader.errors import UsageError


def default_cache_dir() -> Path:
    """Where seeded SQLite templates are kept between runs."""
    base = os.environ.get("ORMGRADE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ormgrade"
    )
    return Path(base)


#: Default size cap of the SQLite template cache, in MiB (``ORMGRADE_CACHE_MAX_MB``).
DEFAULT_CACHE_MAX_MB = 1024


CACHE_MAX_ENV = "ORMGRADE_CACHE_MAX_MB"


#: The note in the results when a cached template failed its checksum and was rebuilt.
TEMPLATE_REBUILT = (
    "a cached dataset template was damaged (its checksum did not match) and was rebuilt"
)


TEMPLATE_SUFFIX = ".sqlite"


CHECKSUM_SUFFIX = ".sha256"


PIN_MARK = ".pin-"


KEY_FILE = ".key"


#: The lock file that gradings hold while they build a template (one at a time per cache).
BUILD_LOCK = ".build.lock"


#: The build lock's file where the system has no file locks (a lock that is a file's
#: existence). It is another file than `BUILD_LOCK`: an OS lock leaves its file on
#: disk when released, which a lock of this kind would take as held for ever.
SOFT_BUILD_LOCK = ".build.softlock"


_CHUNK = 1 << 20


def cache_max_bytes() -> int:
    """The template cache's size cap, from ``ORMGRADE_CACHE_MAX_MB`` (MiB) or the default.

    Raises:
        UsageError: The variable is set but is not a whole number of MiB >= 0.
    """
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_MB * 2**20
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(f"{CACHE_MAX_ENV}={raw!r}: expected a whole number of MiB (0 or more)")
    return value * 2**20


def cache_key(cache_dir: Path) -> bytes:
    """The secret of this cache that template names are derived with (made on first use).

    Names are keyed hashes: neither a file's name nor a run database's name tells
    the dataset seed to code that can list the folder or the server.
    """
    path = cache_dir / KEY_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # Written whole to a file of this process's own, then linked into place: a
    # grading racing this one reads either no key or the whole key, never a part.
    draft = cache_dir / f"{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_bytes()
    except OSError:
        # A file system without hard links: the draft is renamed into place unless
        # a key is there already (the rename then replaces it with a whole key too).
        if not path.exists():
            os.replace(draft, path)
        return path.read_bytes()
    finally:
        draft.unlink(missing_ok=True)
    return key


def keyed_name(cache_dir: Path, *parts: object) -> str:
    """A name for ``parts`` that only this cache's key can reproduce (hex, 24 digits)."""
    return hmac.new(cache_key(cache_dir), repr(parts).encode(), hashlib.sha256).hexdigest()[:24]


def file_digest(path: Path | str) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedTemplate:
    """One template file of the cache, as `cache_entries` lists it.

    Attributes:
        path: The template file.
        size: Its size in bytes.
        last_used: When a grading last copied it (seconds since the epoch).
        pinned: Whether a running grading uses it now.
    """

    path: Path
    size: int
    last_used: float
    pinned: bool


def _pins(template: Path) -> list[Path]:
    return list(template.parent.glob(template.name + PIN_MARK + "*"))


def _pinned(template: Path) -> bool:
    pinned = False
    for pin in _pins(template):
        pid = pin.name.rsplit(PIN_MARK, 1)[1]
        if pid.isdigit() and _alive(int(pid)):
            pinned = True
        else:
            pin.unlink(missing_ok=True)  # left by a grading that is gone
    return pinned


def build_lock(cache_dir: Path) -> filelock.BaseFileLock:
    """The cache's build lock: held while a template is built, by one process at a time.

    Two gradings that need the same template then build it once (the second
    finds it built), and a template is never replaced under a reader, which
    Windows refuses. The lock is an OS file lock (``filelock``: ``msvcrt`` on
    Windows, ``fcntl`` elsewhere), released by the system when its holder dies.
    Only where neither exists is it a lock file of its own (`SOFT_BUILD_LOCK`),
    which ``filelock`` takes over from a holder that is gone.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        return filelock.WindowsFileLock(cache_dir / BUILD_LOCK)
    if filelock.has_fcntl:
        return filelock.UnixFileLock(cache_dir / BUILD_LOCK)
    return filelock.SoftFileLock(cache_dir / SOFT_BUILD_LOCK)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _windows_alive(pid: int) -> bool:
    """Whether process ``pid`` runs, on Windows (where ``os.kill(pid, 0)`` sends Ctrl-C)."""
    if sys.platform == "win32":
        import ctypes

        query_limited_information, access_denied, still_active = 0x1000, 5, 259
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        kernel32.OpenProcess.restype = ctypes.c_void_p
        handle = kernel32.OpenProcess(query_limited_information, False, pid)
        if not handle:
            return ctypes.get_last_error() == access_denied  # it exists, someone else's
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(ctypes.c_void_p(handle), ctypes.byref(code)):
                return True
            return code.value == still_active
        finally:
            kernel32.CloseHandle(ctypes.c_void_p(handle))
    return False


def cache_entries(cache_dir: Path | None = None) -> list[CachedTemplate]:
    """The templates of the cache, least recently used first."""
    folder = cache_dir or default_cache_dir()
    entries = []
    for path in folder.glob("*" + TEMPLATE_SUFFIX):
        if path.name.startswith("."):
            continue
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        entries.append(CachedTemplate(path, info.st_size, info.st_mtime, _pinned(path)))
    return sorted(entries, key=lambda e: e.last_used)


def _remove_template(path: Path) -> None:
    for name in (path, path.with_name(path.name + CHECKSUM_SUFFIX)):
        name.unlink(missing_ok=True)


def evict(cache_dir: Path | None = None, max_bytes: int | None = None) -> list[Path]:
    """Remove least recently used templates until the cache fits ``max_bytes``.

    A template pinned by a running grading is never removed. Returns what was removed.
    """
    limit = cache_max_bytes() if max_bytes is None else max_bytes
    entries = cache_entries(cache_dir)
    total = sum(e.size for e in entries)
    removed = []
    for entry in entries:
        if total <= limit:
            break
        if entry.pinned:
            continue
        _remove_template(entry.path)
        total -= entry.size
        removed.append(entry.path)
    return removed


def clear_cache(cache_dir: Path | None = None) -> list[Path]:
    """Remove every template of the cache that no running grading pins."""
    return evict(cache_dir, 0)
