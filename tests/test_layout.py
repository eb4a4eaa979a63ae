"""The package's layout shows the one-way flow: no import cycle, stages import downwards only.

Every import counts, those inside functions too (a lazy import is still a dependency); only
imports under ``if TYPE_CHECKING:`` are left out, since they never run. The README's layout
section lists the stage packages in the same order, and names nothing that is not there.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import grader

PACKAGE_ROOT = Path(grader.__file__).parent
README = PACKAGE_ROOT.parent / "README.md"
#: The heading of the README's layout section; its first fenced block is the list.
LAYOUT_HEADING = "### Layout"

#: The stages, from the front ends down to the shared contract. A module may import its own
#: stage and the stages below it, never one above. The README's layout section lists the same.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("grader.cli", "grader.plugin", "grader.pytest_plugin", "grader.notebook", "grader.__main__"),
    ("grader.classbook",),
    ("grader.authoring",),
    ("grader.grading",),
    ("grader.report",),
    ("grader.course",),
    ("grader.checks",),
    ("grader.migrations",),
    ("grader.analysis",),
    ("grader.execution",),
    ("grader.databases", "grader.domain"),
    (
        "grader.config_file",
        "grader.results",
        "grader.errors",
        "grader.wording",
        "grader.rule",
        "grader",
    ),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                yield from _import_nodes(child)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _import_nodes(node)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The grader modules that module ``name`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def layer_of(name: str) -> int:
    best, depth = -1, -1
    for position, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = position, len(prefix)
    return best


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_lazy_imports_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from grader.results import GradeReport\n"
        "def f():\n    from grader.errors import UsageError\n"
    )
    path = tmp_path / "m.py"
    path.write_text(source, encoding="utf-8")
    assert imports_of("grader.m", path, {"grader.results", "grader.errors"}) == {"grader.errors"}


def test_no_import_cycle_in_grader() -> None:
    assert cycles(import_graph()) == []


def test_every_module_belongs_to_a_stage() -> None:
    assert [name for name in modules() if layer_of(name) < 0] == []


def test_stages_import_downwards_only() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for target in targets
        if target != "grader" and layer_of(target) < layer_of(name)
    )
    assert upward == []


# -- the README's layout section --------------------------------------------------------


def readme_layout(text: str) -> list[tuple[str, str]]:
    """The entries of the layout section's first fenced block: (path, description).

    An entry starts at a line that does not start with a blank; indented lines
    continue its description.
    """
    _, found, section = text.partition(f"\n{LAYOUT_HEADING}\n")
    assert found, f"the README has no {LAYOUT_HEADING!r} section"
    block = re.search(r"^```\n(.*?)^```", section, re.S | re.M)
    assert block is not None, f"the README's {LAYOUT_HEADING!r} section has no fenced block"
    entries: list[tuple[str, str]] = []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            path, description = entries[-1]
            entries[-1] = (path, f"{description} {line.strip()}")
        else:
            path, _, description = line.partition(" ")
            entries.append((path, description.strip()))
    return entries


def layout_problems(entries: list[tuple[str, str]], root: Path) -> list[str]:
    """Paths the entries name that do not exist under ``root`` (the repository).

    A description names modules (``name.py``) and folders (``name/``) of its
    entry's package, or of the entry's folder when the entry is a module.
    """
    problems = []
    for path, description in entries:
        if not (root / path).exists():
            problems.append(path)
        base = path if path.endswith("/") else path.rpartition("/")[0] + "/"
        for name in re.findall(r"(?<![\w/.`-])([A-Za-z_]\w*(?:\.py|/))", description):
            if not (root / base / name).exists():
                problems.append(f"{base}{name} (in the entry of {path})")
    return problems


def stage_packages() -> list[str]:
    """The stage packages in flow order, as ``grader/<name>/``."""
    return [
        prefix.replace(".", "/") + "/"
        for layer in LAYERS
        for prefix in layer
        if (PACKAGE_ROOT.parent / prefix.replace(".", "/") / "__init__.py").is_file()
        and prefix != "grader"
    ]


def test_the_layout_reader_catches_a_name_that_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "grader" / "a").mkdir(parents=True)
    (tmp_path / "grader" / "a" / "one.py").write_text("", encoding="utf-8")
    text = (
        f"# x\n\n{LAYOUT_HEADING}\n\n```\ngrader/a/   holds one.py and\n"
        "            two.py\ngrader/b/   gone\n```\n"
    )
    entries = readme_layout(text)
    assert entries == [("grader/a/", "holds one.py and two.py"), ("grader/b/", "gone")]
    assert layout_problems(entries, tmp_path) == [
        "grader/a/two.py (in the entry of grader/a/)",
        "grader/b/",
    ]


def test_readme_layout_names_only_what_exists() -> None:
    entries = readme_layout(README.read_text(encoding="utf-8"))
    assert layout_problems(entries, PACKAGE_ROOT.parent) == []


def test_readme_layout_lists_every_stage_package_in_flow_order() -> None:
    packages = sorted(f"grader/{p.parent.name}/" for p in PACKAGE_ROOT.glob("*/__init__.py"))
    assert sorted(stage_packages()) == packages, "a package of grader/ is in no stage of LAYERS"
    listed = [path for path, _ in readme_layout(README.read_text(encoding="utf-8"))]
    assert [p for p in listed if p in packages] == stage_packages()
