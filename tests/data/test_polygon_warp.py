"""Polygons move with the image: a mask warped with the image equals the warped polygon rasterised, within a pixel
(the invariant segmentation training rests on; random_perspective also serves the mosaic's crop)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from yolo_exp.data import warp as W
from yolo_exp.ops.masks import polygon_mask

STAR = np.array([[60, 20], [72, 52], [104, 52], [78, 72], [88, 104], [60, 84], [32, 104], [42, 72], [16, 52],
                 [48, 52]], np.float32)


def _boundary_band(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the mask's outline (where rasterising and resampling may disagree)."""
    import cv2

    k = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask, k) != cv2.erode(mask, k)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["affine", "perspective"])
def test_warped_mask_equals_the_warped_polygon_rasterised(seed, kind):
    mask = polygon_mask((128, 128), STAR)
    img = np.repeat(mask[..., None] * 255, 3, axis=2).astype(np.uint8)
    labels = np.array([[0, *STAR.min(0), *STAR.max(0)]], np.float32)
    extra = {"perspective": 0.0005} if kind == "perspective" else {}
    out, new_labels, segs = W.random_perspective(img, labels, [STAR], degrees=20, translate=0.1, scale=0.3,
                                                 shear=5, rng=random.Random(seed), **extra)
    assert len(new_labels) == len(segs) == 1
    warped = (out[..., 0] > 127).astype(np.uint8)  # the image's own pixels, moved by OpenCV's warp
    drawn = polygon_mask(out.shape[:2], segs[0])  # the polygon moved by the same matrix, then filled
    differ, band = warped != drawn, _boundary_band(drawn)
    assert not (differ & ~band).any()  # only along the outline: within a pixel
    assert differ.sum() < 0.5 * band.sum()  # and there, a minority of the outline's pixels
    x1, y1, x2, y2 = new_labels[0, 1:5]  # the box is the moved polygon's
    ys, xs = np.nonzero(drawn)
    assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() - x2) <= 1.5 and abs(ys.min() - y1) <= 1.5 \
        and abs(ys.max() - y2) <= 1.5
