"""What predict.py reads: an image, a folder, a glob, a text file of paths, a video, a camera index or a stream URL.

Every source is a sequence of frames (an image file is one frame); a file that cannot be decoded comes as a frame
without pixels, so the caller can name it and go on.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolo_exp.data.files import IMG_FORMATS, MAX_LIST_BYTES, is_image, read_image, walk_files
from yolo_exp.files.limits import not_regular, read_text

VID_FORMATS = frozenset({"asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts", "wmv", "webm"})
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@dataclass
class Frame:
    path: str                  # the file, or the camera index / stream URL
    index: int | None          # frame number in a video or stream; None for an image
    image: np.ndarray | None   # BGR; None when it could not be read
    error: str | None = None
    fps: float = 0.0           # of the video it comes from
    total: int = 0             # frames in that video (0: unknown, a stream)


def is_video(p: str | Path) -> bool:
    return os.path.splitext(os.fspath(p))[1][1:].lower() in VID_FORMATS


def is_stream(source: str) -> bool:
    return source.isdigit() or source.lower().startswith(STREAM_PREFIXES)


def expand(source: str) -> list[str]:
    """The files a file/folder/glob/list source names (images and videos, sorted; a list keeps its order)."""
    path = Path(source).expanduser()
    if any(ch in source for ch in "*?[") and not path.exists():  # a folder named "a [1]" is that folder
        files = sorted(glob.glob(os.path.expanduser(source), recursive=True))
    elif path.is_dir():  # through symlinked folders; a FIFO named like an image is listed, and refused by name
        files = sorted(walk_files(path)[0])
    elif path.suffix.lower() == ".txt" and path.exists():
        base = path.parent
        lines = [ln.strip() for ln in read_text(path, MAX_LIST_BYTES, f"source={source}").splitlines() if ln.strip()]
        files = [str(p if p.is_absolute() else base / p) for p in map(Path, lines)]
    elif path.exists():
        files = [str(path)]
    else:
        raise FileNotFoundError(f"source={source}: no such file, folder or glob match")
    media = [f for f in files if is_image(f) or is_video(f)]
    if not media:
        raise FileNotFoundError(f"source={source}: no images or videos ({', '.join(sorted(IMG_FORMATS | VID_FORMATS))})")
    return media


def _open(source: str):  # noqa: ANN202 - a cv2.VideoCapture (cv2 is imported late: it is heavy)
    """A capture of a file, camera index or URL, opened quietly: why it failed goes into our own one line, where
    OpenCV's and FFmpeg's messages (no camera, connection refused, moov atom not found) would add several more
    (``OPENCV_FFMPEG_LOGLEVEL=32`` brings FFmpeg's back)."""
    import cv2

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(int(source) if source.isdigit() else source)
    finally:
        cv2.utils.logging.setLogLevel(level)


def count_frames(files: list[str], vid_stride: int) -> int:
    import cv2

    n = 0
    for f in files:
        if is_video(f) and _irregular(f) is None:
            cap = _open(f)
            n += -(-int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) // vid_stride)
            cap.release()
        else:
            n += 1
    return n


def frames(source: str, vid_stride: int = 1) -> Iterator[Frame]:
    """Every frame of the source in order; a video or stream is read every ``vid_stride``-th frame."""
    if is_stream(source):
        yield from _video(source, vid_stride, stream=True)
        return
    for f in expand(source):
        if is_video(f) and _irregular(f):  # OpenCV would wait on a FIFO forever
            yield Frame(f, None, None, error=f"video is {_irregular(f)}, not a regular file")
        elif is_video(f):
            yield from _video(f, vid_stride)
        else:
            yield _image(f)


def _image(f: str) -> Frame:
    try:
        return Frame(f, None, read_image(f))
    except (OSError, ValueError) as exc:
        return Frame(f, None, None, error=str(exc).removeprefix(f"{f}: "))  # the caller names the file


def _irregular(path: str) -> str | None:
    try:
        return not_regular(os.stat(path).st_mode)
    except OSError as exc:
        return exc.strerror or "unreadable"


def _video(source: str, vid_stride: int, stream: bool = False) -> Iterator[Frame]:
    import cv2

    cap = _open(source)
    what = f"video {'stream ' if stream else ''}{source}"
    if not cap.isOpened():
        yield Frame(source, None, None, error=f"cannot open {what}")
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = 0 if stream else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    try:
        i = 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if i % vid_stride == 0:
                ok, im = cap.retrieve()
                if not ok:
                    break
                yield Frame(source, i, im, fps=fps, total=total)
            i += 1
        if i == 0:  # opened, but not one frame decodes (a truncated or empty file)
            yield Frame(source, None, None, error=f"no frame could be read from {what}")
    finally:
        cap.release()
