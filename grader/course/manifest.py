"""Checksums of the files a student must not edit in a released repository.

`grader.authoring.release` writes ``.ormgrade/manifest.json`` into every student
template: the SHA-256 of each protected file (the engine, the specs, hooks and
task READMEs, the pristine starters, the project configuration and the
workflow). Grading never reads those files from a submission anyway (only the
editable files are taken), so a changed one costs nothing but a warning: it
tells the student, and the course staff, that the copy no longer matches what
was released.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import OrmgradeError

#: Where a released repository keeps its manifest, relative to its root.
MANIFEST_FILE = Path(".ormgrade") / "manifest.json"
MANIFEST_SCHEMA = "ormgrade.manifest"
MANIFEST_VERSION = 1

#: Warning templates (``GradeReport.warnings``).
CHANGED_WARNING = "{path} differs from the released copy (edits there are not graded)"
MISSING_WARNING = "{path} is missing from the released copy (it is not graded from your copy)"
UNREADABLE_WARNING = "{path} cannot be read as an ormgrade manifest: {problem}"


class ManifestError(OrmgradeError):
    """A manifest file exists but cannot be read."""


def file_digest(path: Path) -> str:
    """SHA-256 of ``path``, with CRLF line ends read as LF.

    Git on Windows may check text files out with CRLF; that is not an edit.
    """
    data = path.read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """What was released, and the checksum of every protected file.

    Attributes:
        files: Relative POSIX path of each protected file to its SHA-256.
        editable: Relative paths (``exercises/<id>/task.py``) students edit;
            a path ending in ``/`` stands for everything under it.
        exercises: The released exercise ids, in course order.
        engine_version: The ormgrade version that made the release.
    """

    files: Mapping[str, str]
    editable: tuple[str, ...] = ()
    exercises: tuple[str, ...] = ()
    engine_version: str = ""

    def to_json(self) -> str:
        """The manifest document (stable key order, so releases are reproducible)."""
        document = {
            "schema": MANIFEST_SCHEMA,
            "schema_version": MANIFEST_VERSION,
            "engine_version": self.engine_version,
            "exercises": list(self.exercises),
            "editable": list(self.editable),
            "algorithm": "sha256",
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse a manifest document.

        Raises:
            ManifestError: Not JSON, not a manifest, or an unknown version.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != MANIFEST_SCHEMA:
            raise ManifestError("not an ormgrade manifest")
        if data.get("schema_version") != MANIFEST_VERSION:
            raise ManifestError(f"unsupported manifest version {data.get('schema_version')!r}")
        files = data.get("files")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise ManifestError("'files' must map paths to checksums")
        return cls(
            files=files,
            editable=tuple(str(e) for e in data.get("editable", ())),
            exercises=tuple(str(e) for e in data.get("exercises", ())),
            engine_version=str(data.get("engine_version", "")),
        )

    @classmethod
    def read(cls, root: Path) -> Manifest | None:
        """The manifest of the repository at ``root``, or None when it has none.

        Raises:
            ManifestError: The file exists but is not a readable manifest.
        """
        path = root / MANIFEST_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(str(exc)) from None


def build_manifest(
    root: Path,
    protected: Iterable[str],
    *,
    editable: Iterable[str] = (),
    exercises: Iterable[str] = (),
    engine_version: str = "",
) -> Manifest:
    """Checksum the ``protected`` files (relative POSIX paths) under ``root``."""
    return Manifest(
        files={name: file_digest(root / name) for name in sorted(protected)},
        editable=tuple(editable),
        exercises=tuple(exercises),
        engine_version=engine_version,
    )


@dataclass(frozen=True)
class FileChange:
    """A protected file that no longer matches the manifest.

    Attributes:
        path: Its relative POSIX path.
        kind: ``changed`` or ``missing``.
    """

    path: str
    kind: str

    @property
    def warning(self) -> str:
        """The sentence shown to the student."""
        template = MISSING_WARNING if self.kind == "missing" else CHANGED_WARNING
        return template.format(path=self.path)


def changed_files(root: Path, manifest: Manifest) -> list[FileChange]:
    """The protected files of ``manifest`` that differ under ``root`` or are gone."""
    changes = []
    for name, digest in sorted(manifest.files.items()):
        path = root / name
        if not path.is_file():
            changes.append(FileChange(name, "missing"))
        elif file_digest(path) != digest:
            changes.append(FileChange(name, "changed"))
    return changes


def protected_file_warnings(catalog_root: Path, submission: Path) -> tuple[str, ...]:
    """Warnings about protected files changed in ``submission``.

    Only a released repository is checked (a submission holding
    ``.ormgrade/``). The checksums come from the catalog's manifest when the
    catalog has one (the copy the course staff control, such as the
    Gradescope bundle), else from the submission's own manifest.
    """
    if not (submission / MANIFEST_FILE.parent).is_dir():
        return ()
    try:
        manifest = Manifest.read(catalog_root) or Manifest.read(submission)
    except ManifestError as exc:
        return (UNREADABLE_WARNING.format(path=MANIFEST_FILE.as_posix(), problem=exc),)
    if manifest is None:
        return (MISSING_WARNING.format(path=MANIFEST_FILE.as_posix()),)
    return tuple(change.warning for change in changed_files(submission, manifest))
