"""A submission as task data: what travels, what a worker rebuilds, what it refuses.

Each kind of submission (a repository, one exercise's folder, migrations,
notebooks) and each thing `locate` refuses (a missing file, a link leading
outside, a folder where a file belongs, an oversized file) is packed, sent
through JSON and unpacked; the rebuilt copy must be read by `locate` exactly
as the original is. No broker is involved.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from grader.classbook.payload import (
    MAX_PAYLOAD_BYTES,
    PAYLOAD_TOO_LARGE,
    EntryKind,
    PayloadError,
    SubmissionPayload,
    pack,
)
from grader.classbook.worker import (
    CATALOG_DIFFERS,
    GradingRequest,
    SessionKeeper,
    TaskStatus,
    WorkerSettings,
    grade_task,
    grading_fingerprint,
    result_backend_for,
)
from grader.course.catalog import Catalog
from grader.course.notebook import write_notebooks
from grader.course.submission import MAX_FILE_BYTES, SubmissionFiles, locate, stage

IDS = ("filter_limit", "column_projection", "migration_add_column")


def _through_json(payload: SubmissionPayload) -> SubmissionPayload:
    return SubmissionPayload.from_message(json.loads(json.dumps(payload.to_message())))


def _read_alike(
    original: Path, catalog: Catalog, tmp_path: Path, ids: tuple[str, ...] = IDS
) -> None:
    """The rebuilt copy of ``original`` reads as ``original`` for every exercise."""
    specs = catalog.select(ids)
    rebuilt = _through_json(pack(original, specs)).unpack(tmp_path / "worker")
    for spec in specs:
        mine, theirs = locate(original, spec), locate(rebuilt, spec)
        assert [p.replace(str(rebuilt), "<s>") for p in theirs.problems] == [
            p.replace(str(original), "<s>") for p in mine.problems
        ]
        assert sorted(theirs.files) == sorted(mine.files)
        assert _staged(theirs, tmp_path / "b") == _staged(mine, tmp_path / "a")
        assert theirs.sources == mine.sources


def _staged(found: SubmissionFiles, into: Path) -> dict[str, bytes]:
    """What grading takes of ``found``: the files `stage` copies, by relative path."""
    folder = stage(found, into / found.exercise_id)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _repository(root: Path, catalog: Catalog, ids: tuple[str, ...] = IDS) -> Path:
    for exercise_id in ids:
        shutil.copytree(catalog.exercises_dir / exercise_id, root / "exercises" / exercise_id)
    return root


def test_a_repository_travels_as_its_editable_files_only(tmp_path: Path, catalog: Catalog) -> None:
    student = _repository(tmp_path / "alice", catalog)
    (student / "exercises" / "filter_limit" / "test_mine.py").write_text("x = 1\n")
    (student / "notes.md").write_text("not graded\n")
    payload = pack(student, catalog.select(IDS))
    paths = {e.path for e in payload.entries if e.kind is EntryKind.FILE}
    assert "exercises/filter_limit/task.py" in paths
    assert "exercises/migration_add_column/models.py" in paths
    assert not {p for p in paths if p.endswith(("test_mine.py", "notes.md", "spec.toml"))}
    _read_alike(student, catalog, tmp_path)


def test_what_locate_refuses_travels_as_a_marker(tmp_path: Path, catalog: Catalog) -> None:
    student = _repository(tmp_path / "bob", catalog)
    (student / "exercises" / "filter_limit" / "task.py").unlink()
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 1\n")
    projection = student / "exercises" / "column_projection" / "task.py"
    projection.unlink()
    projection.symlink_to(secret)
    models = student / "exercises" / "migration_add_column" / "models.py"
    models.unlink()
    models.mkdir()
    payload = pack(student, catalog.select(IDS))
    kinds = {e.path: e.kind for e in payload.entries}
    assert kinds["exercises/column_projection/task.py"] is EntryKind.OUTSIDE_LINK
    assert kinds["exercises/migration_add_column/models.py"] is EntryKind.NOT_FILE
    assert "exercises/filter_limit/task.py" not in kinds
    assert b"SECRET" not in json.dumps(payload.to_message()).encode()
    _read_alike(student, catalog, tmp_path)


def test_an_oversized_file_travels_without_its_content(tmp_path: Path, catalog: Catalog) -> None:
    student = _repository(tmp_path / "carol", catalog, ("filter_limit",))
    task = student / "exercises" / "filter_limit" / "task.py"
    task.write_bytes(b"#" * (MAX_FILE_BYTES + 10))
    payload = pack(student, catalog.select(["filter_limit"]))
    assert payload.size == 0
    _read_alike(student, catalog, tmp_path, ("filter_limit",))


def test_an_exercise_folder_and_notebooks_travel_too(tmp_path: Path, catalog: Catalog) -> None:
    folder = tmp_path / "filter_limit"
    shutil.copytree(catalog.solutions_dir / "filter_limit", folder)
    _read_alike(folder, catalog, tmp_path / "one", ("filter_limit",))
    notebooks = tmp_path / "dave"
    write_notebooks(catalog, notebooks, ["filter_limit"])
    _read_alike(notebooks, catalog, tmp_path / "two", ("filter_limit",))
    single = _through_json(pack(notebooks / "filter_limit.ipynb", catalog.select(["filter_limit"])))
    assert single.single_file
    rebuilt = single.unpack(tmp_path / "three")
    assert rebuilt.read_bytes() == (notebooks / "filter_limit.ipynb").read_bytes()


def test_migrations_travel_as_stage_copies_them(tmp_path: Path, catalog: Catalog) -> None:
    student = _repository(tmp_path / "erin", catalog, ("migration_add_column",))
    shutil.copytree(
        catalog.solutions_dir / "migration_add_column",
        student / "exercises" / "migration_add_column",
        dirs_exist_ok=True,
    )
    versions = student / "exercises" / "migration_add_column" / "migrations" / "versions"
    (versions / "__pycache__").mkdir(exist_ok=True)
    (versions / "__pycache__" / "junk.pyc").write_bytes(b"junk")
    os.symlink(tmp_path, versions / "escape")
    payload = pack(student, catalog.select(["migration_add_column"]))
    paths = {e.path for e in payload.entries}
    assert not {p for p in paths if "__pycache__" in p or p.endswith("/escape")}
    _read_alike(student, catalog, tmp_path, ("migration_add_column",))


def test_a_payload_past_the_bound_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    student = _repository(tmp_path / "frank", catalog, ("migration_add_column",))
    versions = student / "exercises" / "migration_add_column" / "migrations" / "versions"
    for number in range(5):
        (versions / f"big_{number}.py").write_bytes(b"#" * (MAX_FILE_BYTES - 1))
    with pytest.raises(PayloadError) as raised:
        pack(student, catalog.select(["migration_add_column"]))
    size = int(str(raised.value).split(" total ")[1].split()[0])
    assert size >= 5 * (MAX_FILE_BYTES - 1) > MAX_PAYLOAD_BYTES
    assert str(raised.value) == PAYLOAD_TOO_LARGE.format(size=size, limit=MAX_PAYLOAD_BYTES)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"path": "/etc/passwd", "kind": "file", "data": ""}, "refused"),
        ({"path": "exercises/../../x", "kind": "file", "data": ""}, "refused"),
        ({"path": "a\\b", "kind": "file", "data": ""}, "refused"),
        ({"path": "x.py", "kind": "pickle", "data": ""}, "unknown kind"),
        ({"path": "x.py", "kind": "file", "data": "not base64!"}, "bad base64"),
        ("x.py", "not an object"),
    ],
)
def test_a_malformed_payload_is_refused(entry: object, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        SubmissionPayload.from_message({"name": "s", "single_file": False, "entries": [entry]})


def test_a_payload_past_the_bound_is_refused_by_the_worker_too() -> None:
    data = base64.b64encode(b"#" * (MAX_PAYLOAD_BYTES // 2 + 1)).decode()
    entries = [{"path": f"f{n}.py", "kind": "file", "data": data} for n in range(2)]
    with pytest.raises(PayloadError, match="more than"):
        SubmissionPayload.from_message({"name": "s", "single_file": False, "entries": entries})


def test_a_worker_refuses_a_task_of_another_catalog(tmp_path: Path, catalog: Catalog) -> None:
    shutil.copytree(catalog.exercises_dir / "filter_limit", tmp_path / "exercises" / "filter_limit")
    spec = tmp_path / "exercises" / "filter_limit" / "spec.toml"
    spec.write_text(spec.read_text().replace("limit = 10", "limit = 11"))
    theirs = Catalog(tmp_path)
    student = _repository(tmp_path / "gina", catalog, ("filter_limit",))
    request = GradingRequest(
        run_id="r1",
        student="gina",
        exercise_ids=("filter_limit",),
        fingerprint=grading_fingerprint(catalog, catalog.select(["filter_limit"])),
        dialect="sqlite",
        seed=7,
        timeout=None,
        memory_mb=None,
        payload=pack(student, catalog.select(["filter_limit"])),
    )
    answer = grade_task(
        request.to_message(), WorkerSettings(theirs.root, None, "w@h"), SessionKeeper()
    )
    assert answer["status"] == TaskStatus.REFUSED
    assert answer["message"] == CATALOG_DIFFERS.format(
        worker="w@h",
        expected=request.fingerprint,
        actual=grading_fingerprint(theirs, theirs.select(["filter_limit"])),
    )
    assert request.fingerprint != grading_fingerprint(theirs, theirs.select(["filter_limit"]))


@pytest.mark.parametrize("field", ["seed", "timeout", "memory_mb", "exercise_ids", "version"])
def test_a_task_with_a_bad_field_is_refused(field: str) -> None:
    message = {
        "version": 1,
        "run_id": "r",
        "student": "s",
        "exercise_ids": ["filter_limit"],
        "fingerprint": "f",
        "dialect": "sqlite",
        "seed": 7,
        "timeout": 2.0,
        "memory_mb": 256,
        "payload": {"name": "s", "single_file": False, "entries": []},
    }
    GradingRequest.from_message(message)  # the valid one is read
    message[field] = {"seed": -1, "timeout": 1e9, "memory_mb": True, "exercise_ids": "x"}.get(
        field, 99
    )
    answer = grade_task(message, WorkerSettings(Path("/nowhere"), None, "w@h"), SessionKeeper())
    assert answer["status"] == TaskStatus.REFUSED
    assert "not a grading task" in answer["message"]


def test_the_result_backend_follows_the_broker() -> None:
    assert result_backend_for("redis://h:6379/3") == "redis://h:6379/3"
    assert result_backend_for("amqp://u:p@h:5672//") == "rpc://"
    with pytest.raises(Exception, match="not a supported broker"):
        result_backend_for("sqs://")
