"""Exercises as Jupyter notebooks, and notebooks as submissions.

`write_notebooks` turns each exercise into ``<id>.ipynb``: the task as
markdown, a setup cell that builds a small local dataset, the starter in the
one code cell tagged ``solution``, a cell to try it, and a cell that grades it
(`check_notebook`: the saved notebook's cell tagged ``solution``, exactly as
``ormgrade grade --submission <id>.ipynb`` grades it). `read_solution`
takes a notebook back: the source of the cell tagged ``solution`` (found by
its tag, never by its position), with IPython-only lines (``%time``,
``!pip``) set aside so that they do not turn into a syntax error. Every other
cell, its outputs and the order of the cells are irrelevant to the grade. No
kernel is needed to build or to grade.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.course.catalog import Catalog
from grader.course.spec import ExerciseSpec
from grader.errors import SubmissionError, UsageError
from grader.results import write_atomic

if TYPE_CHECKING:
    from nbformat import NotebookNode

#: The tag that marks the one graded cell of a notebook.
SOLUTION_TAG = "solution"
#: The tag of the cell that grades the solution cell inline.
CHECK_TAG = "check"
#: The tag of the cell that builds the local dataset.
SETUP_TAG = "setup"
#: The file a notebook's solution cell stands for.
SOLUTION_FILE = "task.py"
#: How a notebook file name ends.
NOTEBOOK_SUFFIX = ".ipynb"
#: The notebook format version written and read (nbformat 4).
NBFORMAT_MAJOR = 4
#: The key of the notebook metadata that records which exercise it is.
METADATA_KEY = "ormgrade"
#: Largest notebook accepted, in bytes (outputs included).
MAX_NOTEBOOK_BYTES = 20_000_000
#: Largest solution cell accepted, in bytes (as for any editable file).
MAX_CELL_BYTES = 1_000_000
#: Dataset size and seed of the local database a notebook's setup cell builds.
LOCAL_SIZE = "tiny"
LOCAL_SEED = 1

# -- messages -----------------------------------------------------------------
NO_SOLUTION_CELL = (
    "{notebook}: no cell is tagged {tag!r}; the graded code goes in the one code cell "
    "with that tag (add it back under View > Cell toolbar > Tags)"
)
MANY_SOLUTION_CELLS = (
    "{notebook}: {count} cells are tagged {tag!r} (cells {positions}); only one cell is "
    "graded, so keep the tag on exactly one code cell"
)
NOT_A_CODE_CELL = (
    "{notebook}: the cell tagged {tag!r} (cell {position}) is a {cell_type} cell; turn it "
    "back into a code cell"
)
INVALID_JSON = "{notebook}: not a notebook: the file is not valid JSON ({detail})"
NOT_A_NOTEBOOK = "{notebook}: not a Jupyter notebook: {detail}"
OLD_NBFORMAT = (
    "{notebook}: written in notebook format {version}, which is older than format "
    f"{NBFORMAT_MAJOR}; open it in a current Jupyter and save it again"
)
UNKNOWN_NBFORMAT = (
    "{notebook}: notebook format {version} is not supported; this grader reads format "
    f"{NBFORMAT_MAJOR}"
)
UNREADABLE = "{notebook}: cannot be read ({detail})"
TOO_LARGE = "{notebook}: larger than {limit} bytes; clear its outputs and save it again"
CELL_TOO_LARGE = "{notebook}: the cell tagged {tag!r} is larger than {limit} bytes"
OTHER_EXERCISE = "{notebook} is the notebook of {owner}, not of {exercise}"
IPYTHON_NOTE = (
    "{notebook}: IPython line(s) of the solution cell set aside for grading, they do not "
    "run when graded: {lines}"
)
MIGRATION_LEFT_OUT = (
    "a migration exercise is graded from files, not from one cell: work on {files} in "
    "exercises/{id}/ and grade it with `ormgrade grade {id}`"
)
FILES_LEFT_OUT = (
    "its editable files ({files}) are more than one notebook cell holds: work in "
    "exercises/{id}/ and grade it with `ormgrade grade {id}`"
)
NO_EXERCISE_NAMED = (
    "{notebook} does not say which exercise it is (no ormgrade metadata and {stem!r} is "
    "not an exercise id): name the exercise, as in `ormgrade grade ID --submission {notebook}`"
)
NOTEBOOK_NOT_FOUND = (
    "cannot find this notebook's file ({tried}): pass its path, as in "
    'check_notebook("{id}", "path/to/{id}.ipynb")'
)
UNSAVED_NOTE = (
    "The saved notebook's cell tagged {tag!r} is not the code you last ran in it: what is "
    "graded is the saved file. Save the notebook (Ctrl+S, or File > Save) and run this cell "
    "again to grade what you ran."
)
OTHER_DEFINITION_NOTE = (
    "The last {entry}() run in this kernel is not the saved cell tagged {tag!r}: only that "
    "cell, as saved, is graded (other cells do not count). Put your code in it, save the "
    "notebook (Ctrl+S) and run this cell again."
)
#: Where the data model is described, for the notebook's first cell.
SCHEMA_LINK = (
    "The tables, their columns and how they relate: `docs/schema.md` in the course's "
    "repository (`ormgrade schema` prints it)."
)

_PREFIX = "ormgrade"


class NotebookError(SubmissionError):
    """A notebook cannot be graded: unreadable, malformed, or its solution cell is missing."""


# -- IPython lines --------------------------------------------------------------


@dataclass(frozen=True)
class SetAsideLine:
    """An IPython-only line taken out of a cell before grading.

    Attributes:
        number: The line's number in the cell, from 1.
        text: The line as written (``%time run(session)``).
    """

    number: int
    text: str


@dataclass(frozen=True)
class CellSource:
    """A cell's source made into plain Python.

    Attributes:
        text: The source; each IPython line became ``pass`` at its indentation,
            so line numbers and blocks stay as the student wrote them.
        set_aside: The lines replaced, in order.
    """

    text: str
    set_aside: tuple[SetAsideLine, ...] = ()


_MAGIC = re.compile(r"^(%|!(?!=))")
_ASSIGNED_MAGIC = re.compile(r"^[\w.\[\], ]+=\s*(%|!(?!=))")
_HELP = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")


def _looks_like_ipython(line: str) -> bool:
    stripped = line.strip()
    return bool(_MAGIC.match(stripped) or _ASSIGNED_MAGIC.match(stripped) or _HELP.match(stripped))


@dataclass(frozen=True)
class _LineState:
    """Where a line starts: inside brackets, a string, or a backslash continuation."""

    depth: int = 0
    quote: str | None = None
    continued: bool = False

    @property
    def inside_statement(self) -> bool:
        return self.depth > 0 or self.quote is not None or self.continued


def _scan(line: str, state: _LineState) -> _LineState:
    """The state after ``line``: a bracket and string counter, linear in the line.

    The tokenizer would do, but only on the whole prefix of every candidate
    line, which is quadratic in a cell made to be slow.
    """
    depth, quote, comment = state.depth, state.quote, False
    i, end = 0, len(line)
    while i < end:
        char = line[i]
        if quote is not None:
            if char == "\\":
                i += 2
            elif line.startswith(quote, i):
                i += len(quote)
                quote = None
            else:
                i += 1
            continue
        if char == "#":
            comment = True
            break
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char in "'\"":
            quote = line[i : i + 3] if line[i : i + 3] in ("'''", '"""') else char
            i += len(quote)
            continue
        i += 1
    text = line.rstrip("\r\n")
    backslash = text.endswith("\\") and not comment
    if quote in ("'", '"') and not backslash:
        quote = None  # a one-line string left open ends with its line
    return _LineState(depth, quote, backslash and quote is None)


