"""The student release: a template repository, and the Gradescope autograder zip.

`release` writes what students get: the exercises (starters, specs, hooks,
task READMEs; under a migration exercise the shared Alembic scaffold, so
that it is a complete, runnable Alembic project), the grading engine itself
(vendored in ``grader/``, so the release needs nothing but PyPI packages), a
project file whose pytest configuration switches the ormgrade plugin on,
pristine starters under ``.ormgrade/oracle/`` (the correctness oracle), a
student README, the GitHub Classroom workflow, and ``.ormgrade/manifest.json``
with the checksums of everything the student must not edit.

`gradescope_bundle` packs the same catalog with ``setup.sh`` and
``run_autograder`` into the zip Gradescope builds its autograder from.

Neither ever contains a file of ``solutions/``: both are checked, by content,
before they are handed over.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import stat
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import grader
from grader import __version__
from grader.course.catalog import ORACLE_DIR, Catalog
from grader.course.manifest import MANIFEST_FILE, Manifest, build_manifest
from grader.course.schema_page import SCHEMA_PAGE, render_schema
from grader.course.spec import ExerciseSpec
from grader.databases.server import DRIVER_PACKAGES
from grader.errors import OrmgradeError, UsageError
from grader.migrations.project import lay_scaffold
from grader.report.classroom import encode_result

#: The command that installs a released repository (its README's, and the workflow's).
INSTALL_COMMAND = "python -m pip install -e ."
#: The command that grades a released repository.
TEST_COMMAND = "pytest"
#: The Python version the workflow and the Gradescope image use.
PYTHON_VERSION = "3.11"
CHECKOUT_ACTION = "actions/checkout@v4"
SETUP_PYTHON_ACTION = "actions/setup-python@v5"
REPORTER_ACTION = "classroom-resources/autograding-grading-reporter@v1"
#: Limits of the workflow: one exercise's grading step, and the whole job.
STEP_TIMEOUT_MINUTES = 10
JOB_TIMEOUT_MINUTES = 60
#: Where the workflow goes in a released repository.
WORKFLOW_FILE = ".github/workflows/classroom.yml"
#: The folder of the vendored engine in a released repository.
ENGINE_DIR = "grader"
#: Files of a release a student may change freely (besides the editable files).
UNPROTECTED = ("README.md", ".gitignore")
#: What is never copied from the catalog or the engine.
IGNORED_NAMES = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", ".pytest_cache", ".mypy_cache")
#: Extra requirement of a released repository: the test runner that grades it.
TEST_RUNNER_REQUIREMENT = "pytest>=8"
#: The exercise kind whose released folder gets the Alembic scaffold laid in.
MIGRATION_KIND = "migration"
#: Files of the Gradescope zip, from the release, besides the scripts.
BUNDLE_PARTS = (ENGINE_DIR, "exercises", ".ormgrade")

NOT_EMPTY_MESSAGE = "{path} is not empty: release into a new or empty folder"
INSIDE_CATALOG_MESSAGE = (
    "{path} is inside the catalog's exercises/ or solutions/, or the grader: release elsewhere"
)
SOLUTION_LEAK_MESSAGE = (
    "refusing to release: {released} has the same content as the reference solution {solution}"
)


class ReleaseError(OrmgradeError):
    """A release cannot be made safely (it would hand out a solution)."""


_TEMPLATES = Path(grader.__file__).resolve().parent / "templates"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    # A double-quoted scalar that YAML and TOML both read back verbatim.
    env.filters["q"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def render(template: str, **context: Any) -> str:
    """Render the release template ``template`` (a path under ``grader/templates``)."""
    return _environment().get_template(template).render(**context)


# -- GitHub Classroom workflow ----------------------------------------------------


#: What the reporter accepts as its ``runners`` input (it checks this when a result
#: cannot be read, and then posts no grade at all).
RUNNERS_PATTERN = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")
#: The test a step that left no result stands for, in the reporter's format.
NO_RESULT_NAME = "{exercise}: no result"
NO_RESULT_MESSAGE = (
    "the grading step of {exercise} left no result (it timed out, or the grader could not "
    "be installed or started): see that step's log; it counts 0 of {points} points"
)


def step_id(exercise_id: str) -> str:
    """The workflow step id of an exercise: letters and digits only, in camel case.

    The reporter reads ``<STEP_ID uppercased>_RESULTS``, and its ``runners``
    input must match `RUNNERS_PATTERN`: no underscore, no hyphen. Exercise
    ids stay as they are everywhere else; only the step is named
    ``filterLimit`` for ``filter_limit``.
    """
    words = [w for w in re.split(r"[^A-Za-z0-9]+", exercise_id) if w]
    if not words:
        raise UsageError(f"exercise id {exercise_id!r} has no letter or digit for a step id")
    cleaned = words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    return cleaned if cleaned[:1].isalpha() else f"x{cleaned}"


def results_env(exercise_id: str) -> str:
    """The reporter's environment variable holding the exercise step's result."""
    return f"{step_id(exercise_id).upper()}_RESULTS"


def no_result(spec: ExerciseSpec) -> dict[str, Any]:
    """The reporter's result standing for a step that left none: an error, 0 points of all.

    ``max_score`` is the exercise's points (one test per point in a real
    result), so the grade's total stays out of the course's full points.
    """
    return {
        "version": 1,
        "status": "error",
        "max_score": spec.max_score,
        "tests": [
            {
                "name": NO_RESULT_NAME.format(exercise=spec.id),
                "status": "error",
                "score": 0,
                "message": NO_RESULT_MESSAGE.format(exercise=spec.id, points=spec.max_score),
                "test_code": f"ormgrade grade {spec.id}",
                "filename": f"exercises/{spec.id}",
                "line_no": 0,
                "duration": 0,
            }
        ],
    }


def grade_command(exercise_id: str) -> str:
    """The command a workflow step runs to grade one exercise for Classroom."""
    return f"ormgrade grade {exercise_id} --classroom"


@dataclass(frozen=True)
class WorkflowStep:
    """One grading step of the Classroom workflow.

    Attributes:
        id: The step id (see `step_id`).
        name: The step's title in the Actions log.
        command: The shell command it runs.
        env: The reporter's variable that receives its result.
        fallback: Base64 of `no_result`, what the reporter gets when the step
            left no output (the expression ``result || 'fallback'``).
    """

    id: str
    name: str
    command: str
    env: str
    fallback: str


def workflow_steps(specs: Iterable[ExerciseSpec]) -> list[WorkflowStep]:
    """The grading steps for ``specs``, in order.

    Raises:
        UsageError: Two exercise ids would give the same step id.
    """
    specs = list(specs)
    steps = [
        WorkflowStep(
            id=step_id(spec.id),
            name=f"{spec.id}: {spec.title} ({spec.max_score} points)",
            command=grade_command(spec.id),
            env=results_env(spec.id),
            fallback=encode_result(no_result(spec)),
        )
        for spec in specs
    ]
    seen: dict[str, str] = {}
    for step, spec in zip(steps, specs, strict=True):
        if step.id in seen:
            raise UsageError(
                f"exercises {seen[step.id]!r} and {spec.id!r} share the workflow step id "
                f"{step.id!r}"
            )
        seen[step.id] = spec.id
    runners = ",".join(step.id for step in steps)
    if steps and not RUNNERS_PATTERN.match(runners):
        raise UsageError(f"the reporter would refuse the runners input {runners!r}")
    return steps


def render_workflow(specs: Iterable[ExerciseSpec]) -> str:
    """The ``.github/workflows/classroom.yml`` that grades ``specs``."""
    specs = list(specs)
    return render(
        "release/classroom.yml.j2",
        steps=workflow_steps(specs),
        python_version=PYTHON_VERSION,
        install_command=INSTALL_COMMAND,
        checkout_action=CHECKOUT_ACTION,
        setup_python_action=SETUP_PYTHON_ACTION,
        reporter_action=REPORTER_ACTION,
        step_timeout_minutes=STEP_TIMEOUT_MINUTES,
        job_timeout_minutes=JOB_TIMEOUT_MINUTES,
    )


# -- the engine and its dependencies ----------------------------------------------


def engine_source() -> Path:
    """The folder of the running ``grader`` package (what a release vendors)."""
    return Path(grader.__file__).resolve().parent


def engine_requirements() -> list[str]:
    """The engine's runtime requirements, as in its project file.

    Read from the ``pyproject.toml`` next to the package (a source checkout),
    else from the installed distribution's metadata.

    Raises:
        ReleaseError: Neither is available.
    """
    pyproject = engine_source().parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == "ormgrade":
            return [str(r) for r in project.get("dependencies", ())]
    try:
        requires = importlib.metadata.requires("ormgrade") or []
    except importlib.metadata.PackageNotFoundError:
        raise ReleaseError(
            "cannot tell the grader's dependencies: ormgrade is not installed"
        ) from None
    return [r for r in requires if "extra ==" not in r]


def engine_extras() -> dict[str, list[str]]:
    """The engine's database driver extras (``postgres``, ``mysql``) with their requirements.

    A release carries them, so that ``python -m pip install -e ".[postgres]"``
    works in a student repository as the grader's messages say. Read like
    `engine_requirements`; a driver extra the project lacks is named by its
    package (`grader.databases.server.DRIVER_PACKAGES`).
    """
    extras: dict[str, list[str]] = {}
    pyproject = engine_source().parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == "ormgrade":
            declared = project.get("optional-dependencies", {})
            extras = {e: [str(r) for r in declared.get(e, ())] for e in DRIVER_PACKAGES}
    if not extras:
        try:
            requires = importlib.metadata.requires("ormgrade") or []
        except importlib.metadata.PackageNotFoundError:
            requires = []
        for extra in DRIVER_PACKAGES:
            marker = re.compile(rf"""extra\s*==\s*["']{extra}["']""")
            extras[extra] = [r.split(";")[0].strip() for r in requires if marker.search(r)]
    return {e: reqs or [DRIVER_PACKAGES[e]] for e, reqs in extras.items()}


# -- writing a release --------------------------------------------------------------


@dataclass(frozen=True)
class ReleasedExercise:
    """One exercise as the student README lists it.

    Attributes:
        id: The exercise id.
        title: Its title.
        points: Points it is worth.
        editable: The files (relative to its folder) the student edits.
        readme: Whether the exercise has a task README.
    """

    id: str
    title: str
    points: int
    editable: tuple[str, ...]
    readme: bool


@dataclass(frozen=True)
class Release:
    """A written student release.

    Attributes:
        root: The release folder.
        exercises: The released exercise ids, in course order.
        files: Every file written, as relative POSIX paths, sorted.
        manifest: The checksums of the protected files.
    """

    root: Path
    exercises: tuple[str, ...]
    files: tuple[str, ...]
    manifest: Manifest

    @property
    def workflow(self) -> Path:
        """The Classroom workflow file."""
        return self.root / WORKFLOW_FILE


def _ignore(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if any(Path(n).match(p) for p in IGNORED_NAMES)]


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def _is_editable(relative: str, editable: Iterable[str]) -> bool:
    for name in editable:
        if name.endswith("/"):
            if relative.startswith(name):
                return True
        elif relative == name:
            return True
    return False


def _copy_editable(source: Path, target: Path, editable: Iterable[str]) -> None:
    for name in editable:
        path = source / name.rstrip("/")
        destination = target / name.rstrip("/")
        if path.is_dir():
            shutil.copytree(path, destination, ignore=_ignore, dirs_exist_ok=True)
        elif path.is_file():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _check_target(catalog: Catalog, out_dir: Path) -> None:
    resolved = out_dir.resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(NOT_EMPTY_MESSAGE.format(path=out_dir))
    for forbidden in (catalog.exercises_dir, catalog.solutions_dir, engine_source()):
        if resolved == forbidden.resolve() or forbidden.resolve() in resolved.parents:
            raise UsageError(INSIDE_CATALOG_MESSAGE.format(path=out_dir))


def _digest(path: Path) -> str | None:
    """A digest of the content that ignores line ends and surrounding blanks (None if blank)."""
    data = path.read_bytes().replace(b"\r\n", b"\n").strip()
    return hashlib.sha256(data).hexdigest() if data else None


def solution_leaks(catalog: Catalog, root: Path) -> list[tuple[str, str]]:
    """Files under ``root`` whose content is that of a file of ``solutions/``.

    Returns:
        ``(released file, solution file)`` pairs, as relative POSIX paths.
    """
    solutions = catalog.solutions_dir
    if not solutions.is_dir():
        return []
    by_digest = {}
    for path in _walk(solutions):
        digest = _digest(path)
        if digest is not None:
            by_digest[digest] = path.relative_to(catalog.root).as_posix()
    leaks = []
    for path in _walk(root):
        digest = _digest(path)
        found = by_digest.get(digest) if digest is not None else None
        if found is not None:
            leaks.append((path.relative_to(root).as_posix(), found))
    return leaks


def release(catalog: Catalog, out_dir: Path, ids: Iterable[str] = ()) -> Release:
    """Write the student template repository for ``ids`` (all when empty) into ``out_dir``.

    Raises:
        UsageError: ``out_dir`` is not empty, or lies inside the catalog.
        UnknownExerciseError: An id the catalog does not hold.
        ReleaseError: A released file would have a reference solution's content.
    """
    specs = catalog.select(ids)
    _check_target(catalog, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _write_release(catalog, out_dir, specs)
    except BaseException:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise


def _write_release(catalog: Catalog, out_dir: Path, specs: list[ExerciseSpec]) -> Release:
    editable_paths: list[str] = []
    for spec in specs:
        target = out_dir / "exercises" / spec.id
        oracle = catalog.oracle_dir(spec.id)
        shutil.copytree(spec.directory, target, ignore=_ignore)
        if spec.kind == MIGRATION_KIND:
            # A runnable Alembic project: the shared scaffold under the exercise's own files.
            lay_scaffold(target)
        # The starter students edit is the pristine one, whatever the catalog's copy holds.
        if oracle.resolve() != spec.directory.resolve():
            _copy_editable(oracle, target, spec.editable)
        _copy_editable(oracle, out_dir / ORACLE_DIR / spec.id, spec.editable)
        editable_paths += [f"exercises/{spec.id}/{name}" for name in spec.editable]

    shutil.copytree(engine_source(), out_dir / ENGINE_DIR, ignore=_ignore)

    exercises = [
        ReleasedExercise(
            id=spec.id,
            title=spec.title,
            points=spec.max_score,
            editable=spec.editable,
            readme=spec.readme.is_file(),
        )
        for spec in specs
    ]
    context = {
        "exercises": exercises,
        "total_points": sum(e.points for e in exercises),
        "install_command": INSTALL_COMMAND,
        "test_command": TEST_COMMAND,
        "python_version": PYTHON_VERSION,
        "engine_version": __version__,
        "schema_page": SCHEMA_PAGE,
        "dependencies": list(dict.fromkeys([*engine_requirements(), TEST_RUNNER_REQUIREMENT])),
        "extras": engine_extras(),
    }
    _write(out_dir, "README.md", render("release/README.md.j2", **context))
    _write(out_dir, "pyproject.toml", render("release/pyproject.toml.j2", **context))
    _write(out_dir, ".gitignore", render("release/gitignore"))
    _write(out_dir, WORKFLOW_FILE, render_workflow(specs))
    _write(out_dir, SCHEMA_PAGE, render_schema())

    leaks = solution_leaks(catalog, out_dir)
    if leaks:
        released, solution = leaks[0]
        raise ReleaseError(SOLUTION_LEAK_MESSAGE.format(released=released, solution=solution))

    written = [p.relative_to(out_dir).as_posix() for p in _walk(out_dir)]
    protected = [
        name
        for name in written
        if name not in UNPROTECTED and not _is_editable(name, editable_paths)
    ]
    manifest = build_manifest(
        out_dir,
        protected,
        editable=editable_paths,
        exercises=[s.id for s in specs],
        engine_version=__version__,
    )
    _write(out_dir, MANIFEST_FILE.as_posix(), manifest.to_json())
    return Release(
        root=out_dir,
        exercises=tuple(s.id for s in specs),
        files=tuple(sorted([*written, MANIFEST_FILE.as_posix()])),
        manifest=manifest,
    )


# -- Gradescope ---------------------------------------------------------------------

_EXECUTABLE = 0o100755 << 16
_REGULAR = 0o100644 << 16
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class GradescopeBundle:
    """A written Gradescope autograder zip.

    Attributes:
        path: The zip file.
        exercises: The exercise ids it grades.
        members: The names inside the zip, sorted.
    """

    path: Path
    exercises: tuple[str, ...]
    members: tuple[str, ...]


def gradescope_bundle(catalog: Catalog, out_zip: Path, ids: Iterable[str] = ()) -> GradescopeBundle:
    """Write the Gradescope autograder zip for ``ids`` (all when empty).

    The zip holds ``setup.sh`` (Python and the grader's dependencies),
    ``run_autograder`` (grades the submission into ``results.json``), a
    ``requirements.txt``, and from a fresh release the engine, the exercises
    and ``.ormgrade/`` (pristine starters and the manifest, so a student's
    edits to protected files are warned about against the released copy).

    Raises:
        UnknownExerciseError: An id the catalog does not hold.
        ReleaseError: A file would have a reference solution's content.
    """
    with tempfile.TemporaryDirectory(prefix="ormgrade-bundle-") as scratch:
        made = release(catalog, Path(scratch) / "release", ids)
        entries: dict[str, tuple[bytes, int]] = {}
        for relative in made.files:
            if relative.split("/", 1)[0] in BUNDLE_PARTS:
                entries[relative] = ((made.root / relative).read_bytes(), _REGULAR)
        scripts = {"python_version": PYTHON_VERSION}
        entries["setup.sh"] = (render("gradescope/setup.sh.j2", **scripts).encode(), _EXECUTABLE)
        entries["run_autograder"] = (
            render("gradescope/run_autograder", **scripts).encode(),
            _EXECUTABLE,
        )
        requirements = "\n".join(engine_requirements()) + "\n"
        entries["requirements.txt"] = (requirements.encode(), _REGULAR)
        _write_zip(out_zip, entries)
    return GradescopeBundle(out_zip, made.exercises, tuple(sorted(entries)))


def _write_zip(out_zip: Path, entries: dict[str, tuple[bytes, int]]) -> None:
    """Write ``entries`` (name to content and mode) so the zip appears whole or not at all."""
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".tmp", dir=out_zip.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(entries):
                data, mode = entries[name]
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.external_attr = mode
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, out_zip)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
