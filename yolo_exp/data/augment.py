"""YOLOv5's augmentations as pure functions of numpy arrays and an explicit ``random.Random``.

Passing the generator (instead of using global state) is what makes a loader reproducible for a seed, with or without
worker processes. Images are HxWx3 uint8 BGR; labels are (n, 5) ``[cls, x1, y1, x2, y2]`` in pixels unless stated;
segments are lists of (m, 2) pixel polygons aligned with the labels (or empty).
"""
from __future__ import annotations

import math
import random
import warnings
from collections.abc import Sequence

import cv2
import numpy as np

from yolo_exp.ops.boxes import xywhn2xyxy

PAD = 114
Segments = list[np.ndarray]


def letterbox(
    im: np.ndarray, new_shape: int | tuple[int, int], scaleup: bool = True, auto: bool = False, stride: int = 32,
    color: int = PAD,
) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """Resize keeping aspect ratio and pad to ``new_shape`` (h, w); return (image, (ratio_w, ratio_h), (padw, padh))."""
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
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if top or bottom or left or right:
        im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color, color, color))
    return im, (w / w0, h / h0), (float(dw), float(dh))


def box_candidates(
    box1: np.ndarray, box2: np.ndarray, wh_thr: float = 2, ar_thr: float = 100, area_thr: float = 0.1,
    eps: float = 1e-16,
) -> np.ndarray:
    """Keep a warped box (4, n) ``box2`` whose w, h > wh_thr px, area > area_thr of the scaled original, aspect < ar_thr."""
    w1, h1 = box1[2] - box1[0], box1[3] - box1[1]
    w2, h2 = box2[2] - box2[0], box2[3] - box2[1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def _resample(segments: Segments, n: int = 1000) -> np.ndarray:
    """Closed polygons -> (k, n, 2) evenly spaced along their index, so warping can be vectorised."""
    out = np.empty((len(segments), n, 2), np.float32)
    for i, s in enumerate(segments):
        s = np.concatenate([s, s[:1]])
        x, xp = np.linspace(0, len(s) - 1, n), np.arange(len(s))
        out[i, :, 0], out[i, :, 1] = np.interp(x, xp, s[:, 0]), np.interp(x, xp, s[:, 1])
    return out


def _warp_points(pts: np.ndarray, M: np.ndarray, perspective: bool) -> np.ndarray:
    xy = pts @ M[:, :2].T + M[:, 2]
    return xy[..., :2] / xy[..., 2:3] if perspective else xy[..., :2]


def random_perspective(
    im: np.ndarray, labels: np.ndarray, segments: Segments = (), degrees: float = 0.0, translate: float = 0.1,
    scale: float = 0.5, shear: float = 0.0, perspective: float = 0.0, border: tuple[int, int] = (0, 0),
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Rotate/scale/shear/translate/warp; a negative ``border`` crops (the mosaic's 2s canvas back to s)."""
    rng = rng or random.Random()
    height, width = im.shape[0] + border[0] * 2, im.shape[1] + border[1] * 2
    C = np.eye(3)
    C[0, 2], C[1, 2] = -im.shape[1] / 2, -im.shape[0] / 2
    P = np.eye(3)
    P[2, 0], P[2, 1] = rng.uniform(-perspective, perspective), rng.uniform(-perspective, perspective)
    R = np.eye(3)
    a, s = rng.uniform(-degrees, degrees), rng.uniform(1 - scale, 1 + scale)
    R[:2] = cv2.getRotationMatrix2D(center=(0, 0), angle=a, scale=s)
    S = np.eye(3)
    S[0, 1] = math.tan(math.radians(rng.uniform(-shear, shear)))
    S[1, 0] = math.tan(math.radians(rng.uniform(-shear, shear)))
    T = np.eye(3)
    T[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * width
    T[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * height
    M = T @ S @ R @ P @ C
    if border[0] or border[1] or not np.allclose(M, np.eye(3)):
        if perspective:
            im = cv2.warpPerspective(im, M, dsize=(width, height), borderValue=(PAD, PAD, PAD))
        else:
            im = cv2.warpAffine(im, M[:2], dsize=(width, height), borderValue=(PAD, PAD, PAD))
    n = len(labels)
    if not n:
        return im, labels, list(segments)
    segs_out: Segments = []
    if len(segments) != n:
        segments = ()
    if len(segments):
        pts = _warp_points(_resample(list(segments)).astype(np.float64), M, bool(perspective))
        inside = (pts[..., 0] >= 0) & (pts[..., 0] <= width) & (pts[..., 1] >= 0) & (pts[..., 1] <= height)
        big = np.where(inside[..., None], pts, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: polygon fully outside
            new = np.stack([np.nanmin(big[..., 0], 1), np.nanmin(big[..., 1], 1),
                            np.nanmax(big[..., 0], 1), np.nanmax(big[..., 1], 1)], 1)
        new = np.nan_to_num(new, nan=0.0)
        segs_out = [p.astype(np.float32) for p in pts]
    else:
        b = labels[:, 1:5]
        corners = b[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n, 4, 2).astype(np.float64)
        xy = _warp_points(corners, M, bool(perspective))
        new = np.concatenate([xy.min(1), xy.max(1)], 1)
    new[:, [0, 2]] = new[:, [0, 2]].clip(0, width)
    new[:, [1, 3]] = new[:, [1, 3]].clip(0, height)
    keep = box_candidates(labels[:, 1:5].T * s, new.T, area_thr=0.01 if len(segments) else 0.10)
    out = labels[keep].copy()
    out[:, 1:5] = new[keep]
    return im, out, [segs_out[i] for i in np.flatnonzero(keep)] if segs_out else []


def mosaic4(
    tiles: Sequence[tuple[np.ndarray, np.ndarray, Segments]], s: int, center: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Place 4 images (labels normalised xywh, segments normalised) around ``center`` on a 2s x 2s canvas."""
    xc, yc = center
    if any(len(t[2]) for t in tiles):  # keep segments aligned with labels: boxes without polygons get 4 corners
        tiles = [(im, lab, segs if len(segs) == len(lab) else box_polygons(lab[:, 1:5])) for im, lab, segs in tiles]
    canvas = np.full((2 * s, 2 * s, 3), PAD, np.uint8)
    all_labels, all_segs = [], []
    for i, (im, lab, segs) in enumerate(tiles):
        h, w = im.shape[:2]
        x1a = max(xc - w, 0) if i in (0, 2) else xc
        x2a = xc if i in (0, 2) else min(xc + w, 2 * s)
        y1a = max(yc - h, 0) if i in (0, 1) else yc
        y2a = yc if i in (0, 1) else min(yc + h, 2 * s)
        x1b = w - (x2a - x1a) if i in (0, 2) else 0
        y1b = h - (y2a - y1a) if i in (0, 1) else 0
        canvas[y1a:y2a, x1a:x2a] = im[y1b:y1b + (y2a - y1a), x1b:x1b + (x2a - x1a)]
        padw, padh = x1a - x1b, y1a - y1b
        px = lab.copy()
        if len(px):
            px[:, 1:5] = xywhn2xyxy(lab[:, 1:5], w, h, padw, padh)
        all_labels.append(px)
        all_segs += [seg * (w, h) + (padw, padh) for seg in segs]
    labels = np.concatenate(all_labels, 0) if all_labels else np.zeros((0, 5), np.float32)
    labels[:, 1:5] = labels[:, 1:5].clip(0, 2 * s)
    all_segs = [seg.clip(0, 2 * s).astype(np.float32) for seg in all_segs]
    return canvas, labels, all_segs


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
            polys.append(seg.round().astype(np.int32))
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
    r = rng.betavariate(32.0, 32.0)
    out = cv2.addWeighted(im, r, im2, 1 - r, 0.0)
    return out, np.concatenate([labels, labels2], 0)


def augment_hsv(im: np.ndarray, hgain: float, sgain: float, vgain: float, rng: random.Random) -> np.ndarray:
    """Random hue/saturation/value gains U(-1,1)*gain+1 applied through lookup tables (BGR in, BGR out)."""
    if not (hgain or sgain or vgain):
        return im
    r = np.array([rng.uniform(-1, 1) * g + 1 for g in (hgain, sgain, vgain)])
    hue, sat, val = cv2.split(cv2.cvtColor(im, cv2.COLOR_BGR2HSV))
    x = np.arange(256, dtype=r.dtype)
    lut_h = ((x * r[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def fliplr(im: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right; labels normalised xywh."""
    out = labels_xywhn.copy()
    out[:, 1] = 1 - out[:, 1]
    return np.fliplr(im), out


def flipud(im: np.ndarray, labels_xywhn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror up-down; labels normalised xywh."""
    out = labels_xywhn.copy()
    out[:, 2] = 1 - out[:, 2]
    return np.flipud(im), out


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
