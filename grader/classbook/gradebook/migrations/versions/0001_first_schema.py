"""The gradebook's first schema: students, gradings, exercise and check grades.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gradebook_students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gradebook_students"),
        sa.UniqueConstraint("name", name="uq_gradebook_students_name"),
    )
    op.create_table(
        "gradebook_gradings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("dialect", sa.String(32), nullable=False),
        sa.Column("grader_version", sa.String(32), nullable=False),
        sa.Column("graded_at", sa.DateTime(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("max_score", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["student_id"],
            ["gradebook_students.id"],
            name="fk_gradebook_gradings_student_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gradebook_gradings"),
        sa.UniqueConstraint("student_id", "digest", name="uq_gradebook_gradings_student_digest"),
    )
    op.create_table(
        "gradebook_exercise_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grading_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(100), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("max_score", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("queries", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grading_id"],
            ["gradebook_gradings.id"],
            name="fk_gradebook_exercise_grades_grading_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gradebook_exercise_grades"),
    )
    op.create_index(
        "ix_gradebook_exercise_grades_grading_id", "gradebook_exercise_grades", ["grading_id"]
    )
    op.create_table(
        "gradebook_check_grades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exercise_grade_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("max_points", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exercise_grade_id"],
            ["gradebook_exercise_grades.id"],
            name="fk_gradebook_check_grades_exercise_grade_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gradebook_check_grades"),
    )
    op.create_index(
        "ix_gradebook_check_grades_exercise_grade_id",
        "gradebook_check_grades",
        ["exercise_grade_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_gradebook_check_grades_exercise_grade_id", "gradebook_check_grades")
    op.drop_table("gradebook_check_grades")
    op.drop_index("ix_gradebook_exercise_grades_grading_id", "gradebook_exercise_grades")
    op.drop_table("gradebook_exercise_grades")
    op.drop_table("gradebook_gradings")
    op.drop_table("gradebook_students")
