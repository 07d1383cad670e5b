"""Atomic writes: a failed write names the file and the cause and leaves nothing; stale temporary files go."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from yolo_exp.engine.checkpoint import atomic_save
from yolo_exp.files.atomic import atomic_write_text, remove_stale_temps


def test_text_write_replaces_whole_files(tmp_path):
    atomic_write_text(tmp_path / "a.json", "old")
    atomic_write_text(tmp_path / "a.json", "new")
    assert (tmp_path / "a.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_full_disk_is_named_and_leaves_no_temp_file(tmp_path, monkeypatch):
    """torch reports a full disk as 'unexpected pos ...'; the error must say what happened, to which file."""
    from yolo_exp.files import atomic

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full)
    usage = shutil.disk_usage(tmp_path)._replace(free=4096)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: usage)
    with pytest.raises(OSError, match="no space left on the device") as info:
        atomic_save({"model": {}}, tmp_path / "last.pt")
    assert info.value.filename == str(tmp_path / "last.pt") and list(tmp_path.iterdir()) == []


def test_only_our_own_stale_temp_files_are_removed(tmp_path):
    """A kill during a write leaves our temporary file; a user's own ``.*.tmp`` files are none of our business."""
    import os
    import signal
    import subprocess
    import sys

    writer = ("import sys, time; from yolo_exp.files.atomic import atomic_write\n"
              "def slow(f):\n    f.write(b'half'); f.flush(); print('ready', flush=True); time.sleep(60)\n"
              "atomic_write(sys.argv[1], slow)")
    proc = subprocess.Popen([sys.executable, "-c", writer, str(tmp_path / "last.pt")], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.stdout.readline().strip() == b"ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (ours,) = tmp_path.iterdir()  # what a cut write leaves behind
    users = [tmp_path / ".notes.tmp", tmp_path / ".last.pt.draft.tmp"]
    for p in users:
        p.write_text("the user's")
    (tmp_path / "last.pt").write_bytes(b"kept")
    assert remove_stale_temps(tmp_path) == [ours]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last.pt", *(p.name for p in users)])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_new_files_honour_the_umask_and_existing_ones_keep_their_mode(tmp_path, umask):
    """mkstemp makes 0600 files: a run written that way is unreadable to colleagues on a shared machine."""
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "summary.json", "{}")
        atomic_save({"model": {}}, tmp_path / "last.pt")
        with open(tmp_path / "plain.txt", "w"):
            pass
    finally:
        os.umask(old)
    want = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert want == 0o666 & ~umask
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == dict.fromkeys(
        ["summary.json", "last.pt", "plain.txt"], want)
    (tmp_path / "summary.json").chmod(0o600)  # a file someone made private stays private when rewritten
    atomic_write_text(tmp_path / "summary.json", "{}")
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == 0o600
