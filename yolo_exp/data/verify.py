"""Checking every image/label pair once, in parallel, and saying exactly what was wrong and with which file.

Policy (more forgiving than YOLOv5, which drops whole images for tiny rounding errors): duplicate rows are removed,
coordinates a little outside [0, 1] are clipped, and only truly broken images or labels skip the image. Nothing on disk
is ever modified.
"""
from __future__ import annotations

import logging
import math
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool

import numpy as np
from tqdm import tqdm

from yolo_exp.data.augment import box_polygons
from yolo_exp.data.files import LABEL_RULE, check_size, decode_image, img2label_path
from yolo_exp.data.jpeg import jpeg_header
from yolo_exp.data.processes import worker_context
from yolo_exp.files.limits import (MAX_LABEL_BYTES, max_image_bytes, read_ends, read_regular, read_text, short,
                                   short_repr)
from yolo_exp.ops.boxes import xywh2xyxy, xyxy2xywh

LOGGER = logging.getLogger(__name__)

FOUND, BACKGROUND, EMPTY, CORRUPT = "found", "background", "empty", "corrupt"
STATUSES = (FOUND, BACKGROUND, EMPTY, CORRUPT)
MIN_SIDE = 10
ROUNDING = 1e-5


@dataclass
class ImageRecord:
    """What verification learns about one image; ``labels`` are (k, 5) [cls, cx, cy, w, h] normalised."""

    im_file: str
    status: str
    shape: tuple[int, int] = (0, 0)  # original (w, h), EXIF applied
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), np.float32))
    segments: list[np.ndarray] = field(default_factory=list)  # normalised (m, 2) polygons, one per label or none
    msgs: list[str] = field(default_factory=list)


def _parse_rows(text: str) -> list[list[float]]:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            row = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"non-numeric value on line {i}: {short_repr(line.strip())}") from None
        if not all(math.isfinite(v) for v in row):  # float() reads nan and inf; no label can hold them
            raise ValueError(f"non-finite value (NaN or Inf) on line {i}: {short_repr(line.strip())}")
        rows.append(row)
    return rows


