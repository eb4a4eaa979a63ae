"""The submission's migration history, read against the starter's.

The student's revision is found by its parent (its ``down_revision`` is the
starter's head), never by a fixed id; a starter revision whose code changed
is told apart from one only laid out anew (`code_fingerprint`). `History.blocked`
says why ``upgrade head`` cannot be attempted, in the words the checks show.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import MetaData

from grader.execution.run import Failure, FailureKind
from grader.migrations.failure import (
    SubmissionFailed,
    one_line,
    relative_path,
    student_frame,
    where_in_submission,
)
from grader.migrations.project import alembic_config

# Why ``upgrade head`` was not attempted; the checks show these to students.
NO_VERSIONS_FOLDER = "no migration written: the submission has no migrations/versions/ folder"


NO_MIGRATION = (
    "no migration written: no revision in migrations/versions/ has "
    "down_revision = {head!r} (the starter's head)"
)


MULTIPLE_HEADS = "the history has {count} heads ({heads}); `alembic upgrade head` needs exactly one"


HISTORY_BROKEN = "the migration history cannot be read: {error}"


STARTER_MISSING = "the starter's revision {revision} is missing from migrations/versions/"


@dataclass(frozen=True)
class Revision:
    """One revision the submission adds to the starter's history.

    Attributes:
        id: Its revision id.
        down_revisions: The revisions it follows (its ``down_revision``).
        file: Its file, relative to the exercise folder.
        empty_upgrade: Its ``upgrade()`` does nothing (only ``pass`` or a docstring).
        empty_downgrade: Its ``downgrade()`` does nothing.
    """

    id: str
    down_revisions: tuple[str, ...]
    file: str
    empty_upgrade: bool = False
    empty_downgrade: bool = False


@dataclass(frozen=True)
class History:
    """The submission's migration history, read against the starter's.

    Attributes:
        starter_head: The head of the starter's history.
        starter_revisions: Every revision of the starter's history.
        versions_present: Whether the submission has a migrations/versions/ folder.
        heads: The heads of the submission's history.
        new_revisions: Revisions the starter does not have, newest first.
        missing: Starter revisions the submission's history lacks.
        edited: Starter revisions whose code the submission changed, each with
            what differs (``upgrade()``).
        broken: Why the history cannot be read (a cycle, a dangling
            down_revision), or empty.
    """

    starter_head: str
    starter_revisions: tuple[str, ...] = ()
    versions_present: bool = True
    heads: tuple[str, ...] = ()
    new_revisions: tuple[Revision, ...] = ()
    missing: tuple[str, ...] = ()
    edited: tuple[tuple[str, str], ...] = ()
    broken: str = ""

    @property
    def written(self) -> tuple[Revision, ...]:
        """The new revisions that follow the starter's head directly."""
        return tuple(r for r in self.new_revisions if self.starter_head in r.down_revisions)

    @property
    def blocked(self) -> str:
        """Why ``upgrade head`` cannot be attempted, or empty when it can."""
        if self.broken:
            return HISTORY_BROKEN.format(error=self.broken)
        if self.starter_head in self.missing:
            return STARTER_MISSING.format(revision=self.starter_head)
        if not self.written:
            if not self.versions_present:
                return NO_VERSIONS_FOLDER
            return NO_MIGRATION.format(head=self.starter_head)
        if len(self.heads) > 1:
            return MULTIPLE_HEADS.format(count=len(self.heads), heads=", ".join(self.heads))
        return ""


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _statements(function: ast.FunctionDef | None) -> list[ast.stmt]:
    """The statements of a function that do something (no docstring, pass or ``...``)."""
    if function is None:
        return []
    return [
        s
        for s in function.body
        if not isinstance(s, ast.Pass)
        and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]


def body_is_empty(path: Path, name: str) -> bool:
    """Whether the function ``name`` of the revision file at ``path`` does nothing."""
    return not _statements(_functions(path).get(name))


def code_fingerprint(path: Path) -> dict[str, str]:
    """The code of ``upgrade()`` and ``downgrade()``, layout and comments left out."""
    functions = _functions(path)
    return {
        f"{name}()": ast.dump(ast.Module(body=_statements(functions.get(name)), type_ignores=[]))
        for name in ("upgrade", "downgrade")
    }


def _down_revisions(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    if down is None:
        return ()
    return (str(down),) if isinstance(down, str) else tuple(str(d) for d in down)


def read_history(
    project: Path, metadata: MetaData, starter: ScriptDirectory, versions_present: bool
) -> History:
    """Read the history of ``project`` against the ``starter``'s.

    Raises:
        SubmissionFailed: A revision file does not compile or raises on import.
    """
    starter_scripts = {s.revision: s for s in starter.walk_revisions()}
    starter_head = starter.get_current_head()
    assert starter_head is not None
    base = History(
        starter_head=starter_head,
        starter_revisions=tuple(starter_scripts),
        versions_present=versions_present,
    )
    script = ScriptDirectory.from_config(alembic_config(project, metadata))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scripts = list(script.walk_revisions())
            heads = tuple(script.get_heads())
    except SyntaxError as exc:
        where = relative_path(exc.filename or "a revision", [project])
        raise SubmissionFailed(
            Failure(FailureKind.SYNTAX, f"{where} does not compile (line {exc.lineno}): {exc.msg}")
        ) from None
    except (SystemExit, KeyboardInterrupt) as exc:
        raise SubmissionFailed(
            Failure(FailureKind.EXIT, f"a revision called exit while being imported ({exc!r})")
        ) from None
    except Exception as exc:
        frame = student_frame(exc, project)
        if frame is not None:
            raise SubmissionFailed(
                Failure(
                    FailureKind.IMPORT,
                    f"importing {relative_path(frame.filename, [project])} raised {one_line(exc)}",
                    where_in_submission(exc, project),
                )
            ) from None
        if not isinstance(exc, CommandError | RevisionError | KeyError):
            raise
        notes = [str(w.message) for w in caught]
        detail = str(exc).strip("'\"")
        if isinstance(exc, KeyError):
            detail = f"revision {detail} is named as a down_revision but no file defines it"
        return replace(base, broken="; ".join([detail, *notes]))
    by_id = {s.revision: s for s in scripts}
    missing = tuple(r for r in starter_scripts if r not in by_id)
    edited = []
    for revision, original in starter_scripts.items():
        mine = by_id.get(revision)
        if mine is None:
            continue
        what = [
            part
            for part, code in code_fingerprint(Path(original.path)).items()
            if code_fingerprint(Path(mine.path))[part] != code
        ]
        if _down_revisions(mine) != _down_revisions(original):
            what.append("down_revision")
        if what:
            edited.append((revision, ", ".join(what)))
    new = tuple(
        Revision(
            id=str(s.revision),
            down_revisions=_down_revisions(s),
            file=relative_path(s.path, [project]),
            empty_upgrade=body_is_empty(Path(s.path), "upgrade"),
            empty_downgrade=body_is_empty(Path(s.path), "downgrade"),
        )
        for s in scripts
        if s.revision not in starter_scripts
    )
    return replace(
        base,
        heads=tuple(str(h) for h in heads),
        new_revisions=new,
        missing=missing,
        edited=tuple(edited),
    )
