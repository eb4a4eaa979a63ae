"""The gradebook: a class's results in a database whose schema migrates in place.

`Gradebook.open` accepts a file path (SQLite) or any SQLAlchemy URL and runs
the Alembic migrations shipped in this package up to their head. Ingesting a
results folder is idempotent and keeps every earlier grading as history;
malformed or foreign files are reported by name and skipped.
"""

from grader.classbook.gradebook.export import gradebook_csv
from grader.classbook.gradebook.folder import (
    REFERENCE_FILE,
    STATE_DIR,
    SkippedFile,
    StudentResults,
    read_results,
    results_file_name,
    scan,
    student_of,
)
from grader.classbook.gradebook.migration import (
    GradebookError,
    current_revision,
    head_revision,
    upgrade,
)
from grader.classbook.gradebook.store import (
    DEFAULT_FILE,
    Gradebook,
    GradingEntry,
    IngestReport,
    StudentRecord,
    canonical_document,
    document_digest,
    gradebook_url,
)

__all__ = [
    "DEFAULT_FILE",
    "REFERENCE_FILE",
    "STATE_DIR",
    "Gradebook",
    "GradebookError",
    "GradingEntry",
    "IngestReport",
    "SkippedFile",
    "StudentRecord",
    "StudentResults",
    "canonical_document",
    "current_revision",
    "document_digest",
    "gradebook_csv",
    "gradebook_url",
    "head_revision",
    "read_results",
    "results_file_name",
    "scan",
    "student_of",
    "upgrade",
]
