"""Finding images, pairing them with label files, and decoding them.

Everything reads regular files only (``limits.read_regular``: a FIFO named like an image never blocks) and decodes
the bytes with ``cv2.imdecode``, so non-ASCII paths work on every platform; decoding always yields 3-channel 8-bit
BGR with EXIF orientation applied, after a header check of the pixel count: the rest of the pipeline never branches
on format.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from yolo_exp.data.jpeg import jpeg_size
from yolo_exp.files.limits import max_image_bytes, max_pixels, read_regular, read_text

LOGGER = logging.getLogger(__name__)

IMG_FORMATS = frozenset({"bmp", "jpg", "jpeg", "png", "tif", "tiff", "webp", "mpo"})
PIL_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP")  # Pillow's names for IMG_FORMATS (MPO is read as JPEG)
MAX_LIST_BYTES = 1 << 30  # a .txt list of image paths (a million paths are ~100 MB)
# OpenCV refuses images over this many pixels (read once, when cv2 loads); said in one line rather than decoded.
_CV_ENV = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", "").strip()
CV_MAX_PIXELS = int(_CV_ENV) if _CV_ENV.isdigit() else 1 << 30
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
    for line in read_text(txt, MAX_LIST_BYTES, f"image list {txt}").splitlines():
        line = line.strip()
        if not line:
            continue
        p = Path(line)
        if line.startswith("./") or not p.is_absolute():
            p = txt.parent / p
        out.append(os.path.normpath(p))
    return out


def walk_files(root: Path | str) -> tuple[list[str], list[str]]:
    """Every entry under ``root`` that is not a folder, plus folders named like an image (verification names
    them), and those of them that came through symlinked folders. Symlinked folders are followed, as YOLOv5's glob
    follows them (``rglob`` does not), each real folder once: a link back up the tree cannot loop."""
    files: list[str] = []
    linked: list[str] = []
    seen: set[tuple[int, int]] = set()
    real_root = os.path.realpath(root)
    for folder, dirs, names in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # reached again through a link: a loop, or a second way in
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()  # a folder reached two ways is listed under its first name in sorted order, on every machine
        found = [os.path.join(folder, n) for n in names] + [os.path.join(folder, d) for d in dirs if is_image(d)]
        files += found
        if os.path.realpath(folder) != os.path.normpath(os.path.join(real_root, os.path.relpath(folder, root))):
            linked += found
    return files, linked


def list_images(sources: Path | str | Iterable[Path | str]) -> list[str]:
    """All image files of folders (recursive, through symlinked folders) and ``.txt`` lists, absolute and sorted.
    Entries named like images are listed whatever they are (a FIFO, a folder): verification refuses them by name."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    files: list[str] = []
    for src in sources:
        src = Path(src).expanduser().absolute()
        if src.is_dir():
            found, linked = walk_files(src)
            files += found
            if any(map(is_image, linked)):
                LOGGER.info("%s: %d images found through symlinked folders", src, sum(map(is_image, linked)))
        elif src.suffix == ".txt" and src.exists():
            files += _read_list(src)
        elif src.exists():
            files.append(os.fspath(src))
        else:
            raise FileNotFoundError(f"image source does not exist: {src}")
    return sorted({f for f in files if is_image(f)})


def decode_image(data: bytes) -> np.ndarray | None:
    """Bytes -> HxWx3 uint8 BGR (EXIF-rotated; grey, 16-bit and RGBA converted), or None when undecodable.
    ValueError for an image whose header claims more than ``max_pixels()`` pixels, before any is decoded."""
    if not data:
        return None
    check_pixels(data)
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def check_pixels(data: bytes) -> None:
    """Refuse an image whose header asks for more than ``max_pixels()`` (a small file can claim a gigapixel, and
    decoding allocates all of it), and say so in one line where OpenCV's own limit would refuse it."""
    size = header_size(data)
    if size is not None:  # else not for Pillow to judge: OpenCV decodes it or says it cannot
        check_size(*size)


def check_size(w: int, h: int) -> None:
    """``check_pixels`` for a size already read from a header."""
    limit = max_pixels()
    if w * h > limit:
        raise ValueError(f"image header claims {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} "
                         "(YOLO_EXP_MAX_PIXELS)")
    if w * h > CV_MAX_PIXELS:
        raise ValueError(f"image has {w}x{h} = {w * h:,} pixels, over OpenCV's limit of {CV_MAX_PIXELS:,} (set "
                         "OPENCV_IO_MAX_IMAGE_PIXELS in the environment to decode it)")


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header (a JPEG's by ``jpeg_size``, others' by Pillow's format plugins
    directly): nothing is decoded, and Pillow's own decompression-bomb limit (applied by ``Image.open``) does not
    stand in for ours."""
    size = jpeg_size(data)
    if size is not None:
        return size
    import io

    from PIL import Image

    Image.init()
    for fmt in PIL_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        verdict = accept(data[:16]) if accept else factory is not None
        if factory is None or not verdict or isinstance(verdict, str):  # a str is Pillow's reason to refuse
            continue
        try:
            with factory(io.BytesIO(data)) as im:
                return im.size
        except Exception:  # noqa: BLE001 - a header this plugin cannot read: try the next, else leave it to OpenCV
            continue
    return None


def read_image(path: str | Path) -> np.ndarray:
    """Decode one image file; raise with the path when it cannot be decoded (or is not a regular file)."""
    try:
        im = decode_image(read_regular(path, max_image_bytes(), "image"))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
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
    return cv2.resize(im, long_side_size(w0, h0, size), interpolation=interp)


def long_side_size(w0: int, h0: int, size: int) -> tuple[int, int]:
    """(w, h) of ``resize_long_side``. Ceil, as YOLOv5: with rect_batches' tie order this makes val batches
    pixel-identical to YOLOv5's (coco128, 320 and 640), so the official weights give YOLOv5's own figures to the
    last printed digit."""
    r = size / max(h0, w0)
    return max(1, math.ceil(w0 * r)), max(1, math.ceil(h0 * r))


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
