"""Makes the one-class WBC set of the issue-30 parity runs (docs/quality.md) from BCCD, deterministically.

The held-out sets where ours fell behind YOLOv5 are not on this machine; this one is like them: one class, one or two
large objects per image, images of varied sizes and aspect ratios, few images. For every BCCD image with a WBC box:
a random crop that holds all its WBC boxes, aspect w/h drawn in [0.5, 2] (within what the image and boxes allow),
its long side resized to a random 160-800 px with INTER_AREA; labels are the WBC boxes only, class 0.
train comes from BCCD train, val from BCCD val.

    python bench/make_wbc.py OUT_DIR [--seed 0] [--bccd ../shared/datasets/bccd]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import yaml

WBC = 2  # BCCD's class index
ASPECT = (0.5, 2.0)
LONG_SIDE = (160, 800)


def wbc_boxes(label: Path, w: int, h: int) -> np.ndarray:
    """The WBC boxes of one BCCD label file as pixel x1, y1, x2, y2 (empty when there is none)."""
    rows = [r.split() for r in label.read_text().splitlines() if r.strip()]
    xywh = np.array([[float(v) for v in r[1:5]] for r in rows if int(r[0]) == WBC], dtype=np.float64).reshape(-1, 4)
    xywh *= [w, h, w, h]
    return np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)


def random_crop(rng: np.random.Generator, w: int, h: int, boxes: np.ndarray) -> tuple[int, int, int, int]:
    """A crop x1, y1, x2, y2 inside the image holding every box, its aspect ratio random within ASPECT."""
    ux1, uy1 = np.floor(boxes[:, :2].min(0)).astype(int)
    ux2, uy2 = np.ceil(boxes[:, 2:].max(0)).astype(int)
    ux1, uy1, ux2, uy2 = max(ux1, 0), max(uy1, 0), min(ux2, w), min(uy2, h)
    uw, uh = ux2 - ux1, uy2 - uy1
    # a crop of aspect a and height ch needs ch >= uh, a*ch >= uw, ch <= h, a*ch <= w
    lo, hi = max(ASPECT[0], uw / h), min(ASPECT[1], w / uh)
    a = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else lo
    ch_lo, ch_hi = max(uh, uw / a), min(h, w / a)
    ch = int(round(rng.uniform(ch_lo, ch_hi))) if ch_hi > ch_lo else int(round(ch_lo))
    cw = min(w, max(uw, int(round(a * ch))))
    ch = min(h, max(uh, ch))
    x1 = int(rng.integers(max(0, ux2 - cw), min(ux1, w - cw) + 1))
    y1 = int(rng.integers(max(0, uy2 - ch), min(uy1, h - ch) + 1))
    return x1, y1, x1 + cw, y1 + ch


def make_split(rng: np.random.Generator, bccd: Path, split: str, out: Path) -> tuple[int, int]:
    """Writes one split's crops and labels; returns (images, boxes)."""
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    n_img = n_box = 0
    for image in sorted((bccd / "images" / split).glob("*.jpg")):
        im = cv2.imread(str(image))
        h, w = im.shape[:2]
        boxes = wbc_boxes(bccd / "labels" / split / f"{image.stem}.txt", w, h)
        if not len(boxes):
            continue
        x1, y1, x2, y2 = random_crop(rng, w, h, boxes)
        crop = im[y1:y2, x1:x2]
        scale = int(rng.integers(LONG_SIDE[0], LONG_SIDE[1] + 1)) / max(crop.shape[:2])
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        cv2.imwrite(str(out / "images" / split / image.name), cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
        wh2 = np.array([x2 - x1, y2 - y1] * 2, dtype=np.float64)
        xyxy = np.clip(boxes - [x1, y1, x1, y1], 0, wh2) / wh2  # normalised to the crop (resizing keeps it)
        rows = [f"0 {(bx1 + bx2) / 2:.6f} {(by1 + by2) / 2:.6f} {bx2 - bx1:.6f} {by2 - by1:.6f}"
                for bx1, by1, bx2, by2 in xyxy]
        (out / "labels" / split / f"{image.stem}.txt").write_text("\n".join(rows) + "\n")
        n_img, n_box = n_img + 1, n_box + len(rows)
    return n_img, n_box


def main(argv: list[str] | None = None) -> None:
    """Command line: OUT_DIR, --seed, --bccd."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bccd", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/datasets/bccd")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    for split in ("train", "val"):
        n_img, n_box = make_split(rng, args.bccd.resolve(), split, args.out)
        print(f"{split}: {n_img} images, {n_box} boxes")
    meta = {"path": ".", "train": "images/train", "val": "images/val", "nc": 1, "names": {0: "WBC"}}
    (args.out / "data.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


if __name__ == "__main__":
    main()
