"""AutoAnchor: check that the anchors fit the dataset's boxes and evolve better ones when they do not.

Fit is YOLOv5's: a label matches an anchor when neither side ratio exceeds ``thr``; BPR (best possible recall)
is the fraction of labels some anchor matches. Below 0.98 we run k-means on the label sizes and refine with a
genetic search, keeping the result only if its BPR is higher. Everything is seeded numpy, so reproducible.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from yolo_exp.data.ragged import stacked

LOGGER = logging.getLogger(__name__)
PREFIX = "AutoAnchor: "
BPR_GOOD = 0.98


def ratio_metric(wh: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(n_labels, n_anchors) worst side ratio, in (0, 1]: 1 means the anchor has exactly the label's shape."""
    r = wh[:, None, :] / anchors[None, :, :]
    return np.minimum(r, 1 / r).min(2)


def bpr_aat(wh: np.ndarray, anchors: np.ndarray, thr: float) -> tuple[float, float]:
    """Best possible recall and mean number of anchors per label above the ratio threshold."""
    x = ratio_metric(wh, anchors)
    return float((x.max(1) > 1 / thr).mean()), float((x > 1 / thr).sum(1).mean())


def anchor_fitness(log_wh: np.ndarray, anchors: np.ndarray, thr: float) -> float:
    """Mean best ratio over labels, counting only labels that some anchor matches.

    ``log_wh`` is (2, n) log label sizes: min(r, 1/r) = exp(-|log r|) turns the work into subtractions on
    (n_anchors, n) planes, which numpy does fast (the genetic search calls this a thousand times).
    """
    log_k = np.log(anchors, dtype=log_wh.dtype)
    worst = np.maximum(np.abs(log_wh[0][None] - log_k[:, 0:1]), np.abs(log_wh[1][None] - log_k[:, 1:2]))
    best = np.exp(-worst.min(0))
    return float((best * (best > 1 / thr)).mean())


def label_wh(shapes: np.ndarray, labels: Sequence[np.ndarray], imgsz: int,
             scale: np.ndarray | None = None) -> np.ndarray:
    """Label (w, h) in pixels once each image's long side is ``imgsz``; ``scale`` (n_images, 1) jitters sizes."""
    shapes = np.asarray(shapes, dtype=np.float64)
    sizes = imgsz * shapes / shapes.max(1, keepdims=True)
    if scale is not None:
        sizes = sizes * scale
    flat, counts = stacked(labels, 5)  # vectorised: one product for all labels, not one per image
    return flat[:, 3:5].astype(np.float64) * np.repeat(sizes[:len(counts)], counts, axis=0)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, restarts: int = 30,
           max_iter: int = 300, tol: float = 1e-5) -> np.ndarray:
    """Lloyd's k-means from ``restarts`` random initialisations; returns the centroids of lowest distortion."""
    best, best_dist = None, np.inf
    for _ in range(restarts):
        c = points[rng.choice(len(points), k, replace=False)].copy()
        prev = np.inf
        for _ in range(max_iter):
            d = np.linalg.norm(points[:, None, :] - c[None], axis=2)
            nearest = d.argmin(1)
            dist = float(d[np.arange(len(points)), nearest].mean())
            counts = np.bincount(nearest, minlength=k)
            filled = counts > 0  # an empty cluster keeps its centroid
            for dim in range(points.shape[1]):
                sums = np.bincount(nearest, weights=points[:, dim], minlength=k)
                c[filled, dim] = sums[filled] / counts[filled]
            if prev - dist <= tol * prev:
                break
            prev = dist
        if dist < best_dist:
            best, best_dist = c, dist
    return best


def evolve_anchors(wh: np.ndarray, anchors: np.ndarray, thr: float, gen: int, rng: np.random.Generator,
                   mp: float = 0.9, sigma: float = 0.1) -> np.ndarray:
    """Genetic refinement: multiplicative mutations, a child replaces its parent only when fitter."""
    log_wh = np.ascontiguousarray(np.log(wh.astype(np.float32)).T)
    k = anchors.astype(np.float32)
    f = anchor_fitness(log_wh, k, thr)
    for _ in range(gen):
        v = np.ones(k.shape)
        while (v == 1).all():  # at least one gene must change
            v = ((rng.random(k.shape) < mp) * rng.random() * rng.standard_normal(k.shape) * sigma + 1).clip(0.3, 3.0)
        child = (k * v).clip(min=2.0).astype(np.float32)
        fc = anchor_fitness(log_wh, child, thr)
        if fc > f:
            f, k = fc, child
    return k


