"""Batch image resizing for multi-scale training."""
from __future__ import annotations

import math

import torch


def rescale_images(imgs: torch.Tensor, size: int, gs: int) -> torch.Tensor:
    """The batch resized (bilinear) so that its longer side is about ``size``, each side a multiple of ``gs``."""
    sf = size / max(imgs.shape[2:])
    if sf == 1:
        return imgs
    shape = [math.ceil(x * sf / gs) * gs for x in imgs.shape[2:]]
    return torch.nn.functional.interpolate(imgs, size=shape, mode="bilinear", align_corners=False)
