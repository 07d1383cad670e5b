"""Tiny real datasets written into tmp_path: real encoded images and YOLO label files."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_pair(root: Path, stem: str, label: str | None, size=(48, 64), split: str = "train", ext: str = ".jpg",
               seed: int = 0) -> Path:
    """Write ``images/<split>/<stem><ext>`` (random texture) and, unless ``label`` is None, its label file."""
    img_dir, lb_dir = root / "images" / split, root / "labels" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    lb_dir.mkdir(parents=True, exist_ok=True)
    im = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    p = img_dir / f"{stem}{ext}"
    ok, enc = cv2.imencode(ext, im)
    assert ok
    enc.tofile(str(p))
    if label is not None:
        (lb_dir / f"{stem}.txt").write_text(label)
    return p


@pytest.fixture
def good_dataset(tmp_path: Path) -> Path:
    """Six valid images with 1-2 boxes each, classes 0-2."""
    for i in range(6):
        rows = [f"{i % 3} 0.5 0.5 0.4 0.3"] + ([f"{(i + 1) % 3} 0.3 0.3 0.2 0.2"] if i % 2 else [])
        write_pair(tmp_path, f"im{i}", "\n".join(rows) + "\n", seed=i)
    return tmp_path
