"""Atomic writes: a file is replaced only by complete content, and no temporary file is left."""
import errno
import json
import os
import math

import pytest

from ov_avss.utils.file_io import atomic_open, write_json_atomic


def test_atomic_open_replaces_only_on_success(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as f:
            f.write("new but incomplete")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    with atomic_open(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_open_rejects_append_and_read_modes(tmp_path):
    for mode in ("a", "r", "ab"):
        with pytest.raises(ValueError, match=repr(mode)):
            with atomic_open(tmp_path / "out.txt", mode):
                pass
    assert list(tmp_path.iterdir()) == []


def test_write_json_atomic_creates_folders_and_round_trips(tmp_path):
    target = tmp_path / "nested" / "folder" / "results.json"
    write_json_atomic(target, {"b": 1, "a": [0.5, "x"]}, sort_keys=True)
    text = target.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": [0.5, "x"], "b": 1}


def test_write_json_atomic_refuses_nan_without_touching_the_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("previous")
    with pytest.raises(ValueError):
        write_json_atomic(target, {"mIoU": math.nan}, allow_nan=False)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


class _DeviceFull:
    """A file object on a device with ``room`` bytes left: later writes fail with ENOSPC."""

    def __init__(self, f, room: int) -> None:
        self._f = f
        self._room = room

    def write(self, data):
        if len(data) > self._room:
            self._f.write(data[: self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._f.__exit__(*exc_info)


def test_no_space_left_keeps_the_previous_file_and_names_the_file(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text('["previous predictions"]')
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: _DeviceFull(real_fdopen(*args, **kwargs), room=16))
    with pytest.raises(OSError, match=rf"No space left on device while writing {target}; its previous content is unchanged") as info:
        write_json_atomic(target, [{"video_id": 1, "score": 0.5}] * 100, indent=None)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert target.read_text() == '["previous predictions"]'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no partial temporary file
