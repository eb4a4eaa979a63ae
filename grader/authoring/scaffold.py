"""A new exercise, scaffolded so that ``ormgrade verify`` runs on it at once.

`scaffold` writes ``exercises/<id>/`` (a spec with every key commented, a
README with the sections the rules ask for, the starter, ``grading.py`` with
the hooks of its kind; for a migration the Alembic project with the starter's
history) and ``solutions/<id>/``, then records the starter as the oracle.
What it leaves to the author is marked ``TODO``, and ``ormgrade verify ID``
names what is still missing: the README's measured figure, the checks the
placeholder solution does not meet yet.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from grader.course.catalog import Catalog
from grader.course.spec import HOOK_DOCS, KINDS, load_spec
from grader.errors import OrmgradeError

#: What an exercise id looks like: it names a folder, a pytest test and a notebook.
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
BAD_ID = (
    "bad exercise id {id!r}: expected lower-case letters, digits and underscores, "
    "starting with a letter (2 to 63 characters), such as distinct_tags"
)
EXISTS = "exercise {id!r} exists already ({path}): choose another id"
BAD_KIND = "unknown exercise kind {kind!r}: expected one of {known}"

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "new"
#: Template files copied as they are, by kind: template path -> path in the exercise.
_STATIC = {
    "query": {},
    "migration": {
        "alembic.ini": "alembic.ini",
        "models.py.tmpl": "models.py",
        "migrations/env.py.tmpl": "migrations/env.py",
        "migrations/script.py.mako": "migrations/script.py.mako",
        "migrations/versions/4d1c6a0e2b17_create_users_and_tasks.py.tmpl": (
            "migrations/versions/4d1c6a0e2b17_create_users_and_tasks.py"
        ),
    },
}
#: Rendered templates, by kind: template -> path under exercises/<id>/ or solutions/<id>/.
_RENDERED = {
    "query": {
        "spec.toml.j2": "exercises/spec.toml",
        "task.py.j2": "exercises/task.py",
        "grading.py.j2": "exercises/grading.py",
        "solution.py.j2": "solutions/task.py",
    },
    "migration": {
        "spec.toml.j2": "exercises/spec.toml",
        "grading.py.j2": "exercises/grading.py",
    },
}


class ScaffoldError(OrmgradeError):
    """The exercise cannot be scaffolded (bad or taken id, unknown kind)."""


@dataclass(frozen=True)
class Scaffolded:
    """What `scaffold` wrote.

    Attributes:
        exercise_id: The new exercise's id.
        files: Every file written, relative to the catalog's root, sorted.
    """

    exercise_id: str
    files: tuple[str, ...]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def hook_stubs(kind: str, skip: tuple[str, ...]) -> str:
    """The hooks of ``kind`` other than ``skip``, as commented-out stubs with their docs."""
    blocks = []
    for name, (signature, doc) in HOOK_DOCS[kind].items():
        if name in skip:
            continue
        wrapped = textwrap.wrap(doc[0].upper() + doc[1:] + ".", 70)
        lines = [f"# def {signature}:", f'#     """{wrapped[0]}']
        lines += [f"#     {line}" for line in wrapped[1:]]
        lines[-1] += '"""'
        lines.append("#     ...")
        blocks.append("\n".join(lines))
    return "\n\n" + "\n\n\n".join(blocks) + "\n" if blocks else ""


def check_new_id(catalog_root: Path, exercise_id: str, kind: str) -> None:
    """Refuse a bad id, a taken one, or an unknown kind.

    Raises:
        ScaffoldError: With what was expected and what was found.
    """
    if kind not in KINDS:
        raise ScaffoldError(BAD_KIND.format(kind=kind, known=", ".join(KINDS)))
    if not ID_PATTERN.match(exercise_id):
        raise ScaffoldError(BAD_ID.format(id=exercise_id))
    for part in ("exercises", "solutions"):
        path = catalog_root / part / exercise_id
        if path.exists():
            raise ScaffoldError(EXISTS.format(id=exercise_id, path=f"{part}/{exercise_id}/"))


def scaffold(catalog_root: Path, exercise_id: str, kind: str) -> Scaffolded:
    """Write the exercise ``exercise_id`` of ``kind`` into the catalog at ``catalog_root``.

    Raises:
        ScaffoldError: A bad or taken id, or an unknown kind (nothing is written).
    """
    check_new_id(catalog_root, exercise_id, kind)
    exercise = catalog_root / "exercises" / exercise_id
    solution = catalog_root / "solutions" / exercise_id
    written: list[Path] = []
    env = _environment()
    context: dict[str, Any] = {
        "id": exercise_id,
        "other_hooks": hook_stubs(kind, skip=("params", "rows")),
    }

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    for template, target in _RENDERED[kind].items():
        folder, _, name = target.partition("/")
        base = exercise if folder == "exercises" else solution
        write(base / name, env.get_template(f"{kind}/{template}").render(**context))
    for template, target in _STATIC[kind].items():
        write(exercise / target, (_TEMPLATES / kind / template).read_text(encoding="utf-8"))
    if kind == "migration":
        # The reference starts as the starter's models; the author adds the revision.
        write(solution / "models.py", (exercise / "models.py").read_text(encoding="utf-8"))
    # The README's table lists the spec's checks, read back through the loader.
    spec = load_spec(exercise)
    write(
        exercise / "README.md",
        env.get_template(f"{kind}/README.md.j2").render(id=exercise_id, checks=spec.checks),
    )
    written.append(Catalog(catalog_root).record_starter(exercise_id))
    return Scaffolded(
        exercise_id,
        tuple(sorted(p.relative_to(catalog_root).as_posix() for p in written)),
    )
