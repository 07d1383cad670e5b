"""``data.gpu_augment=true``: the workers draw every augmentation as today but apply none of the pixel work.

The dataset's image operations (paste the mosaic, pad the letterbox, warp, blend for mixup, HSV and flips) go
through an ``images`` object: ``OpenCVImages`` (opencv_images.py) applies them in the worker, :class:`DeviceImages`
records them. A recorded image is a :class:`Layer` (tiles to paste on a grey canvas, then the inverse of the drawn
warp) or two of them blended; labels, boxes and polygons are computed in the worker from the same draws with the
same functions, so they are exactly the OpenCV path's. ``pack`` (the collate) puts a batch's tiles into one flat
uint8 tensor, cropped to the part of the canvas the warp can see; ``DeviceBatch.render`` (gpu_render.py) makes the
images on the training device in a few batched ops. Copy-paste needs the pixels in the worker: refused with it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from yolo_exp.data import augment as A
from yolo_exp.data import warp as W
from yolo_exp.data.canvas import Layer, cropped, window

@dataclass
class Blend:
    """Mixup: ``a`` * r + ``b`` * (1 - r)."""

    a: Layer
    b: Layer
    r: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a.shape


@dataclass
class DeviceDraw:
    """The per-image record that travels instead of the image: its layers (two for mixup), the blend weight,
    the HSV lookup tables (None: no HSV) and the flips."""

    layers: list[Layer]
    r: float
    luts: np.ndarray | None
    flipud: bool
    fliplr: bool


class DeviceImages:
    """The dataset's image operations, recorded for the device instead of applied (see the module doc)."""

    @staticmethod
    def paste(ims: Sequence[np.ndarray], places: Sequence[A.Place], size: tuple[int, int]) -> Layer:
        return Layer(size, A.crops(ims, places))

    @staticmethod
    def pad(im: np.ndarray, borders: tuple[int, int, int, int], color: int = W.PAD) -> Layer:
        top, bottom, left, right = borders
        return Layer((im.shape[0] + top + bottom, im.shape[1] + left + right), [(im, top, left)])

    @staticmethod
    def warp(layer: Layer, w: W.Warp) -> Layer:
        """The warp's inverse; for an affine one only the canvas part it can see is kept (less to send)."""
        if not w.needed:
            return layer
        inverse = np.linalg.inv(w.M)
        if w.perspective:
            return Layer(layer.size, layer.tiles, inverse, w.size)
        x0, y0, x1, y1 = box = window(layer.size, inverse, w.size)
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        return Layer((y1 - y0, x1 - x0), cropped(layer.tiles, box), shift @ inverse, w.size)

    @staticmethod
    def blend(a: Layer, b: Layer, r: float) -> Blend:
        return Blend(a, b, r)

    @staticmethod
    def finish(img: Layer | Blend, gains: np.ndarray | None, flipud: bool, fliplr: bool) -> DeviceDraw:
        layers, r = ([img.a, img.b], img.r) if isinstance(img, Blend) else ([img], 1.0)
        return DeviceDraw(layers, r, None if gains is None else A.hsv_luts(gains), flipud, fliplr)


@dataclass
class DeviceBatch:
    """A batch of recorded images: every tile in one flat uint8 tensor (pinned by the loader), the pastes as rows
    (layer, offset, h, w, top, left), per layer its inverse warp, per image its layers, blend, LUTs and flips."""

    flat: torch.Tensor
    pastes: np.ndarray
    canvas: tuple[int, int]
    inverse: np.ndarray
    out: tuple[int, int]
    first: np.ndarray
    second: np.ndarray
    r: np.ndarray
    luts: np.ndarray
    hsv: np.ndarray
    flipud: np.ndarray
    fliplr: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def pin_memory(self, device: Any = None) -> DeviceBatch:
        self.flat = self.flat.pin_memory()
        return self

    def render(self, device: torch.device | str) -> torch.Tensor:
        """The batch's images made on ``device``: uint8 (B, 3, H, W) RGB, as the OpenCV path's collate gives."""
        from yolo_exp.data.gpu_render import render

        return render(self, torch.device(device))


def _layers(draws: Sequence[DeviceDraw]) -> tuple[list[Layer], np.ndarray, np.ndarray]:
    layers: list[Layer] = []
    first, second = np.zeros(len(draws), np.int64), np.full(len(draws), -1, np.int64)
    for i, d in enumerate(draws):
        first[i] = len(layers)
        if len(d.layers) > 1:
            second[i] = len(layers) + 1
        layers += d.layers
    return layers, first, second


def pack(draws: Sequence[DeviceDraw]) -> DeviceBatch:
    """The collate of recorded images: one copy of each (cropped) tile into a flat tensor."""
    layers, first, second = _layers(draws)
    outs = {layer.shape[:2] for layer in layers}
    if len(outs) != 1:
        raise ValueError(f"data.gpu_augment: a batch needs one image size, got {sorted(outs)}")
    rows, offset = [], 0
    for li, layer in enumerate(layers):
        for im, top, left in layer.tiles:
            if im.size:
                rows.append((li, offset, im.shape[0], im.shape[1], top, left))
                offset += im.size
    flat = torch.empty(offset, dtype=torch.uint8)
    buf = flat.numpy()
    tiles = [im for layer in layers for im, _, _ in layer.tiles if im.size]
    for (_, o, h, w, _, _), im in zip(rows, tiles):
        buf[o:o + h * w * 3].reshape(h, w, 3)[:] = im
    eye = np.eye(3)
    luts = np.zeros((len(draws), 3, 256), np.uint8)
    for i, d in enumerate(draws):
        if d.luts is not None:
            luts[i] = d.luts
    return DeviceBatch(
        flat, np.array(rows, np.int64).reshape(-1, 6),
        (max(layer.size[0] for layer in layers), max(layer.size[1] for layer in layers)),
        np.stack([eye if layer.inverse is None else layer.inverse for layer in layers]), outs.pop(), first, second,
        np.array([d.r for d in draws]), luts, np.array([d.luts is not None for d in draws]),
        np.array([d.flipud for d in draws]), np.array([d.fliplr for d in draws]))
