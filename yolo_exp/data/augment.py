"""YOLOv5's augmentations as pure functions of numpy arrays and an explicit ``random.Random``.

Passing the generator (instead of using global state) is what makes a loader reproducible for a seed, with or without
worker processes. Images are HxWx3 uint8 BGR; labels are (n, 5) ``[cls, x1, y1, x2, y2]`` in pixels unless stated;
segments are lists of (m, 2) pixel polygons aligned with the labels (or empty).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from yolo_exp.data.canvas import paint
from yolo_exp.data.warp import PAD, Segments
from yolo_exp.ops.boxes import xywhn2xyxy


def letterbox(
    im: np.ndarray, new_shape: int | tuple[int, int], scaleup: bool = True, auto: bool = False, stride: int = 32,
    color: int = PAD, pad: Callable[..., Any] | None = None,
) -> tuple[Any, tuple[float, float], tuple[float, float]]:
    """Resize keeping aspect ratio and pad to ``new_shape`` (h, w); return (image, (ratio_w, ratio_h), (padw, padh)).
    ``pad(im, (top, bottom, left, right))`` replaces the border (the device path records it instead)."""
    h0, w0 = im.shape[:2]
    nh, nw = (new_shape, new_shape) if isinstance(new_shape, int) else new_shape
    r = min(nh / h0, nw / w0)
    if not scaleup:
        r = min(r, 1.0)
    w, h = round(w0 * r), round(h0 * r)
    dw, dh = nw - w, nh - h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (w0, h0):
        im = cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)
    borders = round(dh - 0.1), round(dh + 0.1), round(dw - 0.1), round(dw + 0.1)
    im = (pad or pad_image)(im, borders, color)
    return im, (w / w0, h / h0), (float(dw), float(dh))


def pad_image(im: np.ndarray, borders: tuple[int, int, int, int], color: int = PAD) -> np.ndarray:
    """A constant border (top, bottom, left, right) around an image (none: the image itself)."""
    if not any(borders):
        return im
    return cv2.copyMakeBorder(im, *borders, cv2.BORDER_CONSTANT, value=(color, color, color))


Place = tuple[int, int, int, int, int, int]  # (x1a, y1a, x2a, y2a, x1b, y1b): canvas rect, tile origin


def mosaic_layout(sizes: Sequence[tuple[int, int]], s: int, center: tuple[int, int]) -> list[Place]:
    """Where each of 4 tiles of ``sizes`` (h, w) lands on the 2s x 2s canvas around ``center``, and which part."""
    xc, yc = center
    places = []
    for i, (h, w) in enumerate(sizes):
        x1a = max(xc - w, 0) if i in (0, 2) else xc
        x2a = xc if i in (0, 2) else min(xc + w, 2 * s)
        y1a = max(yc - h, 0) if i in (0, 1) else yc
        y2a = yc if i in (0, 1) else min(yc + h, 2 * s)
        x1b = w - (x2a - x1a) if i in (0, 2) else 0
        y1b = h - (y2a - y1a) if i in (0, 1) else 0
        places.append((x1a, y1a, x2a, y2a, x1b, y1b))
    return places


def crops(ims: Sequence[np.ndarray], places: Sequence[Place]) -> list[tuple[np.ndarray, int, int]]:
    """The visible part of each tile (a view) and its (top, left) on the canvas."""
    return [(im[y1b:y1b + (y2a - y1a), x1b:x1b + (x2a - x1a)], y1a, x1a)
            for im, (x1a, y1a, x2a, y2a, x1b, y1b) in zip(ims, places)]


def paste_tiles(ims: Sequence[np.ndarray], places: Sequence[Place], size: tuple[int, int]) -> np.ndarray:
    """The mosaic canvas of ``size`` (h, w): tiles pasted on grey 114."""
    return paint(size, crops(ims, places))


def mosaic_labels(
    tiles: Sequence[tuple[np.ndarray, np.ndarray, Segments]], places: Sequence[Place], s: int
) -> tuple[np.ndarray, Segments]:
    """The tiles' labels (normalised xywh) and segments (normalised) in canvas pixels, clipped to it."""
    if any(len(t[2]) for t in tiles):  # keep segments aligned with labels: boxes without polygons get 4 corners
        tiles = [(im, lab, segs if len(segs) == len(lab) else box_polygons(lab[:, 1:5])) for im, lab, segs in tiles]
    all_labels, all_segs = [], []
    for (im, lab, segs), (x1a, y1a, _, _, x1b, y1b) in zip(tiles, places):
        h, w = im.shape[:2]
        padw, padh = x1a - x1b, y1a - y1b
        px = lab.copy()
        if len(px):
            px[:, 1:5] = xywhn2xyxy(lab[:, 1:5], w, h, padw, padh)
        all_labels.append(px)
        all_segs += [seg * (w, h) + (padw, padh) for seg in segs]
    labels = np.concatenate(all_labels, 0) if all_labels else np.zeros((0, 5), np.float32)
    labels[:, 1:5] = labels[:, 1:5].clip(0, 2 * s)
    return labels, [seg.clip(0, 2 * s).astype(np.float32) for seg in all_segs]


def mosaic4(
    tiles: Sequence[tuple[np.ndarray, np.ndarray, Segments]], s: int, center: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Place 4 images (labels normalised xywh, segments normalised) around ``center`` on a 2s x 2s canvas."""
    places = mosaic_layout([t[0].shape[:2] for t in tiles], s, center)
    return (paste_tiles([t[0] for t in tiles], places, (2 * s, 2 * s)), *mosaic_labels(tiles, places, s))


def box_polygons(xywh: np.ndarray) -> Segments:
    """Normalised or pixel xywh boxes -> their 4 corners as polygons, for labels that have no segment."""
    x1, y1 = xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2
    x2, y2 = x1 + xywh[:, 2], y1 + xywh[:, 3]
    return list(np.stack([x1, y1, x2, y1, x2, y2, x1, y2], 1).reshape(-1, 4, 2).astype(np.float32))


def bbox_ioa(box: np.ndarray, boxes: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Intersection of one xyxy box with each of ``boxes``, over the area of each of ``boxes``."""
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    return iw * ih / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + eps)


