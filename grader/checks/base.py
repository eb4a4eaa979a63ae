"""The check protocol, the registry of check kinds and the scoring rule."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from grader.analysis.sqlshape import StatementShape, parse_statement
from grader.errors import SpecError, SpecFieldError
from grader.results import CheckResult, Evidence
from grader.rule import (
    MISSING_KEY,
    NAME,
    OPTIONS_OF,
    POINTS,
    RULE,
    STRING,
    UNKNOWN_OPTION,
    WRONG_VALUE,
    Rule,
    describe,
    spec_key,
    suggestion,
)

# Loading a spec builds its checks (to validate their options), and `ormgrade list` loads
# every spec: what only judging needs, and SQLAlchemy with it, is imported when judging.
if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from grader.analysis.plan import Plan
    from grader.course.spec import ExerciseSpec
    from grader.execution.run import RunRecord

#: The message of every check skipped because the result was wrong.
NOT_JUDGED = "not judged: the result is not correct, and speed only counts for a correct answer"
NOT_JUDGED_HINT = "Make correct_result pass first."
#: A check whose further run returned another answer than the starter's on the same data.
WRONG_ON_RUN = (
    "not met: on the {run} run this check relies on, the result differs from the "
    "starter's on the same data ({difference}); every run must be correct, not only the first"
)
WRONG_ON_RUN_HINT = "Return the same result whatever the data's size and however it is run."
#: A statement-based check on a run that read the judged table(s) with no statement.
NO_STATEMENTS = (
    "not met: no statement of the run read {tables}, so there are no statements to judge; "
    "a correct answer must come from the database, not from elsewhere"
)
NO_STATEMENTS_HINT = "Read the data with SQL on the session or engine the exercise hands you."


@dataclass(frozen=True)
class CheckSpec:
    """One ``[[checks]]`` table of a spec.

    Attributes:
        kind: The check kind (``max_queries``), a key of `grader.checks.CHECK_KINDS`.
        name: The name shown to students; defaults to the kind.
        points: Points the check is worth (an integer >= 0).
        hint: The instructor's hint shown when the check is not met.
        options: The kind's own settings (``max = 1``, ``table = "users"``); the
            check kind declares and validates them.
    """

    kind: str = spec_key(Rule(NAME.expected, NAME.accepts, required=True))
    name: str = spec_key(NAME)
    points: int = spec_key(Rule(POINTS.expected, POINTS.accepts, required=True))
    hint: str = spec_key(STRING, default="")
    options: Mapping[str, Any] = field(default_factory=dict)


#: The keys every ``[[checks]]`` table may have besides its kind's options.
CHECK_KEYS = tuple(f.name for f in fields(CheckSpec) if RULE in f.metadata)


@dataclass(frozen=True)
class Verdict:
    """A check's judgement, before points are attached.

    Attributes:
        passed: The expectation was met.
        message: The figure observed and the bound, in one sentence.
        evidence: The statements, plan lines or figures behind the verdict.
        hint: Overrides the spec's hint when the check has a more specific one.
    """

    passed: bool
    message: str
    evidence: tuple[Evidence, ...] = ()
    hint: str = ""


@dataclass(frozen=True)
class Evaluation:
    """What the checks of one exercise judge.

    Attributes:
        spec: The exercise.
        oracle: The starter's run on the grading dataset.
        main: The submission's run on the same dataset (a fresh copy).
        scaled: The submission's run on the larger dataset, when a check needs it.
        scaled_oracle: The starter's run on the larger dataset, when needed.
        plans: Per statement index of ``main``, its plan (or why there is none).
        metadata: The schema the statements run against (for column lists).
        seed: The dataset seed of this grading run.
        extra: Results of further runs that exercise kinds need (memory, faults).
    """

    spec: ExerciseSpec
    oracle: RunRecord
    main: RunRecord
    metadata: MetaData
    seed: int = 0
    scaled: RunRecord | None = None
    scaled_oracle: RunRecord | None = None
    plans: Mapping[int, Plan | str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def shapes(self) -> tuple[StatementShape, ...]:
        """The SQL shape of every statement of the main run, by index."""
        return tuple(parse_statement(s.sql) for s in self.main.log.statements)


class Check:
    """Base of every check kind.

    Subclasses set ``kind`` (the spec's name for them), ``needs`` (extra runs
    or analysis: ``"scaled"``, ``"plans"``, ``"memory"``…), ``default_hint``,
    read their options in ``configure`` and implement ``judge``.
    """

    kind: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    default_hint: ClassVar[str] = ""
    #: Judged even when correct_result failed (correct_result itself).
    gate: ClassVar[bool] = False
    #: Judges the statements that read a table: never met by an answer read with none.
    statement_based: ClassVar[bool] = False
    #: Options whose value is one of a few words, with those words (first: the example).
    choices: ClassVar[Mapping[str, Sequence[str]]] = {}
    #: Set while `declared_options` reads the options ``configure`` asks for.
    _declared: list[OptionDoc] | None = None

    def __init__(self, spec: CheckSpec) -> None:
        self.spec = spec
        self.options = dict(spec.options)
        self.read: list[str] = []
        self.configure()
        if self.options:
            key = sorted(self.options)[0]
            known = ", ".join(self.read) or "none"
            raise SpecFieldError(
                key, self._unknown(key) + OPTIONS_OF.format(kind=self.kind, known=known)
            )

    def _unknown(self, key: str) -> str:
        return UNKNOWN_OPTION.format(key=key, suggestion=suggestion(key, self.read))

    @property
    def name(self) -> str:
        """The check's name in results."""
        return self.spec.name

    def configure(self) -> None:
        """Read this kind's options with `option` (each read removes it)."""

    def option(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        """Take option ``key`` of type ``kind``; raise SpecFieldError if it is missing or wrong.

        No value is coerced: ``"yes"`` is not a boolean and ``true`` is not an integer.
        """
        self.read.append(key)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if self._declared is not None:
            self._declared.append(
                OptionDoc(key, _expected(kinds), default, tuple(self.choices.get(key, ())))
            )
            if default is not ...:
                return default
            return self.choices[key][0] if key in self.choices else _SAMPLES[kinds[0]]
        if key not in self.options:
            if default is ...:
                # A required option that is absent is often a misspelt one.
                close = [k for k in self.options if suggestion(k, [key])]
                if close:
                    raise SpecFieldError(close[0], self._unknown(close[0]))
                raise SpecFieldError(key, MISSING_KEY.format(expected=_expected(kinds)))
            return default
        value = self.options.pop(key)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise SpecFieldError(
                key, WRONG_VALUE.format(expected=_expected(kinds), found=describe(value))
            )
        return value

    def judge(self, evaluation: Evaluation) -> Verdict:
        """Judge ``evaluation``; never raises for a bad submission."""
        raise NotImplementedError


@dataclass(frozen=True)
class OptionDoc:
    """One option a check kind reads, as the reference shows it.

    Attributes:
        name: The option's key in the ``[[checks]]`` table.
        expected: Its type in words ("an integer").
        default: Its value when absent; ``...`` when it is required.
        choices: The words it accepts, when it is one of a few.
    """

    name: str
    expected: str
    default: Any
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """The option must be given."""
        return self.default is ...


#: A value of each option type, handed to ``configure`` while its options are listed.
_SAMPLES: dict[type, Any] = {str: "x", int: 1, float: 1.0, bool: True, list: [], dict: {}}


def declared_options(cls: type[Check]) -> tuple[OptionDoc, ...]:
    """The options ``cls.configure`` reads, in the order it reads them.

    ``configure`` runs on a bare instance whose `Check.option` records each
    call and returns the default (or an example value); a refusal it raises
    once every option is read (two options that exclude each other) is ignored.
    """
    probe = cls.__new__(cls)
    probe.spec = CheckSpec(kind=cls.kind, name=cls.kind, points=0)
    probe.options = {}
    probe.read = []
    probe._declared = []
    with contextlib.suppress(SpecError):
        probe.configure()
    seen: dict[str, OptionDoc] = {}
    for doc in probe._declared:
        seen.setdefault(doc.name, doc)
    return tuple(seen.values())


#: A check kind no module registered.
UNKNOWN_KIND = "unknown check kind {kind!r}{suggestion} (known: {known})"
#: Option types in words, for messages.
_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def _expected(kinds: tuple[type, ...]) -> str:
    return " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)


CHECK_KINDS: dict[str, type[Check]] = {}
C = TypeVar("C", bound=type[Check])


def register(cls: C) -> C:
    """Class decorator: make ``cls`` available to specs under ``cls.kind``."""
    if not cls.kind or cls.kind in CHECK_KINDS:
        raise RuntimeError(f"check kind {cls.kind!r} is empty or registered twice")
    CHECK_KINDS[cls.kind] = cls
    return cls


def build_check(spec: CheckSpec) -> Check:
    """The check a ``[[checks]]`` table describes.

    Raises:
        SpecError: Unknown kind or bad options.
    """
    try:
        cls = CHECK_KINDS[spec.kind]
    except KeyError:
        known = ", ".join(sorted(CHECK_KINDS))
        raise SpecFieldError(
            "kind",
            UNKNOWN_KIND.format(
                kind=spec.kind, suggestion=suggestion(spec.kind, list(CHECK_KINDS)), known=known
            ),
        ) from None
    return cls(spec)


def needs_of(checks: Sequence[Check]) -> frozenset[str]:
    """Every extra run or analysis the checks ask for."""
    wanted: set[str] = set()
    for check in checks:
        wanted |= check.needs
    return frozenset(wanted)


def judge_all(
    checks: Sequence[Check],
    evaluation: Evaluation,
) -> tuple[CheckResult, ...]:
    """Judge every check and attach points.

    The gate checks (correct_result) are judged first; when one fails, the
    others earn nothing and say so. A check that raises is a grader bug: the
    exception propagates, and the runner reports a grader error.
    """
    verdicts: dict[str, Verdict] = {}
    for check in checks:
        if check.gate:
            verdicts[check.name] = check.judge(evaluation)
    gate_ok = all(v.passed for v in verdicts.values())
    wrong_runs = wrong_further_runs(evaluation) if gate_ok else {}
    results = []
    for check in checks:
        wrong = next((wrong_runs[n] for n in sorted(check.needs) if n in wrong_runs), None)
        if check.name in verdicts:
            verdict = verdicts[check.name]
        elif gate_ok and wrong is not None:
            verdict = Verdict(False, wrong, hint=WRONG_ON_RUN_HINT)
        elif gate_ok and check.statement_based and (unread := unread_tables(check, evaluation)):
            tables = ", ".join(sorted(unread))
            verdict = Verdict(False, NO_STATEMENTS.format(tables=tables), hint=NO_STATEMENTS_HINT)
        elif gate_ok:
            verdict = check.judge(evaluation)
        else:
            verdict = Verdict(False, NOT_JUDGED, hint=NOT_JUDGED_HINT)
        points = check.spec.points if verdict.passed else 0
        hint = "" if verdict.passed else (verdict.hint or check.spec.hint or check.default_hint)
        results.append(
            CheckResult(
                name=check.name,
                passed=verdict.passed,
                points=points,
                max_points=check.spec.points,
                message=verdict.message,
                hint=hint,
                evidence=verdict.evidence,
            )
        )
    return tuple(results)


def wrong_further_runs(evaluation: Evaluation) -> dict[str, str]:
    """Why each further run (scaled, memory) is wrong, by the need it serves.

    A check judged on a further run stands on that run's answer too: code that
    is right on the main run and returns anything on the others must not pass.
    """
    pairs = {
        "scaled": (evaluation.scaled_oracle, evaluation.scaled),
        "memory": (evaluation.oracle, evaluation.extra.get("memory")),
    }
    from grader.execution.run import RunRecord

    wrong: dict[str, str] = {}
    for need, (expected, got) in pairs.items():
        if not isinstance(expected, RunRecord) or not isinstance(got, RunRecord):
            continue
        if not (expected.ok and got.ok):
            continue
        want, have = expected.value, got.value
        if not evaluation.spec.ordered and isinstance(want, list) and isinstance(have, list):
            want, have = sorted(want, key=repr), sorted(have, key=repr)
        if want != have:
            difference = describe_difference(want, have)
        elif expected.snapshot != got.snapshot:
            difference = describe_difference(expected.snapshot, got.snapshot)
        else:
            continue
        wrong[need] = WRONG_ON_RUN.format(run=need, difference=difference)
    return wrong


def unread_tables(check: Check, evaluation: Evaluation) -> frozenset[str]:
    """The tables ``check`` judges that no statement of the main run touched.

    A check names its table, or judges the tables the starter's statements read.
    Empty when at least one statement touched one of them.
    """
    table = getattr(check, "table", None)
    if isinstance(table, str):
        judged = frozenset({table})
    else:
        judged = frozenset(
            name
            for statement in evaluation.oracle.log.statements
            for name in parse_statement(statement.sql).tables
        )
    if not judged:
        return frozenset()
    if any(shape.tables & judged for shape in evaluation.shapes):
        return frozenset()
    return judged


def _repr_short(value: Any, limit: int = 200) -> str:
    return shorten(repr(value), limit)


def describe_difference(expected: Any, got: Any) -> str:
    """Where two normalized values first differ, in words."""
    if type(expected) is not type(got):
        return (
            f"expected a {type(expected).__name__}, got a {type(got).__name__} "
            f"({_repr_short(got, 80)})"
        )
    if isinstance(expected, list):
        if len(expected) != len(got):
            return f"expected {len(expected)} items, got {len(got)}"
        for number, (a, b) in enumerate(zip(expected, got, strict=True)):
            if a != b:
                return f"item {number} differs: expected {_repr_short(a)}, got {_repr_short(b)}"
    if isinstance(expected, dict):
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        if missing or extra:
            return f"keys differ: missing {missing[:5]}, unexpected {extra[:5]}"
        for key in expected:
            if expected[key] != got[key]:
                want, have = _repr_short(expected[key]), _repr_short(got[key])
                return f"key {key!r} differs: expected {want}, got {have}"
    return f"expected {_repr_short(expected)}, got {_repr_short(got)}"


def shorten(text: str, limit: int = 600) -> str:
    """``text`` stripped, cut to ``limit`` characters with an ellipsis where it was longer."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
