"""Random perspective (YOLOv5's random_perspective) as a draw and its application to the image and the labels.

The draw (:class:`Warp`) is made once; OpenCV applies it in the worker (``warp_image``) or the device path records
it (gpu_augment.py); boxes and polygons go through ``warp_labels`` either way. Labels are (n, 5)
``[cls, x1, y1, x2, y2]`` pixels, segments (m, 2) pixel polygons aligned with them (or empty).
"""
from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

PAD = 114
Segments = list[np.ndarray]


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


@dataclass(frozen=True)
class Warp:
    """One random-perspective draw: the forward matrix onto an output of ``size`` (h, w), the drawn scale (box
    candidates compare with it), whether it is projective, and whether the image needs warping at all."""

    M: np.ndarray
    scale: float
    size: tuple[int, int]
    perspective: bool
    needed: bool


def draw_warp(
    shape: tuple[int, int], border: tuple[int, int], rng: random.Random, degrees: float = 0.0,
    translate: float = 0.1, scale: float = 0.5, shear: float = 0.0, perspective: float = 0.0,
) -> Warp:
    """The draws of ``random_perspective`` for an image of ``shape`` (h, w), in YOLOv5's order."""
    height, width = shape[0] + border[0] * 2, shape[1] + border[1] * 2
    C = np.eye(3)
    C[0, 2], C[1, 2] = -shape[1] / 2, -shape[0] / 2
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
    needed = bool(border[0] or border[1] or not np.allclose(M, np.eye(3)))
    return Warp(M, s, (height, width), bool(perspective), needed)


def warp_image(im: np.ndarray, w: Warp) -> np.ndarray:
    """The drawn warp applied by OpenCV (bilinear, border 114)."""
    if not w.needed:
        return im
    dsize = (w.size[1], w.size[0])
    if w.perspective:
        return cv2.warpPerspective(im, w.M, dsize=dsize, borderValue=(PAD, PAD, PAD))
    return cv2.warpAffine(im, w.M[:2], dsize=dsize, borderValue=(PAD, PAD, PAD))


def warp_labels(labels: np.ndarray, segments: Segments, w: Warp) -> tuple[np.ndarray, Segments]:
    """Boxes (from the moved polygons when every label has one) through the drawn warp; clipped, filtered."""
    n = len(labels)
    if not n:
        return labels, list(segments)
    height, width = w.size
    M, perspective = w.M, w.perspective
    segs_out: Segments = []
    if len(segments) != n:
        segments = ()
    if len(segments):
        pts = _warp_points(_resample(list(segments)).astype(np.float64), M, perspective)
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
        xy = _warp_points(corners, M, perspective)
        new = np.concatenate([xy.min(1), xy.max(1)], 1)
    new[:, [0, 2]] = new[:, [0, 2]].clip(0, width)
    new[:, [1, 3]] = new[:, [1, 3]].clip(0, height)
    keep = box_candidates(labels[:, 1:5].T * w.scale, new.T, area_thr=0.01 if len(segments) else 0.10)
    out = labels[keep].copy()
    out[:, 1:5] = new[keep]
    return out, [segs_out[i] for i in np.flatnonzero(keep)] if segs_out else []


def random_perspective(
    im: np.ndarray, labels: np.ndarray, segments: Segments = (), degrees: float = 0.0, translate: float = 0.1,
    scale: float = 0.5, shear: float = 0.0, perspective: float = 0.0, border: tuple[int, int] = (0, 0),
    rng: random.Random | None = None,
) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Rotate/scale/shear/translate/warp; a negative ``border`` crops (the mosaic's 2s canvas back to s)."""
    w = draw_warp(im.shape[:2], border, rng or random.Random(), degrees, translate, scale, shear, perspective)
    return (warp_image(im, w), *warp_labels(labels, segments, w))
