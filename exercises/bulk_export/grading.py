"""Hooks of bulk_export: the CSV file the run wrote is the state compared."""

import csv
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection


def snapshot(connection: Connection, job: Any) -> dict[str, Any]:
    """The export as read back: its size, header, first and last rows, and a digest of all rows.

    The file is parsed as CSV, so quoting and line endings do not matter; the
    values and their order do. The keys come in the order a difference is
    reported in: the first one that differs is named in the feedback.
    """
    path = Path(job.workdir, job.params["path"])
    if not path.is_file():
        return {"file": f"{job.params['path']} was not written"}
    digest = hashlib.sha256()
    rows: list[list[str]] = []
    last: list[str] | None = None
    count = 0
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            digest.update(repr(row).encode())
            if len(rows) < 3:
                rows.append(row)
            last = row
            count += 1
    return {
        "lines": count,
        "header": rows[0] if rows else None,
        "first row": rows[1] if len(rows) > 1 else None,
        "second row": rows[2] if len(rows) > 2 else None,
        "last row": last if count > 3 else None,
        "sha256 of all rows": digest.hexdigest(),
    }
