"""Build real `Evaluation`s in-process: real SQLite files, real captures, real plans.

Checks are judged on what real code sent to a real database; only the child
process is skipped, which the end-to-end tests cover.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from grader.analysis.plan import Plan, explain
from grader.checks import Evaluation, build_check
from grader.checks.base import Check
from grader.course.spec import CheckSpec, ExerciseSpec
from grader.databases import dataset
from grader.domain import Base
from grader.execution.capture import capture
from grader.execution.child import normalize
from grader.execution.run import RunRecord


def seeded_engine(path: Path, size: str = "tiny", seed: int = 5) -> Engine:
    """A SQLite file at ``path`` holding the dataset of ``size``."""
    engine = create_engine(f"sqlite:///{path}")
    dataset.build(engine, dataset.SIZES[size], seed)
    return engine


def record(engine: Engine, fn: Callable[[Session], Any], role: str = "submission") -> RunRecord:
    """Run ``fn(session)`` under capture and keep what it did."""
    with capture(engine) as live, Session(engine) as session:
        value = normalize(fn(session))
    assert live.result is not None
    return RunRecord(role=role, purpose="main", value=value, log=live.result)


def plans_of(engine: Engine, run: RunRecord) -> dict[int, Plan | str]:
    """Plans of the SELECTs of ``run``."""
    plans: dict[int, Plan | str] = {}
    with engine.connect() as conn:
        for statement in run.log.statements:
            if statement.verb == "SELECT":
                params = statement.params
                plans[statement.index] = explain(
                    conn, statement.sql, tuple(params) if isinstance(params, list) else params
                )
    return plans


def spec_with(*checks: CheckSpec, **fields: Any) -> ExerciseSpec:
    """A minimal exercise spec holding ``checks``."""
    return ExerciseSpec(
        id=fields.pop("id", "example"),
        title="example",
        kind="query",
        directory=Path("."),
        editable=("task.py",),
        checks=checks,
        **fields,
    )


def check(kind: str, points: int = 1, name: str | None = None, **options: Any) -> Check:
    """A check of ``kind`` with ``options``."""
    return build_check(CheckSpec(kind=kind, name=name or kind, points=points, options=options))


def evaluation(
    oracle: RunRecord,
    main: RunRecord,
    *,
    scaled: RunRecord | None = None,
    plans: Mapping[int, Plan | str] | None = None,
    **spec_fields: Any,
) -> Evaluation:
    """An evaluation of ``main`` against ``oracle`` on the shared domain."""
    return Evaluation(
        spec=spec_with(**spec_fields),
        oracle=oracle,
        main=main,
        metadata=Base.metadata,
        seed=5,
        scaled=scaled,
        plans=dict(plans or {}),
    )
