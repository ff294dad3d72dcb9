"""Atomic writes: a failure at any point leaves the previous file whole and no temporary file behind."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from mnist_mlp import atomic
from mnist_mlp.errors import EXIT_OUTPUT_FAILED, OutputError

PREVIOUS = b'{"previous": "report, complete"}\n'


@pytest.fixture
def report(tmp_path) -> Path:
    path = tmp_path / "report.json"
    path.write_bytes(PREVIOUS)
    return path


def untouched(path: Path) -> None:
    """The previous version is intact and the directory holds nothing else (no .tmp left)."""
    assert path.read_bytes() == PREVIOUS
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def disk_full() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_midway_through_writing(report):
    def half_then_full(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(b'{"new": "report, only the first ha')
            handle.flush()
            raise disk_full()

    with pytest.raises(OutputError) as info:
        atomic.write_with(report, half_then_full)
    assert str(info.value) == f"{report}: cannot write (No space left on device)"
    assert info.value.exit_code == EXIT_OUTPUT_FAILED == 4
    untouched(report)


def test_disk_full_at_fsync(report, monkeypatch):
    def full(fd):
        raise disk_full()

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OutputError, match=r"report\.json: cannot write \(No space left on device\)$"):
        atomic.write_json(report, {"new": 1})
    untouched(report)


def test_rename_fails(report, monkeypatch):
    def refuse(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(OutputError, match=r"report\.json: cannot write \(Invalid cross-device link\)$"):
        atomic.write_text(report, "new")
    untouched(report)


def test_interrupted_while_writing(report):
    def interrupted(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_with(report, interrupted)
    untouched(report)


def test_unserialisable_value_leaves_previous_file(report):
    with pytest.raises(ValueError):  # NaN is not JSON; a programming error, not an output fault
        atomic.write_json(report, {"accuracy": float("nan")})
    untouched(report)


def test_parent_is_a_regular_file(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    target = blocker / "sub" / "report.json"
    with pytest.raises(OutputError) as info:
        atomic.write_text(target, "x")
    assert str(info.value) == f"{target}: cannot write (Not a directory)"
    assert info.value.exit_code == EXIT_OUTPUT_FAILED


def test_success_replaces_and_leaves_nothing_else(report):
    atomic.write_json(report, {"new": [1, 2]})
    assert json.loads(report.read_text()) == {"new": [1, 2]}
    assert [p.name for p in report.parent.iterdir()] == [report.name]


@pytest.mark.parametrize("kind", ["under-a-file", "existing-file", "proc"])
def test_ensure_writable_dir_refuses(tmp_path, kind):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    path, problem = {
        "under-a-file": (blocker / "out", "cannot write output directory (Not a directory)"),
        "existing-file": (blocker, "output directory is an existing file, not a directory"),
        "proc": (Path("/proc/version/out"), "cannot write output directory (Not a directory)"),
    }[kind]
    with pytest.raises(OutputError) as info:
        atomic.ensure_writable_dir(path)
    assert str(info.value) == f"{path}: {problem}"
    assert info.value.exit_code == EXIT_OUTPUT_FAILED
    assert blocker.read_text() == "keep me"


def test_ensure_writable_dir_leaves_no_probe_file(tmp_path):
    out = atomic.ensure_writable_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []
