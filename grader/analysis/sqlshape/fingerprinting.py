"""Statement fingerprints: repeats of one statement compare equal, whatever their values."""

from __future__ import annotations

from grader.analysis.sqlshape.tokens import (
    _KW,
    _LIT,
    _NAME,
    _OP,
    _PARAM,
    _PUNCT,
    _Group,
    _is_kw,
    _is_punct,
    _Node,
    _Tok,
)

# ----------------------------------------------------------------------- fingerprint

_NO_SPACE_BEFORE = frozenset({",", ")", ".", "::", "[", "]", ";"})
_NO_SPACE_AFTER = frozenset({"(", ".", "::", "["})


def _literal_only(group: _Group) -> bool:
    """Whether a parenthesized list holds only values (a parameter list)."""
    has_value = False
    prev: _Node | None = None
    for node in group.items:
        if isinstance(node, _Group):
            if not _literal_only(node):
                return False
            has_value = True
        elif node.kind in (_LIT, _PARAM) or _is_kw(node, "NULL", "TRUE", "FALSE"):
            has_value = True
        elif not (
            (node.kind == _PUNCT and node.text in (",", "::", "[", "]"))
            or (node.kind == _OP and node.text in ("-", "+"))
            or (node.kind == _NAME and _is_punct(prev, "::"))
        ):
            return False
        prev = node
    return has_value


def _fingerprint_pieces(nodes: list[_Node]) -> list[tuple[str, str]]:
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(nodes):
        node = nodes[i]
        prev = nodes[i - 1] if i else None
        i += 1
        if isinstance(node, _Tok):
            if node.kind in (_LIT, _PARAM):
                pieces.append(("?", _PARAM))
            elif node.kind in (_KW, _NAME, _OP):
                pieces.append((node.norm, node.kind))
            else:
                pieces.append((node.text, node.kind))
            continue
        if _is_kw(prev, "IN") and _literal_only(node):
            pieces.append(("(...)", _PARAM))
            continue
        row = _row_pieces(node)
        pieces.extend(row)
        if _is_kw(prev, "VALUES"):
            repeated = False
            while i + 1 < len(nodes) and _is_punct(nodes[i], ","):
                following = nodes[i + 1]
                if not isinstance(following, _Group) or _row_pieces(following) != row:
                    break
                repeated = True
                i += 2
            if repeated:
                pieces.extend([(",", _PUNCT), ("...", _PARAM)])
    return pieces


def _row_pieces(group: _Group) -> list[tuple[str, str]]:
    return [("(", _PUNCT), *_fingerprint_pieces(group.items), (")", _PUNCT)]


def _fingerprint_nodes(root: list[_Node]) -> str:
    while root and _is_punct(root[-1], ";"):
        root = root[:-1]
    out: list[str] = []
    prev_text, prev_kind = "", ""
    for text, kind in _fingerprint_pieces(root):
        if out and not (
            text in _NO_SPACE_BEFORE
            or prev_text in _NO_SPACE_AFTER
            or (text == "(" and prev_kind == _NAME)
        ):
            out.append(" ")
        out.append(text)
        prev_text, prev_kind = text, kind
    return "".join(out)
