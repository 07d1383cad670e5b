"""The device half of ``data.gpu_augment``: a packed batch (gpu_augment.py) made into images with torch ops.

Each step reproduces OpenCV's arithmetic, so that the images equal the worker path's but for a pixel in ten
thousand off by a level or a few (tests/data/test_gpu_augment.py): the warp samples bilinearly at float source
coordinates with the border 114, as OpenCV 5's ``warpAffine``/``warpPerspective`` do (OpenCV 4 rounds them to
1/32 pixel: then 0.1-0.4 levels apart on average); the HSV round trip uses OpenCV's 8-bit formulas (the integer
division tables of BGR->HSV, the float sectors of HSV->BGR, truncated) with the worker's lookup tables.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from yolo_exp.data.warp import PAD

if TYPE_CHECKING:
    from yolo_exp.data.gpu_augment import DeviceBatch

SHIFT = 12  # OpenCV's hsv_shift: fixed-point bits of its 8-bit BGR->HSV
# HSV->BGR: which of (v, v(1-s), v(1-sf), v(1-s(1-f))) is b, g, r in each hue sector
SECTORS = ((1, 3, 0), (1, 0, 2), (3, 0, 1), (0, 2, 1), (0, 1, 3), (2, 1, 0))


def canvases(batch: DeviceBatch, device: torch.device) -> torch.Tensor:
    """(L, Hc, Wc, 3) uint8: every layer's tiles pasted on grey, from one transfer of the flat tile buffer."""
    flat = batch.flat.to(device, non_blocking=True)
    canvas = torch.full((len(batch.inverse), *batch.canvas, 3), PAD, dtype=torch.uint8, device=device)
    for layer, off, h, w, top, left in batch.pastes.tolist():
        canvas[layer, top:top + h, left:left + w] = flat[off:off + h * w * 3].view(h, w, 3)
    return canvas


def warp(canvas: torch.Tensor, inverse: torch.Tensor, out: tuple[int, int]) -> torch.Tensor:
    """(L, H, W, 3) uint8: output pixel (x, y) bilinearly sampled at ``inverse`` @ (x, y, 1) of its canvas."""
    (h, w), (hc, wc), dev = out, canvas.shape[1:3], canvas.device
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=dev),
                            torch.arange(w, dtype=torch.float64, device=dev), indexing="ij")
    src = torch.einsum("lij,hwj->lhwi", inverse.to(dev, torch.float64), torch.stack([xs, ys, torch.ones_like(xs)], -1))
    xy = src[..., :2] / src[..., 2:]
    grid = ((2 * xy + 1) / torch.tensor([wc, hc], dtype=torch.float64, device=dev) - 1).float()
    shifted = canvas.permute(0, 3, 1, 2).float().sub_(PAD)  # zero padding of the shifted image: a border of 114
    y = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False).add_(PAD)
    return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def _bgr2hsv(bgr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """OpenCV's 8-bit BGR->HSV (hue 0..179) in its integer arithmetic."""
    b, g, r = bgr.int().unbind(-1)
    v, vmin = torch.maximum(torch.maximum(b, g), r), torch.minimum(torch.minimum(b, g), r)
    diff = v - vmin
    i = torch.arange(256, dtype=torch.float64, device=bgr.device).clamp(min=1)
    sdiv = torch.round((255 << SHIFT) / i).int()
    hdiv = torch.round((180 << SHIFT) / (6 * i)).int()
    sdiv[0] = hdiv[0] = 0
    half = 1 << (SHIFT - 1)
    s = torch.div(diff * sdiv[v] + half, 1 << SHIFT, rounding_mode="floor")
    h = torch.where(v == r, g - b, torch.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = torch.div(h * hdiv[diff] + half, 1 << SHIFT, rounding_mode="floor")
    return torch.where(h < 0, h + 180, h), s, v


def _hsv2bgr(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """OpenCV's 8-bit HSV->BGR: float sectors of the hue, truncated to uint8 (as its SIMD path, which converts
    every image but a few pixels at the end; its scalar path rounds)."""
    hf = h.float() * (6.0 / 180)
    sf, vf = s.float() * (1 / 255), v.float() * (1 / 255)
    sector = torch.floor(hf)
    f = hf - sector
    tab = torch.stack([vf, vf * (1 - sf), vf * (1 - sf * f), vf * (1 - sf * (1 - f))], -1)
    pick = torch.tensor(SECTORS, device=h.device)[sector.long().clamp(0, 5)]
    return (torch.gather(tab, -1, pick) * 255).clamp_(0, 255).to(torch.uint8)  # the cast truncates


def hsv(bgr: torch.Tensor, luts: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 3) uint8 BGR through each image's (3, 256) hue/saturation/value lookup tables."""
    n = bgr.shape[0]
    looked = [torch.gather(luts[:, c].long(), 1, x.reshape(n, -1).long()).view_as(x)
              for c, x in enumerate(_bgr2hsv(bgr))]
    return _hsv2bgr(*looked)


def _blend(a: torch.Tensor, b: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Mixup as ``cv2.addWeighted(a, r, b, 1 - r, 0)``: rounded to uint8."""
    return (a.float() * r + b.float() * (1 - r)).round_().clamp_(0, 255).to(torch.uint8)


def render(batch: DeviceBatch, device: torch.device) -> torch.Tensor:
    """uint8 (B, 3, H, W) RGB: canvases, one batched warp, mixup, HSV, flips (the worker path's order)."""
    def on(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x).to(device)

    layers = warp(canvases(batch, device), torch.from_numpy(batch.inverse), batch.out)
    imgs = layers[on(batch.first)]
    mixed = batch.second >= 0
    if mixed.any():
        r = on(batch.r[mixed]).float().view(-1, 1, 1, 1)
        imgs[on(mixed)] = _blend(imgs[on(mixed)], layers[on(batch.second[mixed])], r)
    if batch.hsv.any():
        imgs[on(batch.hsv)] = hsv(imgs[on(batch.hsv)], on(batch.luts[batch.hsv]))
    for flags, dim in ((batch.flipud, 1), (batch.fliplr, 2)):
        if flags.any():
            imgs[on(flags)] = imgs[on(flags)].flip(dim)
    return imgs.flip(-1).permute(0, 3, 1, 2)  # BGR -> RGB, (B, 3, H, W) over NHWC memory
