"""The dataset's image operations applied in the loader worker by OpenCV (``data.gpu_augment=false``; the device
path records the same calls instead: gpu_augment.py)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np
import torch

from yolo_exp.data import augment as A
from yolo_exp.data import warp as W
from yolo_exp.data.canvas import Layer, paint, seen_part


class OpenCVImages:
    """The dataset's image operations applied in the worker by OpenCV (``data.gpu_augment=false``; the device
    path records the same calls instead: gpu_augment.py)."""

    pad = staticmethod(A.pad_image)
    blend = staticmethod(A.blend)

    @staticmethod
    def paste(ims: Sequence[np.ndarray], places: Sequence[A.Place], size: tuple[int, int]) -> Layer:
        """The mosaic canvas as its tiles: the warp pastes only the part it sees (canvas.py)."""
        return Layer(size, A.crops(ims, places))

    @staticmethod
    def pixels(img: Layer | np.ndarray) -> np.ndarray:
        return paint(img.size, img.tiles) if isinstance(img, Layer) else img

    @staticmethod
    def warp(img: Layer | np.ndarray, w: W.Warp) -> np.ndarray:
        if isinstance(img, Layer) and w.needed and not w.perspective:
            part, M = seen_part(img, w.M, w.size)
            return W.warp_image(part, replace(w, M=M))
        return W.warp_image(OpenCVImages.pixels(img), w)

    @staticmethod
    def finish(im: np.ndarray, gains: np.ndarray | None, flipud: bool, fliplr: bool) -> torch.Tensor:
        """HSV and flips; RGB out of the colour conversion itself; (3, H, W) over the HWC pixels (channels last:
        no transpose here, none in the trainer's channels-last input, see collate)."""
        im = A.apply_hsv(im, gains, rgb=True) if gains is not None else cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
        if flipud or fliplr:
            im = cv2.flip(im, -1 if flipud and fliplr else 0 if flipud else 1)
        return torch.from_numpy(im).permute(2, 0, 1)
