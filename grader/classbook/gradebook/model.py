"""The gradebook's tables, as the latest migration leaves them.

Every table name starts with ``gradebook_`` so that a gradebook can live in a
database shared with other tables (any SQLAlchemy URL is allowed). The schema
itself is owned by the migrations in ``grader/classbook/gradebook/migrations``; these
models describe their head and a test keeps the two in step.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names every dialect accepts and migrations can refer to.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

#: Longest student id kept (a folder name).
NAME_LENGTH = 255


class GradebookBase(DeclarativeBase):
    """Declarative base of the gradebook (separate from the exercise domain)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Student(GradebookBase):
    """A student, named by their submission folder."""

    __tablename__ = "gradebook_students"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    gradings: Mapped[list[Grading]] = relationship(
        back_populates="student", cascade="all, delete-orphan", order_by="Grading.graded_at"
    )


class Grading(GradebookBase):
    """One results document of one student; a regrade adds a row, never replaces one.

    ``digest`` identifies the document's content, so ingesting the same
    results twice adds nothing.
    """

    __tablename__ = "gradebook_gradings"
    __table_args__ = (
        UniqueConstraint("student_id", "digest", name="uq_gradebook_gradings_student_digest"),
        Index("ix_gradebook_gradings_student_graded", "student_id", "graded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("gradebook_students.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(1024), default="")
    seed: Mapped[int] = mapped_column(BigInteger)
    dialect: Mapped[str] = mapped_column(String(32))
    grader_version: Mapped[str] = mapped_column(String(32), default="")
    graded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime)
    score: Mapped[int] = mapped_column(Integer)
    max_score: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[str] = mapped_column(Text, default="[]")
    document: Mapped[str | None] = mapped_column(Text, nullable=True)

    student: Mapped[Student] = relationship(back_populates="gradings")
    exercises: Mapped[list[ExerciseGrade]] = relationship(
        back_populates="grading", cascade="all, delete-orphan", order_by="ExerciseGrade.position"
    )


class ExerciseGrade(GradebookBase):
    """One exercise of one grading."""

    __tablename__ = "gradebook_exercise_grades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grading_id: Mapped[int] = mapped_column(
        ForeignKey("gradebook_gradings.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    exercise_id: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(255))
    score: Mapped[int] = mapped_column(Integer)
    max_score: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    queries: Mapped[int | None] = mapped_column(Integer, nullable=True)
    starter_queries: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration: Mapped[float] = mapped_column(Float, default=0.0)

    grading: Mapped[Grading] = relationship(back_populates="exercises")
    checks: Mapped[list[CheckGrade]] = relationship(
        back_populates="exercise", cascade="all, delete-orphan", order_by="CheckGrade.position"
    )


class CheckGrade(GradebookBase):
    """One check of one exercise of one grading; ``evidence`` is a JSON list."""

    __tablename__ = "gradebook_check_grades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exercise_grade_id: Mapped[int] = mapped_column(
        ForeignKey("gradebook_exercise_grades.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    passed: Mapped[bool] = mapped_column(Boolean)
    points: Mapped[int] = mapped_column(Integer)
    max_points: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    hint: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text, default="[]")

    exercise: Mapped[ExerciseGrade] = relationship(back_populates="checks")
