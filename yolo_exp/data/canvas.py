"""A mosaic canvas kept as its tiles until the warp says which part of it is seen.

The mosaic's 2s x 2s canvas is sampled by the random perspective onto an s x s output: at scale 1.5 only a ninth of
it is seen, and pasting the whole canvas first (np.full + four copies) cost more than the warp itself. A
:class:`Layer` records the tiles; the OpenCV path pastes only the window an affine warp can touch and warps that
with the matrix shifted by the window's corner, which gives the same pixels as warping the whole canvas (the
samples read the same canvas pixels with the same fractional weights). The device path (gpu_augment.py) sends the
same cropped tiles to the GPU instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from yolo_exp.data.warp import PAD

Tile = tuple[np.ndarray, int, int]  # uint8 HxWx3 BGR, (top, left) on its canvas


@dataclass
class Layer:
    """An image to make: ``tiles`` on a ``size`` (h, w) canvas of 114, then each output pixel sampled at
    ``inverse`` @ (x, y, 1) of the canvas (None: the canvas is the image)."""

    size: tuple[int, int]
    tiles: list[Tile]
    inverse: np.ndarray | None = None
    out: tuple[int, int] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*(self.out or self.size), 3)


def window(size: tuple[int, int], inverse: np.ndarray, out: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the rectangle of a ``size`` (h, w) canvas that the bilinear samples of an affine warp
    onto ``out`` (h, w) can touch, with a pixel of margin beyond the bilinear footprint (OpenCV rounds sample
    positions to 1/32 px)."""
    h, w = out
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64) @ inverse.T
    (hc, wc), lo, hi = size, np.floor(corners[:, :2].min(0)), np.floor(corners[:, :2].max(0))
    x0, y0 = int(np.clip(lo[0] - 1, 0, wc - 1)), int(np.clip(lo[1] - 1, 0, hc - 1))
    return x0, y0, int(np.clip(hi[0] + 3, x0 + 1, wc)), int(np.clip(hi[1] + 3, y0 + 1, hc))


def cropped(tiles: Sequence[Tile], box: tuple[int, int, int, int]) -> list[Tile]:
    """The tiles' parts inside ``box`` of the canvas, placed on a canvas that starts at its corner."""
    x0, y0, x1, y1 = box
    out = []
    for im, top, left in tiles:
        a, b = max(left, x0), min(left + im.shape[1], x1)
        c, d = max(top, y0), min(top + im.shape[0], y1)
        if a < b and c < d:
            out.append((im[c - top:d - top, a - left:b - left], c - y0, a - x0))
    return out


def paint(size: tuple[int, int], tiles: Sequence[Tile]) -> np.ndarray:
    """The canvas of ``size`` (h, w): the tiles pasted on grey 114."""
    canvas = np.full((*size, 3), PAD, np.uint8)
    for tile, top, left in tiles:
        canvas[top:top + tile.shape[0], left:left + tile.shape[1]] = tile
    return canvas


def seen_part(layer: Layer, M: np.ndarray, out: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the canvas window an affine ``M`` onto ``out`` can see, pasted; ``M`` moved to that window's corner)."""
    x0, y0, x1, y1 = box = window(layer.size, np.linalg.inv(M), out)
    shifted = M @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    return paint((y1 - y0, x1 - x0), cropped(layer.tiles, box)), shifted