def _rows_to_labels(rows: list[list[float]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows -> (k, 5) [cls, cx, cy, w, h] and, when any row is a polygon, one polygon per row."""
    bad = sorted({len(r) for r in rows if len(r) != 5 and (len(r) < 7 or len(r) % 2 == 0)})
    if bad:
        raise ValueError(f"rows with {bad} columns (expected 5 for a box or 1+2n, n>=3, for a polygon)")
    if all(len(r) == 5 for r in rows):
        return np.array(rows, np.float32).reshape(-1, 5), []
    cls, segs = [], []
    for r in rows:
        cls.append(r[0])
        if len(r) == 5:  # a box among polygons becomes its 4 corners, so every label has a polygon
            segs += box_polygons(np.array([r[1:]], np.float32))
        else:
            segs.append(np.array(r[1:], np.float32).reshape(-1, 2))
    boxes = np.array([[s[:, 0].min(), s[:, 1].min(), s[:, 0].max(), s[:, 1].max()] for s in segs], np.float32)
    labels = np.concatenate([np.array(cls, np.float32)[:, None], xyxy2xywh(boxes)], 1)
    return labels, segs


def first_rows(a: np.ndarray) -> list[int]:
    """Indices of each distinct row's first occurrence, in order: what ``np.unique(axis=0, return_index=True)``
    gives, sorted, without its ~90 us per call on a few rows (rows compare as floats: -0.0 equals 0.0)."""
    seen: dict[tuple[float, ...], int] = {}
    for i, row in enumerate(a.tolist()):
        seen.setdefault(tuple(row), i)
    return list(seen.values())


def check_labels(
    rows: list[list[float]], nc: int, tol: float = 0.01
) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Validate and repair parsed rows; raise ValueError for anything that must skip the image."""
    labels, segs = _rows_to_labels(rows)
    msgs: list[str] = []
    cls = labels[:, 0]
    if (cls < 0).any() or (labels[:, 3:5] < 0).any():
        raise ValueError("negative label values")
    if (cls != np.round(cls)).any():
        raise ValueError(f"non-integer class ids {short_repr(sorted(set(cls[cls != np.round(cls)].tolist())))}")
    if nc and (cls >= nc).any():
        raise ValueError(f"class {int(cls.max())} exceeds nc={nc}")
    xywh = labels[:, 1:5]
    if (xywh[:, :2] < -tol).any() or (xywh > 1 + tol).any():  # YOLOv5's rule: centre and size within [0, 1]
        raise ValueError(f"box centre or size out of bounds [{float(xywh.min()):.4g}, {float(xywh.max()):.4g}] "
                         f"(tolerance {tol})")
    # A box that runs past the image edge (large objects cut by it) is kept, as YOLOv5 keeps it, and clipped.
    xyxy = xywh2xyxy(xywh)
    pts = np.concatenate([xyxy.reshape(-1, 2)] + segs) if segs else xyxy.reshape(-1, 2)
    lo, hi = float(pts.min(initial=0.0)), float(pts.max(initial=1.0))
    if lo < 0 or hi > 1:
        if lo < -ROUNDING or hi > 1 + ROUNDING:  # below that it is float noise of the xywh <-> xyxy round trip
            msgs.append(f"coordinates in [{lo:.4g}, {hi:.4g}] clipped to [0, 1]")
        labels[:, 1:5] = xyxy2xywh(xyxy.clip(0, 1))
        segs = [s.clip(0, 1) for s in segs]
    keep = first_rows(labels)
    if len(keep) < len(labels):
        msgs.append(f"{len(labels) - len(keep)} duplicate labels removed")
        labels, segs = labels[keep], [segs[i] for i in keep] if segs else segs
    tiny = (labels[:, 3] <= 0) | (labels[:, 4] <= 0)
    if tiny.any():
        msgs.append(f"{int(tiny.sum())} zero-size boxes removed")
        labels, segs = labels[~tiny], [s for s, t in zip(segs, tiny) if not t] if segs else segs
    return labels, segs, msgs


HEADER_BYTES = 1 << 16  # a JPEG's markers up to its first scan: EXIF, tables, frame (larger EXIF: read it all)


def _check_image(im_file: str) -> tuple[tuple[int, int], list[str]]:
    """(decoded (w, h), messages). A JPEG whose markers walk cleanly to its image data and that ends with its end
    marker is judged by those, as YOLOv5 judges every image (no decode: 0.1 instead of 2-3 ms for a photo);
    anything else (other formats, a cut-short or odd JPEG) is read whole and decoded. A JPEG that passes here and
    still fails to decode later (damage inside its data) is reported then and used as an empty image
    (dataset.py)."""
    head, end, size = read_ends(im_file, HEADER_BYTES, 2, max_image_bytes(), "image")
    header = jpeg_header(head) if end == b"\xff\xd9" else None
    if header is not None:
        check_size(header.width, header.height)
        w, h = header.decoded_size
    else:
        buf = head if size <= HEADER_BYTES else read_regular(im_file, max_image_bytes(), "image")
        im = decode_image(buf)
        if im is None:
            raise ValueError("cannot decode image (corrupt or truncated)")
        h, w = im.shape[:2]
        end = bytes(buf[-2:])
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"image size {w}x{h} is below {MIN_SIDE} px")
    msgs = []
    if im_file.lower().endswith((".jpg", ".jpeg")) and end != b"\xff\xd9":
        msgs.append("JPEG does not end with the FFD9 marker (a trailer, or cut short); kept as is")
    return (w, h), msgs


def verify_image_label(im_file: str, nc: int, tol: float = 0.01) -> ImageRecord:
    """Classify one image as found / background / empty / corrupt; never raises."""
    try:
        shape, msgs = _check_image(im_file)
        lb_file = img2label_path(im_file)
        if not os.path.exists(lb_file):
            return ImageRecord(im_file, BACKGROUND, shape, msgs=msgs)
        rows = _parse_rows(read_text(lb_file, MAX_LABEL_BYTES, f"label file {lb_file}"))
        if not rows:
            return ImageRecord(im_file, EMPTY, shape, msgs=msgs)
        labels, segs, more = check_labels(rows, nc, tol)
        status = FOUND if len(labels) else EMPTY
        return ImageRecord(im_file, status, shape, labels, segs, msgs + more)
    except Exception as e:  # noqa: BLE001 - any failure means: skip this image, say why (in bounded words)
        return ImageRecord(im_file, CORRUPT, msgs=[short(f"skipped: {e}")])


def _verify_star(args: tuple[str, int, float]) -> ImageRecord:
    return verify_image_label(*args)


def _default_sigterm() -> None:
    """Pool workers are ended with SIGTERM; a handler inherited from the parent (submitit's ignores SIGTERM) would
    keep them alive and the pool's exit would wait forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def scan(im_files: Sequence[str], nc: int, tol: float = 0.01, desc: str = "Scanning", workers: int | None = None) -> list[ImageRecord]:
    """Verify all images in parallel (a Pool over all CPUs), keeping the input order."""
    workers = min(workers or os.cpu_count() or 1, max(len(im_files) // 16, 1))
    args = [(f, nc, tol) for f in im_files]
    bar = tqdm(total=len(args), desc=desc, unit="img", disable=len(args) < 64, leave=False)
    out = []
    if workers > 1:
        with Pool(workers, initializer=_default_sigterm, context=worker_context()) as pool:
            for rec in pool.imap(_verify_star, args, chunksize=8):
                out.append(rec)
                bar.update()
    else:
        for a in args:
            out.append(_verify_star(a))
            bar.update()
    bar.close()
    return out


def count(records: Sequence[ImageRecord]) -> dict[str, int]:
    c = {s: 0 for s in STATUSES}
    for r in records:
        c[r.status] += 1
    return c


def report(records: Sequence[ImageRecord], split: str, searched: str) -> dict[str, int]:
    """Log each problem once as ``file: reason`` plus a summary; fail clearly when nothing is usable."""
    for r in records:
        for m in r.msgs:
            LOGGER.warning("%s: %s", r.im_file, m)
    c = count(records)
    LOGGER.info(
        "Scanned %s: %d found, %d backgrounds, %d empty, %d corrupt",
        split, c[FOUND], c[BACKGROUND], c[EMPTY], c[CORRUPT],
    )
    if c[FOUND] + c[BACKGROUND] + c[EMPTY] == 0:
        raise ValueError(f"no usable images in {searched} ({len(records)} found, all corrupt); {LABEL_RULE}")
    return c