def _compiles(source: str) -> bool:
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def set_aside_ipython(source: str) -> CellSource:
    """Replace the IPython-only lines of a cell with ``pass``.

    Line magics (``%time f()``), cell magics (``%%time``), shell lines
    (``!pip install x``, ``files = !ls``) and help lines (``obj?``) are not
    Python: left in, they would fail the whole cell with a syntax error. A
    cell that already compiles is returned as it is, so Python that merely
    looks like IPython (``% b`` continuing a bracket, a string's text) is
    never touched.
    """
    if _compiles(source):
        return CellSource(source)
    kept: list[str] = []
    set_aside: list[SetAsideLine] = []
    state = _LineState()
    continued = False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.rstrip("\r\n")
        ending = "\n" if line.endswith("\n") else ""
        if continued:  # a set-aside line ended in a backslash: this one belongs to it
            set_aside.append(SetAsideLine(number, text))
            kept.append(ending)
            continued = text.endswith("\\")
            continue
        if _looks_like_ipython(line) and not state.inside_statement:
            indent = text[: len(text) - len(text.lstrip())]
            set_aside.append(SetAsideLine(number, text))
            kept.append(f"{indent}pass  # IPython line set aside for grading{ending}")
            continued = text.endswith("\\")
            continue
        kept.append(line)
        state = _scan(line, state)
    return CellSource("".join(kept), tuple(set_aside))


