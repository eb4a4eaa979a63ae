"""The manifest of protected files: checksums, and the warnings a changed file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.manifest import (
    CHANGED_WARNING,
    MANIFEST_FILE,
    MISSING_WARNING,
    UNREADABLE_WARNING,
    Manifest,
    ManifestError,
    build_manifest,
    changed_files,
    protected_file_warnings,
)


def repository(root: Path) -> Path:
    """A released repository with two protected files and one editable file."""
    for name, text in {
        "exercises/a/spec.toml": "id = 'a'\n",
        "exercises/a/task.py": "def run(): ...\n",
        "grader/cli.py": "print('grader')\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    manifest = build_manifest(
        root, ["exercises/a/spec.toml", "grader/cli.py"], editable=["exercises/a/task.py"]
    )
    (root / MANIFEST_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return root


def test_manifest_round_trips(tmp_path: Path) -> None:
    root = repository(tmp_path)
    manifest = Manifest.read(root)
    assert manifest is not None
    assert sorted(manifest.files) == ["exercises/a/spec.toml", "grader/cli.py"]
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_an_untouched_copy_has_no_changes(tmp_path: Path) -> None:
    root = repository(tmp_path)
    (root / "exercises/a/task.py").write_text("def run(): return 1\n", encoding="utf-8")
    assert protected_file_warnings(root, root) == ()


def test_changed_and_missing_files_are_named(tmp_path: Path) -> None:
    root = repository(tmp_path)
    (root / "grader/cli.py").write_text("print('mine')\n", encoding="utf-8")
    (root / "exercises/a/spec.toml").unlink()
    manifest = Manifest.read(root)
    assert manifest is not None
    assert [(c.path, c.kind) for c in changed_files(root, manifest)] == [
        ("exercises/a/spec.toml", "missing"),
        ("grader/cli.py", "changed"),
    ]
    assert protected_file_warnings(root, root) == (
        MISSING_WARNING.format(path="exercises/a/spec.toml"),
        CHANGED_WARNING.format(path="grader/cli.py"),
    )


def test_the_catalogs_manifest_wins_over_the_submissions(tmp_path: Path) -> None:
    released = repository(tmp_path / "released")
    student = repository(tmp_path / "student")
    (student / "grader/cli.py").write_text("print('mine')\n", encoding="utf-8")
    # The student rewrote their manifest to match; the released copy's still tells.
    forged = build_manifest(student, ["exercises/a/spec.toml", "grader/cli.py"])
    (student / MANIFEST_FILE).write_text(forged.to_json(), encoding="utf-8")
    assert protected_file_warnings(student, student) == ()
    assert protected_file_warnings(released, student) == (
        CHANGED_WARNING.format(path="grader/cli.py"),
    )


def test_only_a_released_repository_is_checked(tmp_path: Path) -> None:
    released = repository(tmp_path / "released")
    folder_of_exercises = tmp_path / "solutions"
    folder_of_exercises.mkdir()
    assert protected_file_warnings(released, folder_of_exercises) == ()


def test_a_deleted_or_broken_manifest_is_a_warning(tmp_path: Path) -> None:
    root = repository(tmp_path)
    (root / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    (warning,) = protected_file_warnings(root, root)
    assert warning.startswith(
        UNREADABLE_WARNING.split("{problem}")[0].format(path=MANIFEST_FILE.as_posix())
    )
    (root / MANIFEST_FILE).unlink()
    assert protected_file_warnings(root, root) == (
        MISSING_WARNING.format(path=MANIFEST_FILE.as_posix()),
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", "not an ormgrade manifest"),
        ('{"schema": "ormgrade.manifest", "schema_version": 9, "files": {}}', "version 9"),
        ('{"schema": "ormgrade.manifest", "schema_version": 1, "files": []}', "'files'"),
    ],
)
def test_malformed_manifests_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        Manifest.from_json(text)
