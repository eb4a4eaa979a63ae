"""The data model page: generated from the models, committed, linked, and never stale."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from grader.cli import EXIT_OK, main
from grader.course.catalog import Catalog
from grader.course.schema_page import SCHEMA_PAGE, render_schema
from grader.domain import Base
from tests.conftest import ROOT

PAGE = ROOT / SCHEMA_PAGE


def mermaid_block(page: str) -> str:
    found = re.search(r"```mermaid\n(.*?)```", page, re.S)
    assert found is not None, "no mermaid block"
    return found.group(1)


def test_committed_page_is_what_the_models_give() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_schema(), (
        f"{SCHEMA_PAGE} is out of date: run `ormgrade schema -o {SCHEMA_PAGE}`"
    )


def test_a_changed_model_changes_the_page() -> None:
    """The drift test above can fail: a column more, and the page is not the same."""
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    metadata.tables["tasks"].append_column(Column("due_date", String(10), doc="Due day."))
    changed = render_schema(metadata)
    assert changed != render_schema()
    assert "due_date" in changed and "Due day." in changed


def test_diagram_has_every_table_column_and_foreign_key() -> None:
    block = mermaid_block(render_schema())
    assert block.startswith("erDiagram\n")
    for table in Base.metadata.sorted_tables:
        entity = re.search(rf"^    {table.name} \{{\n(.*?)^    \}}", block, re.S | re.M)
        assert entity is not None, table.name
        names = [line.split()[1] for line in entity.group(1).splitlines()]
        assert names == [c.name for c in table.columns]
        for column in table.columns:
            for key in column.foreign_keys:
                line = f"{key.column.table.name} "
                assert re.search(
                    rf"^    {line}\|[|o]--o\{{ {table.name} : \"{column.name}\"$", block, re.M
                ), (table.name, column.name)


def test_every_column_is_described() -> None:
    page = render_schema()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            assert column.doc, f"{table.name}.{column.name} has no doc"
            assert f"| `{column.name}` |" in page
            assert " ".join(column.doc.split()) in page


def test_a_nullable_foreign_key_is_zero_or_one() -> None:
    metadata = MetaData()
    Table("a", metadata, Column("id", Integer, primary_key=True))
    Table(
        "b",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("a_id", ForeignKey("a.id"), nullable=True, doc='Said "maybe" | or not.'),
    )
    block = mermaid_block(render_schema(metadata))
    assert 'a |o--o{ b : "a_id"' in block
    assert "\"Said 'maybe' | or not.\"" in block
    assert r'| Said "maybe" \| or not. |' in render_schema(metadata)


def test_schema_command_prints_and_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "schema.md"
    result = CliRunner().invoke(main, ["schema", "-o", str(target)])
    assert result.exit_code == EXIT_OK, result.output
    assert result.stdout == render_schema()
    assert target.read_text(encoding="utf-8") == render_schema()


def test_every_exercise_readme_links_the_page(catalog: Catalog) -> None:
    for spec in catalog.select():
        text = spec.readme.read_text(encoding="utf-8")
        links = re.findall(r"\]\(([^)]*schema\.md)\)", text)
        assert links, f"{spec.id}: README does not link {SCHEMA_PAGE}"
        for link in links:
            assert (spec.directory / link).resolve() == PAGE.resolve(), (spec.id, link)
