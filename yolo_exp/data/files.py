"""Finding images, pairing them with label files, and decoding them.

Everything reads through ``np.fromfile`` + ``cv2.imdecode`` so non-ASCII paths work on every platform, and decoding
always yields 3-channel 8-bit BGR with EXIF orientation applied: the rest of the pipeline never branches on format.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

IMG_FORMATS = frozenset({"bmp", "jpg", "jpeg", "png", "tif", "tiff", "webp", "mpo"})
LABEL_RULE = "label path = image path with the last '/images/' replaced by '/labels/' and the extension by '.txt'"


def img2label_path(im_file: str | Path) -> str:
    """YOLOv5's rule: the last ``/images/`` becomes ``/labels/`` and the extension ``.txt``."""
    s = os.fspath(im_file)
    a, b = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    head, sep, tail = s.rpartition(a)
    s = head + b + tail if sep else s
    return os.path.splitext(s)[0] + ".txt"


def is_image(p: str | Path) -> bool:
    return os.path.splitext(os.fspath(p))[1][1:].lower() in IMG_FORMATS


def _read_list(txt: Path) -> list[str]:
    out = []
    for line in txt.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        p = Path(line)
        if line.startswith("./") or not p.is_absolute():
            p = txt.parent / p
        out.append(os.path.normpath(p))
    return out


def list_images(sources: Path | str | Iterable[Path | str]) -> list[str]:
    """All image files of folders (recursive) and ``.txt`` lists, absolute and sorted."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[str] = []
    for src in sources:
        src = Path(src).expanduser().absolute()
        if src.is_dir():
            files += [os.fspath(p) for p in src.rglob("*") if p.is_file()]
        elif src.is_file() and src.suffix == ".txt":
            files += _read_list(src)
        elif src.is_file():
            files.append(os.fspath(src))
        else:
            raise FileNotFoundError(f"image source does not exist: {src}")
    return sorted({f for f in files if is_image(f)})


def decode_image(buf: np.ndarray) -> np.ndarray | None:
    """Bytes -> HxWx3 uint8 BGR (EXIF-rotated; grey, 16-bit and RGBA converted), or None when undecodable."""
    if buf.size == 0:
        return None
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def read_image(path: str | Path) -> np.ndarray:
    """Decode one image file; raise with the path when it cannot be decoded."""
    im = decode_image(np.fromfile(os.fspath(path), dtype=np.uint8))
    if im is None:
        raise ValueError(f"cannot decode image {path}")
    return im


def write_image(path: str | Path, im: np.ndarray, quality: int = 95) -> None:
    """Encode by extension and write through numpy (non-ASCII safe)."""
    ext = os.path.splitext(os.fspath(path))[1] or ".jpg"
    ok, enc = cv2.imencode(ext, im, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode image {path}")
    enc.tofile(os.fspath(path))


def resize_long_side(im: np.ndarray, size: int, augment: bool) -> np.ndarray:
    """Resize so the long side is ``size`` (INTER_AREA for downsizing when not augmenting, as YOLOv5).

    Sides round up, as YOLOv5's: for a few source sizes the long side comes out at ``size + 1`` (a 525 px side at
    640 gives 641); the letterbox then fits the image into its batch shape.
    """
    h0, w0 = im.shape[:2]
    r = size / max(h0, w0)
    if r == 1:
        return im
    interp = cv2.INTER_LINEAR if (augment or r > 1) else cv2.INTER_AREA
    # ceil, as YOLOv5: with rect_batches' tie order this makes val batches pixel-identical to YOLOv5's (coco128,
    # 320 and 640), so the official weights give YOLOv5's own figures to the last printed digit.
    return cv2.resize(im, (max(1, math.ceil(w0 * r)), max(1, math.ceil(h0 * r))), interpolation=interp)


def file_signature(paths: Sequence[str]) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) per path; (path, -1, -1) for a missing one. The basis of every cache key."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((p, -1, -1))
    return out