def copy_paste(
    im: np.ndarray, labels: np.ndarray, segments: Segments, p: float, rng: random.Random
) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Paste left-right mirrored copies of round(p*n) instances where they cover < 30% of every existing box."""
    n = len(segments)
    if not p or not n:
        return im, labels, segments
    w = im.shape[1]
    new_labels, new_segs, polys = [labels], list(segments), []
    for j in rng.sample(range(n), k=round(p * n)):
        c, x1, y1, x2, y2 = labels[j]
        box = np.array([w - x2, y1, w - x1, y2], np.float32)
        if (bbox_ioa(box, np.concatenate(new_labels)[:, 1:5]) < 0.30).all():
            new_labels.append(np.array([[c, *box]], np.float32))
            seg = segments[j]
            new_segs.append(np.stack([w - seg[:, 0], seg[:, 1]], 1).astype(np.float32))
            polys.append(np.floor(seg).astype(np.int32))  # as polygon_mask: the pixel that holds each point
    if polys:
        mask = np.zeros(im.shape[:2], np.uint8)
        cv2.fillPoly(mask, polys, 1)
        mask = cv2.flip(mask, 1).astype(bool)
        im = im.copy()
        im[mask] = cv2.flip(im, 1)[mask]
    return im, np.concatenate(new_labels), new_segs


def mixup(
    im: np.ndarray, labels: np.ndarray, im2: np.ndarray, labels2: np.ndarray, rng: random.Random
) -> tuple[np.ndarray, np.ndarray]:
    """Blend two images with r ~ Beta(32, 32) and keep both label sets."""
    return blend(im, im2, rng.betavariate(32.0, 32.0)), np.concatenate([labels, labels2], 0)


def blend(im: np.ndarray, im2: np.ndarray, r: float) -> np.ndarray:
    return cv2.addWeighted(im, r, im2, 1 - r, 0.0)


def hsv_gains(hgain: float, sgain: float, vgain: float, rng: random.Random) -> np.ndarray | None:
    """The random hue/saturation/value gains U(-1,1)*gain+1 (None, and no draw, when every gain is 0)."""
    if not (hgain or sgain or vgain):
        return None
    return np.array([rng.uniform(-1, 1) * g + 1 for g in (hgain, sgain, vgain)])


def hsv_luts(r: np.ndarray) -> np.ndarray:
    """(3, 256) uint8 lookup tables of the gains: hue wraps at 180 (OpenCV's 8-bit hue), s and v saturate."""
    x = np.arange(256, dtype=r.dtype)
    return np.stack([((x * r[0]) % 180).astype(np.uint8), np.clip(x * r[1], 0, 255).astype(np.uint8),
                     np.clip(x * r[2], 0, 255).astype(np.uint8)])


def apply_hsv(im: np.ndarray, r: np.ndarray, rgb: bool = False) -> np.ndarray:
    """The gains applied through lookup tables (BGR in; BGR out, or RGB with ``rgb``: the same conversion writes
    either order). One 3-channel LUT call: half the time of a split, three LUTs and a merge, the same pixels."""
    luts = np.ascontiguousarray(hsv_luts(r).T).reshape(256, 1, 3)
    hsv = cv2.LUT(cv2.cvtColor(im, cv2.COLOR_BGR2HSV), luts)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB if rgb else cv2.COLOR_HSV2BGR)


def augment_hsv(im: np.ndarray, hgain: float, sgain: float, vgain: float, rng: random.Random) -> np.ndarray:
    """Random hue/saturation/value gains U(-1,1)*gain+1 applied through lookup tables (BGR in, BGR out)."""
    r = hsv_gains(hgain, sgain, vgain, rng)
    return im if r is None else apply_hsv(im, r)


def flip_labels(labels_xywhn: np.ndarray, axis: int) -> np.ndarray:
    """Normalised xywh labels mirrored along x (axis 0: left-right) or y (axis 1: up-down)."""
    out = labels_xywhn.copy()
    out[:, 1 + axis] = 1 - out[:, 1 + axis]
    return out


def fliplr(im: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; labels normalised xywh."""
    return np.fliplr(im), flip_labels(labels_xywhn, 0)


def flipud(im: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror up-down; labels normalised xywh."""
    return np.flipud(im), flip_labels(labels_xywhn, 1)


def rect_batches(
    wh: np.ndarray, batch_size: int, imgsz: int, stride: int, pad: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by aspect ratio and give each batch the smallest stride-multiple shape that fits it.

    Returns (order of images, batch index per sorted image, batch shapes (nb, 2) as (h, w)).
    """
    ar = wh[:, 1] / wh[:, 0]
    order = ar.argsort()  # numpy's default sort, as YOLOv5: ties (equal ratios) in YOLOv5's order on this machine
    ar = ar[order]
    bi = np.arange(len(ar)) // batch_size
    nb = int(bi[-1]) + 1 if len(bi) else 0
    shapes = np.ones((nb, 2))
    for i in range(nb):
        a = ar[bi == i]
        lo, hi = a.min(), a.max()
        if hi < 1:
            shapes[i] = [hi, 1]
        elif lo > 1:
            shapes[i] = [1, 1 / lo]
    return order, bi, (np.ceil(shapes * imgsz / stride + pad).astype(int) * stride)
