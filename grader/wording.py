"""Wording shared by checks and reporters: counts with their noun in the right number."""

from __future__ import annotations

#: Nouns whose plural is not the singular with an "s".
_IRREGULAR = {"query": "queries", "index": "indexes", "entry": "entries"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` followed by ``noun`` in the right number: ``1 query``, ``2 queries``."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or _IRREGULAR.get(noun, noun + 's')}"
