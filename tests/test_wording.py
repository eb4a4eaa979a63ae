"""Counts read as English: one query, two queries."""

from __future__ import annotations

import pytest

from grader.wording import counted


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "query", "0 queries"),
        (1, "query", "1 query"),
        (2, "query", "2 queries"),
        (1, "row", "1 row"),
        (3, "row", "3 rows"),
        (1, "index", "1 index"),
        (2, "index", "2 indexes"),
    ],
)
def test_counted(count: int, noun: str, expected: str) -> None:
    assert counted(count, noun) == expected


def test_counted_takes_an_irregular_plural() -> None:
    assert counted(2, "child", "children") == "2 children"
    assert counted(1, "child", "children") == "1 child"
