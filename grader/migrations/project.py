"""The Alembic project of a migration exercise: one shared scaffold, the exercise's own files.

Every migration exercise is a small Alembic project. What all of them share —
``alembic.ini``, ``migrations/env.py`` (batch mode on SQLite; it takes the
grader's connection and the models' metadata from ``config.attributes``), the
script template and the ``.gitignore`` of the database file made by hand — is
the scaffold, kept once in this package (``scaffold/``) because ``env.py`` is
half of a contract with the grader's own Alembic runs. An exercise folder of
the catalog holds only what differs: its ``models.py`` and its starter history
under ``migrations/versions/`` (both editable, both the oracle).

`lay_scaffold` writes the scaffold into a folder; the grader lays it under
every private copy it runs (`starter_copy`), and ``ormgrade release`` under
every released migration exercise, so students get a complete, runnable
project and a fix to ``env.py`` reaches every exercise at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic.config import Config
from sqlalchemy import MetaData

#: The models file of a migration exercise; it must define ``Base``.
MODELS_FILE = "models.py"
#: The Alembic configuration of a migration exercise.
ALEMBIC_INI = "alembic.ini"
#: The Alembic script folder (env.py, script.py.mako, versions/).
MIGRATIONS_DIR = "migrations"
#: The revisions folder, as the spec's ``editable`` names it.
VERSIONS = "migrations/versions/"

#: The shared scaffold: what every migration exercise's project holds besides its own files.
SCAFFOLD_DIR = Path(__file__).resolve().parent / "scaffold"
#: Files of the scaffold kept under another name in the package (a dot file is not
#: package data), by their name there.
LAID_AS = {"gitignore": ".gitignore"}

_SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def scaffold_files(scaffold: Path | None = None) -> dict[str, Path]:
    """The scaffold's files, by the relative POSIX path they are laid at.

    Args:
        scaffold: The scaffold folder; `SCAFFOLD_DIR` when None.
    """
    root = SCAFFOLD_DIR if scaffold is None else scaffold
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        relative = path.relative_to(root).as_posix()
        found[LAID_AS.get(relative, relative)] = path
    return found


def lay_scaffold(target: Path, scaffold: Path | None = None) -> list[Path]:
    """Write the scaffold into ``target``, making it a runnable Alembic project with models.

    Files the scaffold has are overwritten (the scaffold wins over an older
    copy); anything else in ``target`` stays, and an empty
    ``migrations/versions/`` is made when there is none. Without a
    ``models.py`` and its revisions, ``target`` is a project with no history.

    Args:
        target: The folder (made when missing), e.g. a new exercise's or a
            released exercise's.
        scaffold: The scaffold folder; `SCAFFOLD_DIR` when None.

    Returns:
        The files written, in path order.
    """
    written = []
    for relative, source in scaffold_files(scaffold).items():
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(destination)
    (target / VERSIONS).mkdir(parents=True, exist_ok=True)
    return written


def starter_copy(oracle: Path, into: Path) -> Path:
    """A private, runnable copy of the starter: the scaffold, its revisions and models.

    The revisions and ``models.py`` come from the pristine starter
    (``oracle``: the exercise's folder in the instructor's repository, or its
    copy under ``.ormgrade/oracle/``), as they are editable; everything else
    from the scaffold. The submission's editable files are laid over such a
    copy (`grader.course.submission.stage`); the starter's history is run from
    a copy too, as Alembic writes bytecode next to what it loads.
    """
    lay_scaffold(into)
    if (oracle / VERSIONS).is_dir():
        shutil.copytree(oracle / VERSIONS, into / VERSIONS, ignore=_SKIPPED, dirs_exist_ok=True)
    shutil.copyfile(oracle / MODELS_FILE, into / MODELS_FILE)
    return into


def alembic_config(project: Path, metadata: MetaData) -> Config:
    """A Config for the exercise folder ``project``, handing env.py the models' metadata."""
    config = Config()
    config.set_main_option("script_location", str(project / MIGRATIONS_DIR))
    config.attributes["target_metadata"] = metadata
    return config