# -- reading notebooks ----------------------------------------------------------


@dataclass(frozen=True)
class SolutionCell:
    """The graded cell of a notebook.

    Attributes:
        notebook: The notebook's file name.
        position: The cell's number in the notebook, from 1 (informative only).
        source: The code to grade (IPython lines set aside).
        set_aside: The IPython lines that were set aside.
    """

    notebook: str
    position: int
    source: str
    set_aside: tuple[SetAsideLine, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What the student should know about how the cell was read."""
        if not self.set_aside:
            return ()
        lines = "; ".join(f"line {s.number}: {s.text.strip()}" for s in self.set_aside)
        return (IPYTHON_NOTE.format(notebook=self.notebook, lines=lines),)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _source_text(source: Any) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def load_notebook_json(path: Path) -> dict[str, Any]:
    """The JSON document of the notebook at ``path``, checked to be nbformat 4.

    Raises:
        NotebookError: Unreadable, too large, not JSON, not a notebook, or in a
            format other than 4; the message names the file.
    """
    name = path.name
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            raise NotebookError(TOO_LARGE.format(notebook=name, limit=MAX_NOTEBOOK_BYTES))
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookError(UNREADABLE.format(notebook=name, detail=exc.strerror or exc)) from None
    try:
        data = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        raise NotebookError(INVALID_JSON.format(notebook=name, detail=exc)) from None
    except RecursionError:
        raise NotebookError(
            INVALID_JSON.format(notebook=name, detail="nested too deeply")
        ) from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise NotebookError(NOT_A_NOTEBOOK.format(notebook=name, detail="no nbformat version"))
    version = data["nbformat"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotebookError(NOT_A_NOTEBOOK.format(notebook=name, detail=f"nbformat is {version!r}"))
    if version < NBFORMAT_MAJOR:
        raise NotebookError(OLD_NBFORMAT.format(notebook=name, version=version))
    if version > NBFORMAT_MAJOR:
        raise NotebookError(UNKNOWN_NBFORMAT.format(notebook=name, version=version))
    if not isinstance(data.get("cells"), list):
        raise NotebookError(NOT_A_NOTEBOOK.format(notebook=name, detail="it has no list of cells"))
    return data


def declared_exercise(data: Mapping[str, Any]) -> str | None:
    """The exercise id a notebook's metadata names (``metadata.ormgrade.exercise``)."""
    metadata = data.get("metadata")
    ours = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    owner = ours.get("exercise") if isinstance(ours, Mapping) else None
    return owner if isinstance(owner, str) else None


def read_solution(path: Path, exercise_id: str | None = None) -> SolutionCell:
    """The solution cell of the notebook at ``path``, ready to grade as ``task.py``.

    The cell is found by its ``solution`` tag wherever it is; other cells and
    all outputs are ignored.

    Args:
        path: The notebook file.
        exercise_id: The exercise it is graded for; a notebook whose metadata
            names another exercise is refused.

    Raises:
        NotebookError: The notebook cannot be read, names another exercise, or
            does not have exactly one code cell tagged ``solution``.
    """
    name = path.name
    data = load_notebook_json(path)
    owner = declared_exercise(data)
    if exercise_id is not None and owner is not None and owner != exercise_id:
        raise NotebookError(OTHER_EXERCISE.format(notebook=name, owner=owner, exercise=exercise_id))
    tagged = [
        (position, cell)
        for position, cell in enumerate(data["cells"], start=1)
        if isinstance(cell, Mapping) and SOLUTION_TAG in _tags(cell)
    ]
    if not tagged:
        raise NotebookError(NO_SOLUTION_CELL.format(notebook=name, tag=SOLUTION_TAG))
    if len(tagged) > 1:
        positions = ", ".join(f"{p} ({c.get('cell_type', '?')})" for p, c in tagged)
        raise NotebookError(
            MANY_SOLUTION_CELLS.format(
                notebook=name, count=len(tagged), tag=SOLUTION_TAG, positions=positions
            )
        )
    position, cell = tagged[0]
    if cell.get("cell_type") != "code":
        raise NotebookError(
            NOT_A_CODE_CELL.format(
                notebook=name, tag=SOLUTION_TAG, position=position, cell_type=cell.get("cell_type")
            )
        )
    text = _source_text(cell.get("source"))
    if text is None:
        raise NotebookError(
            NOT_A_NOTEBOOK.format(notebook=name, detail=f"cell {position} has no text source")
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise NotebookError(
            NOT_A_NOTEBOOK.format(notebook=name, detail=f"cell {position} is not valid Unicode")
        ) from None
    if size > MAX_CELL_BYTES:
        raise NotebookError(
            CELL_TOO_LARGE.format(notebook=name, tag=SOLUTION_TAG, limit=MAX_CELL_BYTES)
        )
    cleaned = set_aside_ipython(text)
    source = (
        cleaned.text if cleaned.text.endswith("\n") or not cleaned.text else cleaned.text + "\n"
    )
    return SolutionCell(name, position, source, cleaned.set_aside)


def exercise_of(path: Path, catalog: Catalog) -> str:
    """The exercise a notebook file is for: its metadata, else its file name.

    Raises:
        UsageError: Neither names an exercise of ``catalog``.
    """
    try:
        owner = declared_exercise(load_notebook_json(path))
    except NotebookError:
        owner = None  # grading reports what is wrong with it
    for candidate in (owner, path.stem):
        if candidate is not None and candidate in catalog.specs:
            return candidate
    raise UsageError(NO_EXERCISE_NAMED.format(notebook=path.name, stem=path.stem))


# -- building notebooks -----------------------------------------------------------


def notebook_exclusion(spec: ExerciseSpec) -> str | None:
    """Why ``spec`` has no notebook, or None when it has one.

    A notebook holds one graded cell, which stands for ``task.py``: migration
    exercises (models, Alembic revisions) and exercises with other editable
    files are worked on in their folder instead.
    """
    files = ", ".join(spec.editable)
    if spec.kind == "migration":
        return MIGRATION_LEFT_OUT.format(files=files, id=spec.id)
    if spec.kind != "query" or tuple(spec.editable) != (SOLUTION_FILE,):
        return FILES_LEFT_OUT.format(files=files, id=spec.id)
    return None


def _readme_cells(spec: ExerciseSpec, starter: str) -> list[str]:
    """The exercise's README split at its top headings; without one, title and docstring."""
    if spec.readme.is_file():
        text = spec.readme.read_text(encoding="utf-8")
    else:
        try:
            docstring = ast.get_docstring(ast.parse(starter)) or ""
        except SyntaxError:
            docstring = ""
        text = f"# {spec.title}\n\n{docstring}".rstrip() + "\n"
    chunks: list[list[str]] = [[]]
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and re.match(r"#{1,2} ", line) and any(s.strip() for s in chunks[-1]):
            chunks.append([])
        chunks[-1].append(line)
    return [c for c in ("\n".join(chunk).strip() for chunk in chunks) if c]


_INTRO = """\
# {id} — {title}

**You work in this notebook.** The code cell tagged `{tag}` below is your answer: it
stands for the exercise's `task.py`, so wherever the task speaks of `task.py`, edit that
cell. Nothing else in the notebook is graded.

**Install once, before you run anything.** The cells below need the course's grader
(the Python package `grader`, with the exercises). In a terminal, in your copy of the
course's student repository, run

```bash
python -m pip install -e .
```

and open this notebook with that same Python (or run `%pip install -e <that folder>`
in a cell here, then restart the kernel).

{schema}
"""


def _for_notebook(text: str) -> str:
    """README text as read in a notebook: ``task.py`` is the cell tagged ``solution``.

    The README's link to the data model is relative to the exercise's folder;
    in a notebook, the first cell says where the page is instead.
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*schema\.md\)", r"\1 (`docs/schema.md`)", text)
    return text.replace("`task.py`", f"the `{SOLUTION_TAG}` cell (`task.py`)")


_HOW_TO = """\
**How this notebook is graded.** Only the code cell tagged `{tag}` is graded (show the
tags with *View → Cell toolbar → Tags*); keep the tag on exactly that one code cell. It
is graded as `task.py`: `{entry}()` is called the way the exercise says, on a freshly
seeded database, and its result must equal the starter's. Other cells, their outputs
and their order do not count. IPython lines (`%time`, `!pip …`) in that cell are set
aside when graded.

1. Run the setup cell: it builds a small local database to experiment on.
2. Make the `{tag}` cell fast, run it, and try it in the cell after it.
3. Save the notebook, then run the check cell: it grades the saved notebook's `{tag}`
   cell exactly as `ormgrade grade --submission {id}.ipynb` does (your SQL, the plans,
   the points), and says so when the saved cell is not the code you last ran.

Hand in this notebook, or grade it yourself: `ormgrade grade --submission {id}.ipynb`.
"""

_SETUP = """\
# Setup: a small local copy of the course database (SQLite, size "{size}").
# Grading uses a bigger, freshly seeded dataset: do not hard-code answers.
from grader.notebook import local_dataset

local = local_dataset("{id}")
engine, params = local.engine, local.params
print(local)
"""

_TRY_SESSION = """\
# Try the solution cell on the local database (not graded): its result and its SQL.
from sqlalchemy.orm import Session

from grader.execution.capture import capture

with capture(engine) as log, Session(engine) as session:
    result = {entry}(session, **params)
print(f"{{len(log.statements)}} statement(s)")
for statement in log.statements[:10]:
    print("-", " ".join(statement.sql.split())[:300])
result
"""

_TRY_ENGINE = """\
# Try the solution cell on the local database (not graded): its result and its SQL.
from grader.execution.capture import capture

with capture(engine) as log:
    result = {entry}(engine, **params)
print(f"{{len(log.statements)}} statement(s)")
for statement in log.statements[:10]:
    print("-", " ".join(statement.sql.split())[:300])
result
"""

_TRY_ASYNC_SESSION = """\
# Try the solution cell on the local database (not graded): its result and its SQL.
# The notebook awaits at the top level; the statements are recorded on the sync
# engine under the async one, as in grading.
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from grader.execution.capture import capture

async_engine = create_async_engine(f"sqlite+aiosqlite:///{{local.path}}")
try:
    with capture(async_engine.sync_engine) as log:
        async with AsyncSession(async_engine) as session:
            result = await {entry}(session, **params)
finally:
    await async_engine.dispose()
print(f"{{len(log.statements)}} statement(s)")
for statement in log.statements[:10]:
    print("-", " ".join(statement.sql.split())[:300])
result
"""

_CHECK = """\
# Grade the saved notebook's cell tagged "{tag}", as `ormgrade grade --submission
# {id}.ipynb` does: save the notebook first (Ctrl+S).
from grader.notebook import check_notebook

check_notebook("{id}")
"""


def build_notebook(catalog: Catalog, spec: ExerciseSpec) -> NotebookNode:
    """The notebook of ``spec``: task, setup, solution cell, a try cell, the check cell.

    Raises:
        UsageError: The exercise cannot be a notebook (see `notebook_exclusion`).
    """
    import nbformat  # a tenth of a second to import; reading a notebook does not need it

    reason = notebook_exclusion(spec)
    if reason is not None:
        raise UsageError(f"{spec.id}: no notebook: {reason}")
    v4 = nbformat.v4
    starter = (catalog.oracle_dir(spec.id) / SOLUTION_FILE).read_text(encoding="utf-8")
    values = {"id": spec.id, "entry": spec.entry, "tag": SOLUTION_TAG, "size": LOCAL_SIZE}
    intro = _INTRO.format(title=spec.title, schema=SCHEMA_LINK, **values)
    cells = [v4.new_markdown_cell(intro, id=f"{_PREFIX}-intro")]
    task = _readme_cells(spec, starter)
    if task and task[0].startswith("# "):  # the title is the first cell's already
        task[0] = task[0].partition("\n")[2].strip()
    cells += [
        v4.new_markdown_cell(_for_notebook(text), id=f"{_PREFIX}-task-{number}")
        for number, text in enumerate((t for t in task if t), start=1)
    ]
    cells.append(v4.new_markdown_cell(_HOW_TO.format(**values), id=f"{_PREFIX}-how-to"))
    cells.append(
        v4.new_code_cell(
            _SETUP.format(**values), id=f"{_PREFIX}-setup", metadata={"tags": [SETUP_TAG]}
        )
    )
    cells.append(
        v4.new_code_cell(
            starter.rstrip() + "\n",
            id=f"{_PREFIX}-solution",
            metadata={"tags": [SOLUTION_TAG], "deletable": False},
        )
    )
    try_cell = {
        "session": _TRY_SESSION,
        "engine": _TRY_ENGINE,
        "async_session": _TRY_ASYNC_SESSION,
    }.get(spec.call)
    if try_cell is not None:
        cells.append(v4.new_code_cell(try_cell.format(**values), id=f"{_PREFIX}-try"))
    cells.append(
        v4.new_code_cell(
            _CHECK.format(**values),
            id=f"{_PREFIX}-check",
            metadata={"tags": [CHECK_TAG], "deletable": False, "editable": False},
        )
    )
    for cell in cells:
        cell.source = cell.source.rstrip("\n")
    notebook = v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            METADATA_KEY: {"exercise": spec.id, "title": spec.title, "grader_version": __version__},
        },
    )
    nbformat.validate(notebook)
    return notebook


@dataclass(frozen=True)
class NotebookBatch:
    """What `write_notebooks` did.

    Attributes:
        written: The notebooks written, in catalog order.
        left_out: Exercise id and the reason, for each exercise without a notebook.
    """

    written: tuple[Path, ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()


def write_notebooks(catalog: Catalog, out_dir: Path, ids: Iterable[str] = ()) -> NotebookBatch:
    """Write ``<id>.ipynb`` into ``out_dir`` for the exercises ``ids`` (all when empty).

    Exercises that cannot be a notebook are left out with the reason.

    Raises:
        UnknownExerciseError: An id the catalog does not hold (before anything is written).
    """
    import nbformat

    specs = catalog.select(ids)
    written: list[Path] = []
    left_out: list[tuple[str, str]] = []
    for spec in specs:
        reason = notebook_exclusion(spec)
        if reason is not None:
            left_out.append((spec.id, reason))
            continue
        path = out_dir / f"{spec.id}{NOTEBOOK_SUFFIX}"
        write_atomic(path, nbformat.writes(build_notebook(catalog, spec)))
        path.chmod(0o644)  # handed out: readable like any course file, not private
        written.append(path)
    return NotebookBatch(tuple(written), tuple(left_out))


def notebook_ids(catalog: Catalog) -> list[str]:
    """The exercises of ``catalog`` that have a notebook, in catalog order."""
    return [spec.id for spec in catalog.select() if notebook_exclusion(spec) is None]
