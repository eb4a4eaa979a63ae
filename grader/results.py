"""The results contract: what a grading run found, as frozen dataclasses.

Every reporter and the dashboard read only these objects or their JSON form
(`to_json` / `from_json`). Scores are integers; totals are derived properties.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "ormgrade.results"
SCHEMA_VERSION = 1


class Outcome(enum.StrEnum):
    """How an exercise's grading ended.

    ``graded``: the submission ran and every check was judged (passed or not met).
    ``crashed``: the submission's own code raised, hung, exhausted memory or was
    missing; its checks earn nothing. ``grader_error``: the grader or its
    environment failed; this is never the student's fault and is reported as such.
    """

    GRADED = "graded"
    CRASHED = "crashed"
    GRADER_ERROR = "grader_error"


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence behind a check's verdict.

    Attributes:
        label: What the text is ("statement ×120", "plan", "measured").
        text: The SQL, plan lines or figure, shown verbatim to the student.
    """

    label: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "text": self.text}


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one exercise.

    Attributes:
        name: The check's name, unique within the exercise (``max_queries``).
        passed: Whether the expectation was met.
        points: Points earned: ``max_points`` when passed, else 0.
        max_points: Points the check is worth.
        message: What was observed against what was expected, in one sentence.
        hint: How to think about a fix, without giving it away (empty when passed).
        evidence: The statements, plan lines or figures the verdict rests on.
    """

    name: str
    passed: bool
    points: int
    max_points: int
    message: str
    hint: str = ""
    evidence: tuple[Evidence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "points": self.points,
            "max_points": self.max_points,
            "message": self.message,
            "hint": self.hint,
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            points=int(data["points"]),
            max_points=int(data["max_points"]),
            message=str(data.get("message", "")),
            hint=str(data.get("hint", "")),
            evidence=tuple(
                Evidence(str(e["label"]), str(e["text"])) for e in data.get("evidence", ())
            ),
        )


@dataclass(frozen=True)
class ExerciseResult:
    """The grade of one exercise of one submission.

    Attributes:
        id: The exercise id from the catalog (stable).
        title: The exercise's title.
        max_score: Points the exercise is worth (the sum of its checks' points).
        checks: The verdict of each check, in the spec's order.
        outcome: Whether the exercise was graded, crashed or hit a grader error.
        error: What went wrong when the outcome is not ``graded``; else None.
        duration: Wall-clock seconds spent grading this exercise.
        stats: Figures for reports and the dashboard (queries emitted, peak
            memory); informative, never scored.
    """

    id: str
    title: str
    max_score: int
    checks: tuple[CheckResult, ...] = ()
    outcome: Outcome = Outcome.GRADED
    error: str | None = None
    duration: float = 0.0
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> int:
        """Points earned: the sum over the checks (0 unless graded)."""
        if self.outcome is not Outcome.GRADED:
            return 0
        return sum(c.points for c in self.checks)

    @property
    def passed(self) -> bool:
        """Full marks."""
        return self.outcome is Outcome.GRADED and self.score == self.max_score

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "score": self.score,
            "max_score": self.max_score,
            "outcome": self.outcome.value,
            "error": self.error,
            "duration": round(self.duration, 4),
            "stats": dict(self.stats),
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExerciseResult:
        return cls(
            id=str(data["id"]),
            title=str(data.get("title", data["id"])),
            max_score=int(data["max_score"]),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks", ())),
            outcome=Outcome(data.get("outcome", Outcome.GRADED.value)),
            error=data.get("error"),
            duration=float(data.get("duration", 0.0)),
            stats=dict(data.get("stats") or {}),
        )


@dataclass(frozen=True)
class GradeReport:
    """Everything one grading run found about one submission.

    Attributes:
        exercises: The exercise results in the order graded.
        dialect: The database dialect graded on (``sqlite``, ``postgresql``, ``mysql``).
        seed: The dataset seed; passing it back with ``--seed`` reproduces the run.
        submission: The submission as given (a path or a label).
        created_at: When grading finished, ISO 8601 in UTC.
        grader_version: The ormgrade version that graded.
        warnings: Things the grader noticed that are not scored (edited protected files).
    """

    exercises: tuple[ExerciseResult, ...]
    dialect: str
    seed: int
    submission: str = ""
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    )
    grader_version: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def score(self) -> int:
        """Points earned over all exercises."""
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> int:
        """Points available over all exercises."""
        return sum(e.max_score for e in self.exercises)

    @property
    def grader_errors(self) -> tuple[ExerciseResult, ...]:
        """Exercises whose grading failed on the grader's side."""
        return tuple(e for e in self.exercises if e.outcome is Outcome.GRADER_ERROR)

    def exercise(self, exercise_id: str) -> ExerciseResult:
        """The result of exercise ``exercise_id``."""
        for result in self.exercises:
            if result.id == exercise_id:
                return result
        raise KeyError(exercise_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "grader_version": self.grader_version,
            "created_at": self.created_at,
            "submission": self.submission,
            "dialect": self.dialect,
            "seed": self.seed,
            "score": self.score,
            "max_score": self.max_score,
            "warnings": list(self.warnings),
            "exercises": [e.to_dict() for e in self.exercises],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GradeReport:
        """Read the JSON form back.

        Raises:
            ValueError: The document is not an ormgrade results document or has
                a schema version this grader cannot read.
        """
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise ValueError("not an ormgrade results document")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported results schema version {version!r}")
        return cls(
            exercises=tuple(ExerciseResult.from_dict(e) for e in data.get("exercises", ())),
            dialect=str(data["dialect"]),
            seed=int(data["seed"]),
            submission=str(data.get("submission", "")),
            created_at=str(data.get("created_at", "")),
            grader_version=str(data.get("grader_version", "")),
            warnings=tuple(str(w) for w in data.get("warnings", ())),
        )


def to_json(report: GradeReport) -> str:
    """The versioned JSON document for ``report``."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)


def from_json(text: str) -> GradeReport:
    """Parse a results document written by `to_json`."""
    return GradeReport.from_dict(json.loads(text))


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one.

    Line ends are LF on every system, so a results file reads the same wherever it was made.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
