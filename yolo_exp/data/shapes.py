"""The embedded ``shapes`` dataset: a small, deterministic, learnable detection problem that needs no download.

Four classes that differ by outline (not only colour), sizes from ~12 px to half the image, random colours, textured
backgrounds, partial overlaps (heavy occlusion is avoided), a few objects cut by the border and ~5% empty images.
Written once into a temporary folder and renamed into place, so a crash never leaves half a dataset.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

from yolo_exp.data.augment import bbox_ioa
from yolo_exp.data.files import write_image
from yolo_exp.files.paths import default_cache_dir

NAMES = ("circle", "rectangle", "triangle", "star")
VERSION = 2
MARKER = ".complete.json"
MAX_OBJECTS = 6
EMPTY_FRACTION = 0.05
MAX_OCCLUSION = 0.5  # at most this fraction of an earlier box may be covered by a later object


def shapes_data_root(cache_dir: Path | None = None, n_train: int = 512, n_val: int = 128, img_size: int = 256,
                     seed: int = 0, segments: bool = False) -> Path:
    name = f"shapes-{n_train}-{n_val}-{img_size}-s{seed}" + ("-seg" if segments else "")
    return (cache_dir or default_cache_dir()) / name


def visible_polygons(own: list[np.ndarray], min_pixels: int = 4) -> list[np.ndarray | None]:
    """Each object's visible outline (its own mask minus the objects drawn after it), as the largest external
    contour in pixel (x, y); None when (almost) nothing of it shows."""
    out: list[np.ndarray | None] = []
    covered = np.zeros_like(own[0]) if own else None
    for mask in reversed(own):
        visible = (mask > 0) & (covered == 0)
        covered |= mask
        contours, _ = cv2.findContours(visible.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        best = max(contours, key=cv2.contourArea) if contours else None
        out.append(best.reshape(-1, 2).astype(np.float32) if best is not None and len(best) >= 3
                   and int(visible.sum()) >= min_pixels else None)
    return out[::-1]


def _polygon(cls: int, size: float, angle: float, aspect: float) -> np.ndarray | None:
    """Outline centred on the origin with its long extent ~``size``; None for the circle (drawn natively)."""
    r = size / 2
    if cls == 0:
        return None
    if cls == 1:
        w, h = (r, r * aspect) if aspect < 1 else (r / aspect, r)
        pts = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    elif cls == 2:
        t = np.radians([90, 210, 330])
        pts = np.stack([np.cos(t), -np.sin(t)], 1) * r
    else:
        t = np.radians(np.arange(10) * 36 + 90)
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
        pts = np.stack([np.cos(t) * rad, -np.sin(t) * rad], 1)
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    c1, c2 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:n, 0:n] / n
    ramp = ((xx * math.cos(t) + yy * math.sin(t)) + 1.5) / 3
    img = c1 * (1 - ramp[..., None]) + c2 * ramp[..., None]
    img += rng.normal(0, rng.uniform(3, 12), (n, n, 1))
    img = img.clip(0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 7)):
        p1, p2 = rng.integers(0, n, 2), rng.integers(0, n, 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, (int(p1[0]), int(p1[1])), (int(p2[0]), int(p2[1])), colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _colour(rng: np.random.Generator, under: np.ndarray) -> tuple[int, int, int]:
    """A saturated random colour that stands out from the background it will cover."""
    best, best_d = None, -1.0
    for _ in range(6):
        hsv = np.array([[[rng.integers(0, 180), rng.integers(120, 256), rng.integers(90, 256)]]], np.uint8)
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(float)
        d = float(np.abs(bgr - under).sum())
        if d > best_d:
            best, best_d = bgr, d
        if d > 150:
            break
    return tuple(int(v) for v in best)


def render_image(rng: np.random.Generator, n: int,
                 masks: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One image and its (k, 5) labels [cls, cx, cy, w, h] normalised; ``masks`` (a list) also receives each
    object's own filled mask (the same draws: the image and labels do not change)."""
    img = _background(rng, n)
    if rng.random() < EMPTY_FRACTION:
        return img, np.zeros((0, 5), np.float32)
    boxes, classes = [], []
    lo, hi = math.log(max(20, n / 12)), math.log(n / 2)  # small objects, but none below ~20 px at 256
    for _ in range(int(rng.integers(1, MAX_OBJECTS + 1))):
        cls = int(rng.integers(0, len(NAMES)))
        size = math.exp(rng.uniform(lo, hi))
        poly = _polygon(cls, size, rng.uniform(0, 2 * math.pi) if cls > 1 else rng.uniform(-0.5, 0.5),
                        rng.uniform(0.45, 0.9))
        half = (poly.max(0) - poly.min(0)) / 2 if poly is not None else np.array([size / 2] * 2)
        for _try in range(10):
            slack = half * (0.4 if rng.random() < 0.1 else -1.0)  # a few objects cross the border
            cx, cy = rng.uniform(-slack[0], n + slack[0]), rng.uniform(-slack[1], n + slack[1])
            pts = poly + (cx, cy) if poly is not None else None
            full = (np.r_[pts.min(0), pts.max(0)] if pts is not None
                    else np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]))
            if (bbox_ioa(full, np.array(boxes).reshape(-1, 4)) <= MAX_OCCLUSION).all():
                break
        else:
            continue
        box = full.clip(0, n)
        x1, y1, x2, y2 = box.astype(int).clip(0, n - 1)
        colour = _colour(rng, img[y1:y2 + 1, x1:x2 + 1].reshape(-1, 3).mean(0))
        targets = [img] if masks is None else [img, np.zeros((n, n), np.uint8)]
        for canvas, fill in zip(targets, (colour, 1)):
            line = cv2.LINE_AA if canvas is img else cv2.LINE_8
            if pts is None:
                cv2.circle(canvas, (round(cx * 16), round(cy * 16)), round(size / 2 * 16), fill, -1, line, 4)
            else:
                cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], fill, line, 4)
        if masks is not None:
            masks.append(targets[1])
        boxes.append(full)
        classes.append(cls)
    if not boxes:
        return img, np.zeros((0, 5), np.float32)
    b = np.array(boxes).clip(0, n) / n
    xywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    return img, np.concatenate([np.array(classes)[:, None], xywh], 1).astype(np.float32)


