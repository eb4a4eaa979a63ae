"""The READMEs of the exercises follow the rules `ormgrade verify` checks.

Every exercise of the catalog, whoever added it, is held to
`grader.authoring.readme.readme_problems` (sections in order, three hints,
every check with its points, a measured figure, the grading command); each
rule is shown to fail on a README that breaks it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.authoring.readme import (
    FIGURE_SOURCES,
    HINT_COUNT,
    HINTS,
    MISSING_SECTION,
    NO_CHECK_ROW,
    NO_FIGURE,
    NO_GRADE_COMMAND,
    NO_README,
    SECTIONS_ORDER,
    WRONG_POINTS,
    readme_problems,
)
from grader.course.catalog import Catalog
from grader.course.spec import load_spec
from tests.conftest import ROOT

EXERCISES = Catalog(ROOT).ids


@pytest.mark.parametrize("exercise", EXERCISES)
def test_readme_follows_the_rules(catalog: Catalog, exercise: str) -> None:
    assert readme_problems(catalog.spec(exercise)) == []


def _swap_sections(text: str) -> str:
    a, b = "## Reading the feedback", "## Hints"
    return text.replace(a, "\0").replace(b, a).replace("\0", b)


def _drop_hint(text: str) -> str:
    start = text.rindex("<details>")
    end = text.index("</details>", start) + len("</details>")
    return text[:start] + text[end:]


def _no_figure(text: str) -> str:
    return text.replace("×", "x")


def _wrong_points(text: str) -> str:
    return text.replace("| `limit_in_sql` | 2 |", "| `limit_in_sql` | 5 |")


FIGURE_WORDS = " or ".join(repr(s) for s in FIGURE_SOURCES)
#: A change that breaks one rule, and the problem verify must report.
BROKEN: dict[str, tuple[Callable[[str], str], str]] = {
    "section missing": (
        lambda t: t.replace("## Reading the feedback", "## Feedback"),
        MISSING_SECTION.format(section="## Reading the feedback"),
    ),
    "sections out of order": (
        _swap_sections,
        SECTIONS_ORDER.format(
            order="## The task, ## Why it matters, ## What the grader checks, "
            "## Reading the feedback, ## Hints"
        ),
    ),
    "two hints": (_drop_hint, HINT_COUNT.format(found=HINTS - 1, expected=HINTS)),
    "no figure": (_no_figure, NO_FIGURE.format(sources=FIGURE_WORDS)),
    "check missing": (
        lambda t: t.replace("| `where_in_sql` |", "| where |"),
        NO_CHECK_ROW.format(name="where_in_sql"),
    ),
    "wrong points": (_wrong_points, WRONG_POINTS.format(name="limit_in_sql", found=5, points=2)),
    "no command": (
        lambda t: t.replace("ormgrade grade filter_limit", "ormgrade grade"),
        NO_GRADE_COMMAND.format(id="filter_limit"),
    ),
}


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A copy of filter_limit's folder to break."""
    return Path(shutil.copytree(ROOT / "exercises" / "filter_limit", tmp_path / "filter_limit"))


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_readme_that_breaks_a_rule_is_reported(copied: Path, broken: str) -> None:
    change, problem = BROKEN[broken]
    readme = copied / "README.md"
    before = readme.read_text(encoding="utf-8")
    assert readme_problems(load_spec(copied)) == []
    readme.write_text(change(before), encoding="utf-8")
    assert problem in readme_problems(load_spec(copied))


def test_a_missing_readme_is_reported(copied: Path) -> None:
    (copied / "README.md").unlink()
    assert readme_problems(load_spec(copied)) == [NO_README]


def test_a_migration_readme_names_every_scored_check(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(ROOT / "exercises" / "migration_add_column", tmp_path / "m"))
    folder = folder.rename(tmp_path / "migration_add_column")
    readme = folder / "README.md"
    assert readme_problems(load_spec(folder)) == []
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("| `data_preserved` |", "| data |"), encoding="utf-8")
    assert readme_problems(load_spec(folder)) == [NO_CHECK_ROW.format(name="data_preserved")]
