"""Pictures of data: label statistics (labels.jpg) and annotated batch mosaics (train_batch*.jpg, val_batch*.jpg)."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from yolo_exp.data.files import write_image
from yolo_exp.data.ragged import stacked
from yolo_exp.ops.boxes import xywh2xyxy

MAX_BOXES_DRAWN = 1000


def palette(n: int) -> np.ndarray:
    """Distinct BGR colours per class from evenly spaced hues."""
    hsv = np.stack([np.arange(n) * 180 // max(n, 1) % 180, np.full(n, 200), np.full(n, 230)], 1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0].astype(int)


def plot_labels(labels: Sequence[np.ndarray], names: Sequence[str], path: Path | str) -> Path:
    """Class histogram, box-centre and box-size 2-D histograms, and ~1000 box outlines, to judge a dataset at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lb = stacked(labels, 5)[0].astype(np.float32) if len(labels) else np.zeros((0, 5))
    nc = max(len(names), int(lb[:, 0].max()) + 1 if len(lb) else 0)
    fig, ax = plt.subplots(2, 2, figsize=(8, 8), tight_layout=True)
    counts = np.bincount(lb[:, 0].astype(int), minlength=nc)
    colours = palette(nc)[:, ::-1] / 255
    ax[0, 0].bar(range(nc), counts, color=colours)
    ax[0, 0].set_ylabel("instances")
    if 0 < nc <= 30:
        ax[0, 0].set_xticks(range(nc), [str(n) for n in names][:nc] + [""] * (nc - len(names)), rotation=90, fontsize=8)
    canvas = np.full((500, 500, 3), 255, np.uint8)
    sel = lb[np.random.default_rng(0).permutation(len(lb))[:MAX_BOXES_DRAWN]]
    if len(sel):
        b = xywh2xyxy(np.concatenate([np.full((len(sel), 2), 0.5), sel[:, 3:5]], 1)) * 500
        for (x1, y1, x2, y2), c in zip(b.astype(int), sel[:, 0].astype(int)):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), tuple(int(v) for v in palette(nc)[c][::-1]), 1)
    ax[0, 1].imshow(canvas)
    ax[0, 1].axis("off")
    for a, (i, j, xl, yl) in zip((ax[1, 0], ax[1, 1]), ((1, 2, "x", "y"), (3, 4, "width", "height"))):
        a.hist2d(lb[:, i], lb[:, j], bins=50, range=[[0, 1], [0, 1]], cmap="Blues")
        a.set_xlabel(xl)
        a.set_ylabel(yl)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def blend_masks(im: np.ndarray, masks: np.ndarray, classes: np.ndarray, colours: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Blend binary masks (n, h', w'), resized to the image (nearest), in their class colours, in place."""
    h, w = im.shape[:2]
    for m, c in zip(masks, classes.astype(int)):
        on = cv2.resize(np.asarray(m, np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        im[on] = (im[on] * (1 - alpha) + colours[c] * alpha).astype(np.uint8)
    return im


def instance_masks(targets: np.ndarray | torch.Tensor, masks: np.ndarray | torch.Tensor,
                   overlap: bool) -> np.ndarray:
    """A batch's masks one per target row: YOLOv5's overlap index masks (B, h, w) split by the row's position in its
    image (value k+1 = its k-th row), or the per-instance masks as they are."""
    masks, t = _as_numpy(masks), _as_numpy(targets)
    if not overlap:
        return masks
    image = t[:, 0].astype(int)
    k = np.arange(len(t)) - np.searchsorted(image, image)  # rows of an image are consecutive
    return np.stack([masks[b] == j + 1 for b, j in zip(image, k)]) if len(t) else masks[:0]


def draw_boxes(im: np.ndarray, boxes: np.ndarray, classes: np.ndarray, confs: np.ndarray | None,
               names: Sequence[str], lw: int, colours: np.ndarray | None = None) -> np.ndarray:
    """Draw pixel xyxy boxes with class names (and confidences) onto a BGR image, in place."""
    colours = colours if colours is not None else palette(max(len(names), int(max(classes, default=0)) + 1))
    for i, box in enumerate(np.asarray(boxes, np.float64).round().astype(int)):
        c = int(classes[i])
        colour = tuple(int(v) for v in colours[c])
        cv2.rectangle(im, tuple(box[:2]), tuple(box[2:]), colour, lw, cv2.LINE_AA)
        label = (names[c] if c < len(names) else str(c)) + (f" {confs[i]:.2f}" if confs is not None else "")
        cv2.putText(im, label, _label_origin(im.shape, box, label, 0.3 * lw + 0.05), cv2.FONT_HERSHEY_SIMPLEX,
                    0.3 * lw + 0.05, colour, 1, cv2.LINE_AA)
    return im


def _label_origin(shape: tuple[int, ...], box: np.ndarray, label: str, scale: float) -> tuple[int, int]:
    """Where a box's label starts: above its top-left corner, or just inside the box when there is no room above;
    moved left at the right edge, so the whole label stays on the image."""
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    h, w = shape[:2]
    top = max(int(box[1]), 0)
    y = top - 2 if top - 2 - th >= 0 else top + th + 2
    return min(max(int(box[0]), 0), max(w - tw, 0)), min(y, h - 1 - base)


def plot_batch(
    imgs: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor, paths: Sequence[str] | None,
    names: Sequence[str], path: Path | str, max_images: int = 16, xyxy: bool = False, max_size: int = 1920,
    conf_thres: float = 0.25, masks: np.ndarray | torch.Tensor | None = None,
) -> Path:
    """Tile up to ``max_images`` RGB images with their boxes, class names and (for predictions) confidences.

    ``targets`` rows are ``[img_idx, cls, cx, cy, w, h(, conf)]`` normalised, or pixel x1y1x2y2 with ``xyxy=True``;
    predictions below ``conf_thres`` are not drawn. ``masks`` (n, h', w'), one per row of ``targets`` at any
    resolution of the image, are blended in their class colour.
    """
    imgs, t = _as_numpy(imgs), _as_numpy(targets).reshape(-1, _as_numpy(targets).shape[-1] if len(targets) else 6)
    bs, _, h, w = imgs.shape
    bs = min(bs, max_images)
    ns = math.ceil(bs**0.5)
    scale = min(1.0, max_size / (max(h, w) * ns))
    th, tw = math.ceil(h * scale), math.ceil(w * scale)
    mosaic = np.full((ns * th, ns * tw, 3), 255, np.uint8)
    colours = palette(max(len(names), int(t[:, 1].max()) + 1 if len(t) else 1))
    lw = max(1, round(min(th, tw) / 200))
    for i in range(bs):
        x0, y0 = (i % ns) * tw, (i // ns) * th
        im = cv2.cvtColor(np.ascontiguousarray(imgs[i].transpose(1, 2, 0)), cv2.COLOR_RGB2BGR)
        tile = cv2.resize(im, (tw, th), interpolation=cv2.INTER_AREA) if scale < 1 else im.copy()
        sel = np.flatnonzero(t[:, 0] == i)
        if t.shape[1] > 6:
            sel = sel[t[sel, 6] >= conf_thres]
        rows = t[sel]
        if masks is not None:
            blend_masks(tile, _as_numpy(masks)[sel], rows[:, 1], colours)
        boxes = rows[:, 2:6].astype(np.float64)
        boxes = boxes * scale if xyxy else xywh2xyxy(boxes) * (tw, th, tw, th)
        draw_boxes(tile, boxes, rows[:, 1], rows[:, 6] if rows.shape[1] > 6 else None, names, lw, colours)
        if paths is not None and i < len(paths):
            cv2.putText(tile, os.path.basename(paths[i])[:40], (4, th - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * lw,
                        (255, 255, 255), 1, cv2.LINE_AA)
        cv2.rectangle(tile, (0, 0), (tw - 1, th - 1), (255, 255, 255), 2)
        mosaic[y0:y0 + th, x0:x0 + tw] = tile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, mosaic, quality=90)
    return path