def _label_lines(labels: np.ndarray, own: list[np.ndarray] | None, n: int) -> list[str]:
    """YOLO rows: boxes, or (``own`` masks given) the visible polygons, normalised; hidden objects are left out."""
    if own is None:
        return [f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}" for r in labels]
    return [f"{int(r[0])} " + " ".join(f"{v:.6f}" for v in (poly / n).clip(0, 1).reshape(-1))
            for r, poly in zip(labels, visible_polygons(own)) if poly is not None]


def _write_split(tmp: Path, split: str, count: int, img_size: int, seed: int, segments: bool = False) -> None:
    (tmp / "images" / split).mkdir(parents=True)
    (tmp / "labels" / split).mkdir(parents=True)
    for i in range(count):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, i])
        own: list[np.ndarray] | None = [] if segments else None
        img, labels = render_image(rng, img_size, own)
        stem = f"{split}_{i:05d}"
        write_image(tmp / "images" / split / f"{stem}.jpg", img, quality=92)
        if len(labels) or i % 2:  # empty images: every other one has an empty label file, the rest none
            lines = _label_lines(labels, own, img_size)
            (tmp / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))


def generate_shapes(root: Path, n_train: int = 512, n_val: int = 128, img_size: int = 256, seed: int = 0,
                    segments: bool = False) -> Path:
    """Write the dataset at ``root`` unless a complete one with the same parameters is there; return ``root``.
    ``segments``: the segmentation twin (the same images; each object's visible outline as a polygon label)."""
    root = Path(root).absolute()
    params = {"version": VERSION, "n_train": n_train, "n_val": n_val, "img_size": img_size, "seed": seed,
              **({"segments": True} if segments else {})}
    marker = root / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()) == params:
            return root
        shutil.rmtree(root)  # ours (it has our marker), made with other parameters
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(f"data.path: {root} exists and is not a generated shapes dataset; choose another path")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.tmp-"))
    try:
        _write_split(tmp, "train", n_train, img_size, seed, segments)
        _write_split(tmp, "val", n_val, img_size, seed, segments)
        data = {"path": str(root), "train": "images/train", "val": "images/val", "nc": len(NAMES),
                "names": dict(enumerate(NAMES))}
        (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (tmp / MARKER).write_text(json.dumps(params))
        if root.exists():
            try:
                root.rmdir()  # empty folder left by a user or an earlier crash
            except OSError:
                pass  # a concurrent run (a sweep job, another rank) finished it first: checked below
        try:
            os.rename(tmp, root)
        except OSError:
            if not (marker.is_file() and json.loads(marker.read_text()) == params):
                raise  # not a concurrent writer that finished first
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
