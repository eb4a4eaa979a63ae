"""Lock feedback: the upgrade written out as PostgreSQL SQL, read by the squawk linter.

Feedback only, never graded: what the upgrade would lock on a large
PostgreSQL table. Without squawk installed the feedback is the SQL alone.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from grader.migrations.failure import one_line
from grader.migrations.project import MIGRATIONS_DIR

# Why there is no lock feedback.
SQUAWK_MISSING = "squawk is not installed (pip install squawk-cli): no lock feedback"


NOT_RENDERED = "the upgrade could not be written out as PostgreSQL SQL ({error}): no lock feedback"


SQUAWK_FAILED = "squawk could not read the upgrade's SQL ({error}): no lock feedback"


#: Squawk rules left out of the feedback: they are about style or types, not about locks.
SQUAWK_EXCLUDED = (
    "prefer-robust-stmts",
    "require-lock-timeout",
    "require-statement-timeout",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-timestamptz",
)


#: Seconds squawk may take.
SQUAWK_TIMEOUT = 20.0


@dataclass(frozen=True)
class LintFinding:
    """One warning of the squawk linter on the upgrade's PostgreSQL SQL.

    Attributes:
        rule: Squawk's rule (``require-concurrent-index-creation``).
        message: What it says, with its suggestion.
    """

    rule: str
    message: str


def render_postgresql(project: Path, metadata: MetaData, start: str) -> str:
    """The upgrade from ``start`` to head as PostgreSQL SQL (Alembic's offline mode)."""
    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(project / MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", "postgresql://")
    config.attributes["target_metadata"] = metadata
    command.upgrade(config, f"{start}:head", sql=True)
    return buffer.getvalue()


def squawk_binary() -> str | None:
    """The squawk executable: next to this Python's, or on the PATH."""
    beside = Path(sys.executable).parent / "squawk"
    return str(beside) if beside.is_file() else shutil.which("squawk")


def lint_postgresql(sql: str) -> tuple[tuple[LintFinding, ...], str]:
    """Squawk's findings on ``sql``, and a note when there are none to be had."""
    binary = squawk_binary()
    if binary is None:
        return (), SQUAWK_MISSING
    try:
        done = subprocess.run(
            [binary, "--reporter", "gitlab", "--exclude", ",".join(SQUAWK_EXCLUDED)],
            input=sql,
            capture_output=True,
            text=True,
            timeout=SQUAWK_TIMEOUT,
            check=False,
        )
        found = json.loads(done.stdout or "[]")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return (), SQUAWK_FAILED.format(error=one_line(exc))
    findings: dict[tuple[str, str], None] = {}
    for item in found if isinstance(found, list) else []:
        if isinstance(item, dict):
            findings[(str(item.get("check_name", "")), str(item.get("description", "")))] = None
    return tuple(LintFinding(rule, message) for rule, message in findings), ""


def lint_upgrade(project: Path, metadata: MetaData, start: str) -> dict[str, Any]:
    """The lock feedback fields of a `MigrationReport` for the upgrade from ``start``."""
    try:
        sql = render_postgresql(project, metadata, start)
    except (SystemExit, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        return {"lint_note": NOT_RENDERED.format(error=one_line(exc))}
    findings, note = lint_postgresql(sql)
    return {"postgresql_sql": sql, "lint": findings, "lint_note": note}