def sort_by_area(anchors: np.ndarray) -> np.ndarray:
    return anchors[np.argsort(anchors.prod(1))]


def kmean_anchors(wh0: np.ndarray, n: int, imgsz: int, thr: float, gen: int, rng: np.random.Generator,
                  log: logging.Logger = LOGGER) -> np.ndarray:
    """``n`` anchors (pixels, small to large) evolved for the label sizes ``wh0``."""
    tiny = int((wh0 < 3.0).any(1).sum())
    if tiny:
        log.warning("%sWARNING: extremely small objects found: %d of %d labels are < 3 pixels in size",
                    PREFIX, tiny, len(wh0))
    wh = wh0[(wh0 >= 2.0).any(1)].astype(np.float32)
    if len(wh) >= n:
        s = wh.std(0)
        s[s == 0] = 1.0
        k = kmeans(wh / s, n, rng) * s
    else:
        log.warning("%sWARNING: fewer labels than anchors, starting from random anchors", PREFIX)
        k = np.sort(rng.random(n * 2)).reshape(n, 2) * imgsz
    k = evolve_anchors(wh, sort_by_area(k), thr, gen, rng)
    return sort_by_area(k).astype(np.float32)


def check_anchors(model: torch.nn.Module, shapes: np.ndarray, labels: Sequence[np.ndarray], thr: float = 4.0,
                  imgsz: int = 640, gen: int = 1000, seed: int = 0,
                  log: logging.Logger = LOGGER) -> dict[str, Any]:
    """Check ``model.detect`` anchors against the labels and replace them if evolution finds a better set.

    ``shapes``: (n, 2) image (w, h); ``labels``: per image (k, 5) ``[cls, cx, cy, w, h]`` normalised.
    Returns old/new BPR (new = the evolved candidate's, or the old one when no search ran), whether the
    anchors were replaced, and the model's anchors afterwards in pixels (nl, na, 2).
    """
    detect = model.detect
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.9, 1.1, size=(len(shapes), 1))
    wh = label_wh(shapes, labels, imgsz, scale)
    current = detect.anchors_px.detach().cpu().double().numpy()
    result = {"old_bpr": float("nan"), "new_bpr": float("nan"), "replaced": False,
              "anchors": current.astype(np.float32)}
    if len(wh) == 0:
        log.warning("%sno labels, anchors left unchanged", PREFIX)
        return result
    bpr, aat = bpr_aat(wh, current.reshape(-1, 2), thr)
    result["old_bpr"] = result["new_bpr"] = bpr
    msg = f"{PREFIX}{aat:.2f} anchors/target, {bpr:.3f} Best Possible Recall (BPR). "
    if bpr > BPR_GOOD:
        log.info("%sCurrent anchors are a good fit to dataset", msg)
        return result
    log.info("%sAnchors are a poor fit to dataset, attempting to improve...", msg)
    candidate = kmean_anchors(label_wh(shapes, labels, imgsz), current.size // 2, imgsz, thr, gen, rng, log)
    new_bpr, new_aat = bpr_aat(wh, candidate.astype(np.float64), thr)
    result["new_bpr"] = new_bpr
    if new_bpr > bpr:
        detect.set_anchors_px(torch.from_numpy(candidate).view_as(detect.anchors))
        result["replaced"] = True
        result["anchors"] = detect.anchors_px.detach().cpu().numpy().astype(np.float32)
        flat = ", ".join(f"{a:.0f}" for a in candidate.reshape(-1))
        log.info("%sDone: %.2f anchors/target, BPR %.3f -> %.3f; new anchors (pixels): %s "
                 "(optional: put them in the model yaml)", PREFIX, new_aat, bpr, new_bpr, flat)
    else:
        log.info("%sDone: original anchors better than new anchors (BPR %.3f vs %.3f), keeping them",
                 PREFIX, bpr, new_bpr)
    return result
