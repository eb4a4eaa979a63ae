"""Rules for the keys of a TOML table (``spec.toml`` and its ``[[checks]]``).

A dataclass field made with `spec_key` carries its `Rule`: what it accepts,
in words for messages, and whether it is required. Nothing is coerced: a
value is accepted as parsed or refused with the expected and the found.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

#: A key of the spec, or of a ``[[checks]]`` table, that the format does not know.
UNKNOWN_KEY = "unknown key {key!r}{suggestion}; known keys: {known}"


#: An option that the check's kind does not read.
UNKNOWN_OPTION = "unknown option {key!r}{suggestion}"


#: Appended to an unknown option once the kind's options are all known.
OPTIONS_OF = "; options of {kind}: {known}"


#: Appended to an unknown key or option that is close to a known one.
DID_YOU_MEAN = " (did you mean {match!r}?)"


#: A value of the wrong type or out of range.
WRONG_VALUE = "expected {expected}, found {found}"


#: A required key that is absent.
MISSING_KEY = "missing (expected {expected})"


@dataclass(frozen=True)
class Rule:
    """What one spec key accepts.

    Attributes:
        expected: The accepted values in words, for messages ("true or false").
        accepts: Whether a parsed TOML value is acceptable (no coercion happens).
        required: The key must be present.
    """

    expected: str
    accepts: Callable[[Any], bool]
    required: bool = False


#: The metadata key of a field's `Rule`.
RULE = "ormgrade.rule"


def spec_key(rule: Rule, **options: Any) -> Any:
    """A dataclass field that is read from the spec under its own name, by ``rule``."""
    return field(metadata={RULE: rule}, **options)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def one_of(*values: str) -> Rule:
    """A string among ``values``."""
    return Rule(f"one of {', '.join(repr(v) for v in values)}", lambda v: v in values)


STRING = Rule("a string", lambda v: isinstance(v, str))


NAME = Rule("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))


IDENTIFIER = Rule("a Python name", lambda v: isinstance(v, str) and v.isidentifier())


BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))


TABLE = Rule("a table", lambda v: isinstance(v, dict))


POSITIVE_SECONDS = Rule("a number of seconds > 0", lambda v: _is_number(v) and v > 0)


POINTS = Rule("an integer >= 0", lambda v: _is_int(v) and v >= 0)


def _toml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string"}
    names.update({list: "array", dict: "table"})
    return names.get(type(value), type(value).__name__)


def describe(value: Any) -> str:
    """A found value for a message: its TOML text (shortened) and its TOML type."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_toml_type(value)})"


def suggestion(key: str, known: Sequence[str]) -> str:
    """`DID_YOU_MEAN` for the known name closest to ``key``, or nothing."""
    matches = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return DID_YOU_MEAN.format(match=matches[0]) if matches else ""


def rules_of(cls: type) -> dict[str, Rule]:
    return {f.name: f.metadata[RULE] for f in fields(cls) if RULE in f.metadata}
