"""Box conversions between the label, pixel and letterboxed frames.

Thin over ``torchvision.ops.box_convert`` where it applies; the numpy twins exist because the data pipeline
works on numpy arrays in dataloader workers and must not pay for tensor round trips.
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_convert

Array = np.ndarray | torch.Tensor


def xywh2xyxy(x: Array) -> Array:
    """(cx, cy, w, h) -> (x1, y1, x2, y2), same units."""
    if isinstance(x, torch.Tensor):
        return box_convert(x, "cxcywh", "xyxy")
    y = np.empty_like(x)
    y[..., 0] = x[..., 0] - x[..., 2] / 2
    y[..., 1] = x[..., 1] - x[..., 3] / 2
    y[..., 2] = x[..., 0] + x[..., 2] / 2
    y[..., 3] = x[..., 1] + x[..., 3] / 2
    return y


def xyxy2xywh(x: Array) -> Array:
    """(x1, y1, x2, y2) -> (cx, cy, w, h), same units."""
    if isinstance(x, torch.Tensor):
        return box_convert(x, "xyxy", "cxcywh")
    y = np.empty_like(x)
    y[..., 0] = (x[..., 0] + x[..., 2]) / 2
    y[..., 1] = (x[..., 1] + x[..., 3]) / 2
    y[..., 2] = x[..., 2] - x[..., 0]
    y[..., 3] = x[..., 3] - x[..., 1]
    return y


def xywhn2xyxy(x: Array, w: float, h: float, padw: float = 0.0, padh: float = 0.0) -> Array:
    """Normalised (cx, cy, w, h) -> pixel (x1, y1, x2, y2) in an image of size (w, h) placed at (padw, padh)."""
    y = xywh2xyxy(x)
    scale = (w, h, w, h)
    offset = (padw, padh, padw, padh)
    for i in range(4):
        y[..., i] = y[..., i] * scale[i] + offset[i]
    return y


def xyxy2xywhn(x: Array, w: float, h: float, clip: bool = False, eps: float = 0.0) -> Array:
    """Pixel (x1, y1, x2, y2) -> normalised (cx, cy, w, h); optionally clip to the image first (shrunk by eps)."""
    if clip:
        x = x.clone() if isinstance(x, torch.Tensor) else x.copy()
        clip_boxes(x, (h - eps, w - eps))
    y = xyxy2xywh(x)
    scale = (w, h, w, h)
    for i in range(4):
        y[..., i] = y[..., i] / scale[i]
    return y


def clip_boxes(boxes: Array, shape: tuple[float, float]) -> Array:
    """Clip xyxy boxes in place to an image of shape (h, w)."""
    h, w = shape[0], shape[1]
    if isinstance(boxes, torch.Tensor):
        boxes[..., 0].clamp_(0, w)
        boxes[..., 1].clamp_(0, h)
        boxes[..., 2].clamp_(0, w)
        boxes[..., 3].clamp_(0, h)
    else:
        boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, w)
        boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, h)
    return boxes


def scale_boxes(img1_shape, boxes: Array, img0_shape, ratio_pad=None) -> Array:
    """Map xyxy boxes in place from a letterboxed image (h1, w1) back to the original image (h0, w0).

    ``ratio_pad`` = ((ratio_h, ratio_w), (padw, padh)) as kept by the loader; without it the letterbox is
    recomputed from the two shapes (centred padding).
    """
    if ratio_pad is None:
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
        gain_w = gain_h = gain
        pad = ((img1_shape[1] - img0_shape[1] * gain) / 2, (img1_shape[0] - img0_shape[0] * gain) / 2)
    else:
        gain_h, gain_w = ratio_pad[0][0], ratio_pad[0][1]
        pad = ratio_pad[1]
    boxes[..., [0, 2]] -= pad[0]
    boxes[..., [1, 3]] -= pad[1]
    boxes[..., [0, 2]] /= gain_w
    boxes[..., [1, 3]] /= gain_h
    return clip_boxes(boxes, img0_shape)
