"""The authoring reference, generated from the code: spec keys, check kinds, hooks.

`render_reference` writes Markdown from what the engine itself declares: the
keys of ``spec.toml`` (the `Rule` of each field of `ExerciseSpec` and the
field's description in its docstring), the keys every ``[[checks]]`` table
has, each registered check kind (its docstring, what it needs, and the
options its ``configure`` reads, found by `declared_options`) and the hooks a
``grading.py`` may define. ``docs/checks.md`` is this function's output, and a
test fails when they differ, so the page cannot drift from the code.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, fields
from typing import Any

from grader.checks import CHECK_KINDS
from grader.checks.base import CheckSpec, OptionDoc, declared_options
from grader.course.spec import HOOK_DOCS, ExerciseSpec
from grader.rule import RULE

#: Where the page lives in the course repository.
CHECKS_PAGE = "docs/checks.md"

#: What each extra run or analysis a check needs means.
NEEDS = {
    "scaled": "a second run on the spec's `scaled_dataset`",
    "plans": "the database's plan (EXPLAIN) of each statement",
    "memory": "a run that measures peak memory",
    "fault": "a run that fails at a written row (`fault_after_rows`)",
    "migration": "the Alembic runs of a migration exercise",
}

_INTRO = """\
# Authoring reference: spec keys, check kinds, hooks

Generated from the engine (`ormgrade checks`): the keys of `spec.toml`
come from `ExerciseSpec`, each check kind from its class (its docstring says
what it teaches; its options are those its `configure` reads), the hooks from
`grader.course.spec`. A test fails when this page and the code differ. The
data model and the dataset sizes are on [the data model page](schema.md);
`ormgrade new ID --kind query|migration` scaffolds an exercise that uses
them, and `ormgrade verify ID` says what it still lacks.
"""


def attribute_docs(cls: type) -> dict[str, str]:
    """The descriptions of the ``Attributes:`` section of ``cls``'s docstring, by name."""
    doc = inspect.getdoc(cls) or ""
    if "Attributes:" not in doc:
        return {}
    section = doc.split("Attributes:", 1)[1]
    found: dict[str, list[str]] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            found[current] = [match.group(2)]
        elif line.startswith("        ") and current is not None:
            found[current].append(line.strip())
        elif line.strip():
            break
    return {name: " ".join(parts) for name, parts in found.items()}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", r"\|")


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, list | tuple) and not value:
        return "`[]`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    return f"`{value}`"


def _default(cls: type, name: str) -> str:
    for f in fields(cls):
        if f.name != name:
            continue
        if f.default is not MISSING:
            return _value(f.default)
        if f.default_factory is not MISSING:
            return _value(f.default_factory())
    return "optional"


def _key_table(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    docs = attribute_docs(cls)
    lines = ["| key | expected | default | meaning |", "|---|---|---|---|"]
    for f in fields(cls):
        if RULE not in f.metadata or f.name in skip:
            continue
        rule = f.metadata[RULE]
        default = "required" if rule.required else _default(cls, f.name)
        lines.append(
            f"| `{f.name}` | {_cell(rule.expected)} | {default} | {_cell(docs.get(f.name, ''))} |"
        )
    return lines


def _option_line(option: OptionDoc) -> str:
    expected = option.expected
    if option.choices:
        expected = "one of " + ", ".join(f'`"{c}"`' for c in option.choices)
    default = "required" if option.required else _value(option.default)
    return f"| `{option.name}` | {expected} | {default} |"


def render_reference() -> str:
    """The reference page (Markdown)."""
    out = [_INTRO, "## `spec.toml`: top-level keys", ""]
    out += _key_table(ExerciseSpec)
    out += ["", "## `[[checks]]`: the keys of every check", ""]
    out += _key_table(CheckSpec)
    out += [
        "",
        "Every other key of a `[[checks]]` table is an option of its kind, below. An "
        "unknown key or option is refused with the known ones and the closest match.",
        "",
        "## Check kinds",
        "",
    ]
    for kind in sorted(CHECK_KINDS):
        cls = CHECK_KINDS[kind]
        out += [f"### `{kind}`", ""]
        out += [inspect.getdoc(cls) or "", ""]
        facts = []
        if cls.gate:
            facts.append("the gate: every other check earns points only when it passes")
        if cls.statement_based:
            facts.append("never met by a run that reads its table(s) with no statement")
        facts += [f"needs {NEEDS.get(n, n)}" for n in sorted(cls.needs)]
        if facts:
            out += ["- " + fact for fact in facts] + [""]
        options = declared_options(cls)
        if options:
            out += ["| option | expected | default |", "|---|---|---|"]
            out += [_option_line(o) for o in options]
        else:
            out.append("No options.")
        out.append("")
    out += ["## Hooks of `grading.py`", ""]
    out += [
        "A public function of `grading.py` must be one of the hooks of its exercise's "
        "kind (a misspelt hook is refused when the spec loads); helpers start with `_`, "
        "constants are upper case.",
        "",
    ]
    for kind, hooks in HOOK_DOCS.items():
        out += [f"### {kind} exercises", ""]
        for signature, doc in hooks.values():
            out += [f"- `{signature}`: {doc}"]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
