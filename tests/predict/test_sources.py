"""predict.py's sources: a folder is walked through symlinked sub-folders; a FIFO named like an image or a video
is a frame with a reason, never a read that waits forever."""
from __future__ import annotations

import os
import signal

import cv2
import numpy as np

from yolo_exp.predict.sources import count_frames, expand, frames


def test_fifos_are_skipped_with_a_reason_and_linked_folders_followed(tmp_path):
    folder, other = tmp_path / "in", tmp_path / "other"
    folder.mkdir(), other.mkdir()
    cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))[1].tofile(str(folder / "a.jpg"))
    cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))[1].tofile(str(other / "b.jpg"))
    (folder / "linked").symlink_to(other, target_is_directory=True)
    (other / "up").symlink_to(folder, target_is_directory=True)  # a loop
    os.mkfifo(folder / "pipe.jpg")
    os.mkfifo(folder / "pipe.mp4")
    signal.alarm(20)  # fail rather than hang
    try:
        files = expand(str(folder))
        assert [os.path.relpath(f, folder) for f in files] == ["a.jpg", "linked/b.jpg", "pipe.jpg", "pipe.mp4"]
        assert count_frames(files, 1) == 4
        got = {os.path.basename(f.path): f.error for f in frames(str(folder))}
    finally:
        signal.alarm(0)
    assert got == {"a.jpg": None, "b.jpg": None, "pipe.jpg": "image is a FIFO, not a regular file",
                   "pipe.mp4": "video is a FIFO, not a regular file"}
