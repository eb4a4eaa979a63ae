"""The authoring reference: generated from the engine, committed, and never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.checks import CHECK_KINDS
from grader.checks.base import Check, OptionDoc, declared_options, register
from grader.checks.query import CLAUSES, STATEMENTS
from grader.cli import EXIT_OK, main
from grader.course.reference import CHECKS_PAGE, attribute_docs, render_reference
from grader.course.schema_page import render_schema
from grader.course.spec import HOOKS, SPEC_KEYS, ExerciseSpec
from grader.databases import dataset
from tests.conftest import ROOT

PAGE = ROOT / CHECKS_PAGE


def test_committed_page_is_what_the_code_gives() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        f"{CHECKS_PAGE} is out of date: run `ormgrade checks -o {CHECKS_PAGE}`"
    )


def test_every_kind_option_spec_key_and_hook_is_on_the_page() -> None:
    page = render_reference()
    for kind, cls in CHECK_KINDS.items():
        assert f"### `{kind}`" in page
        for option in declared_options(cls):
            assert f"| `{option.name}` |" in page
    for key in SPEC_KEYS:
        assert f"| `{key}` |" in page
    for hooks in HOOKS.values():
        for hook in hooks:
            assert f"- `{hook}(" in page


def test_options_are_read_from_configure_with_types_defaults_and_choices() -> None:
    options = {o.name: o for o in declared_options(CHECK_KINDS["clause"])}
    assert list(options) == ["clause", "table", "join_kind", "present", "statement"]
    assert options["clause"].required and options["clause"].choices == tuple(CLAUSES)
    assert options["statement"] == OptionDoc("statement", "a string", "answer", tuple(STATEMENTS))
    assert options["present"].default is True and not options["present"].required
    # Options read after a check that refuses their absence are listed too.
    budget = [o.name for o in declared_options(CHECK_KINDS["statement_budget"])]
    assert budget == ["where", "select", "insert", "update", "delete"]
    change = [o.name for o in declared_options(CHECK_KINDS["data_preserved"])]
    assert {"mapping", "default", "not_null"} <= set(change)


def test_a_new_option_changes_the_page() -> None:
    """The drift test above can fail: an option more, and the page is not the same."""
    before = render_reference()

    class Probe(Check):
        """A check of the test."""

        kind = "reference_probe"

        def configure(self) -> None:
            self.level: int = self.option("level", int, 3)

    register(Probe)
    try:
        after = render_reference()
    finally:
        del CHECK_KINDS["reference_probe"]
    assert after != before
    assert "### `reference_probe`" in after and "| `level` | an integer | `3` |" in after


def test_spec_keys_carry_their_docstring_descriptions() -> None:
    docs = attribute_docs(ExerciseSpec)
    assert set(SPEC_KEYS) <= set(docs)
    assert "bench/run.py" in docs["bench_dataset"]


@pytest.mark.parametrize("command", ["checks", "schema"])
def test_the_command_prints_and_writes_the_page(tmp_path: Path, command: str) -> None:
    target = tmp_path / "page.md"
    result = CliRunner().invoke(main, [command, "-o", str(target)])
    assert result.exit_code == EXIT_OK, result.output
    page = render_reference() if command == "checks" else render_schema()
    assert result.stdout == page
    assert target.read_text(encoding="utf-8") == page


def test_the_schema_page_gives_every_size_with_its_rows() -> None:
    page = render_schema()
    for name, size in dataset.SIZES.items():
        assert f"| `{name}` | {size.users} | {size.projects} | {size.tasks} |" in page
    assert f"0 to {dataset.MAX_TAGS_PER_TASK} tags" in page
