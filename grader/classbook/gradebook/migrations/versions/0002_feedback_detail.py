"""Keep the feedback in full: check evidence, warnings, starter query counts, the document.

Grades ingested under the first schema keep every figure they had; their new
text columns are backfilled with an empty JSON list before being made NOT
NULL (add nullable, backfill, then constrain), and the original document,
which the first schema did not keep, stays null for them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

EMPTY_LIST = "[]"


def upgrade() -> None:
    with op.batch_alter_table("gradebook_check_grades") as batch:
        batch.add_column(sa.Column("evidence", sa.Text(), nullable=True))
    with op.batch_alter_table("gradebook_gradings") as batch:
        batch.add_column(sa.Column("warnings", sa.Text(), nullable=True))
        batch.add_column(sa.Column("document", sa.Text(), nullable=True))
    with op.batch_alter_table("gradebook_exercise_grades") as batch:
        batch.add_column(sa.Column("starter_queries", sa.Integer(), nullable=True))

    checks = sa.table("gradebook_check_grades", sa.column("evidence", sa.Text()))
    gradings = sa.table("gradebook_gradings", sa.column("warnings", sa.Text()))
    op.execute(checks.update().where(checks.c.evidence.is_(None)).values(evidence=EMPTY_LIST))
    op.execute(gradings.update().where(gradings.c.warnings.is_(None)).values(warnings=EMPTY_LIST))

    with op.batch_alter_table("gradebook_check_grades") as batch:
        batch.alter_column("evidence", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("gradebook_gradings") as batch:
        batch.alter_column("warnings", existing_type=sa.Text(), nullable=False)
        batch.create_index("ix_gradebook_gradings_student_graded", ["student_id", "graded_at"])


def downgrade() -> None:
    with op.batch_alter_table("gradebook_gradings") as batch:
        batch.drop_index("ix_gradebook_gradings_student_graded")
        batch.drop_column("document")
        batch.drop_column("warnings")
    with op.batch_alter_table("gradebook_exercise_grades") as batch:
        batch.drop_column("starter_queries")
    with op.batch_alter_table("gradebook_check_grades") as batch:
        batch.drop_column("evidence")
