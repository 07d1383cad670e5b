"""Instance masks for segmentation: polygons to masks (one per instance, or YOLOv5's overlap index mask), masks
from prototypes and coefficients, cropping to boxes, and mask IoU. Pure functions over numpy arrays and tensors."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray, downsample: int = 1) -> np.ndarray:
    """A uint8 0/1 mask of one polygon (pixel (x, y) points) filled at ``shape`` (h, w), then resized to
    ``shape // downsample`` as YOLOv5 does (its mask_ratio 4: masks at a quarter of the image).

    The points are floored, not rounded: a label point x (0 = the left edge of the image) lies in the pixel whose
    centre fillPoly calls floor(x). That is YOLOv5's integer cast for every point inside the image; rounding put
    every mask half a pixel right and down, 2-4 % larger at a quarter of the image (docs/quality.md)."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    pts = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(pts) >= 3:
        cv2.fillPoly(mask, [np.floor(pts).astype(np.int32)], 1)
    return cv2.resize(mask, (w // downsample, h // downsample)) if downsample > 1 else mask


def polygon_masks(shape: tuple[int, int], polygons: Sequence[np.ndarray], downsample: int = 1) -> np.ndarray:
    """(n, h // downsample, w // downsample) uint8 masks, one per polygon."""
    h, w = shape[0] // downsample, shape[1] // downsample
    if not len(polygons):
        return np.zeros((0, h, w), np.uint8)
    return np.stack([polygon_mask(shape, p, downsample) for p in polygons])


def overlap_mask(shape: tuple[int, int], polygons: Sequence[np.ndarray],
                 downsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One index mask for all instances (YOLOv5's ``overlap_mask``): pixel value k+1 belongs to the k-th instance
    in area order, largest first, so where instances overlap the smaller one (drawn later) owns the pixel. Returns
    (mask (h', w'), the instance order: labels must be reordered the same way)."""
    masks = polygon_masks(shape, polygons, downsample)
    h, w = masks.shape[1:]
    dtype = np.int32 if len(masks) > 255 else np.uint8
    if not len(masks):
        return np.zeros((h, w), dtype), np.zeros(0, np.int64)
    order = np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable")
    index = np.zeros((h, w), dtype)
    for k, i in enumerate(order):
        index[masks[i] > 0] = k + 1
    return index, order


def crop_mask(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero every mask (n, h, w) outside its box (n, 4: x1 y1 x2 y2 in mask pixels); a pixel is inside when its
    index lies in [x1, x2) and [y1, y2)."""
    _, h, w = masks.shape
    x1, y1, x2, y2 = (boxes[:, i, None, None] for i in range(4))  # each (n, 1, 1)
    cols = torch.arange(w, device=masks.device, dtype=boxes.dtype).view(1, 1, w)
    rows = torch.arange(h, device=masks.device, dtype=boxes.dtype).view(1, h, 1)
    return masks * ((cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2))


def masks_from_protos(protos: torch.Tensor, coeffs: torch.Tensor, boxes: torch.Tensor,
                      shape: tuple[int, int]) -> torch.Tensor:
    """Binary masks (n, H, W) of n detections: sigmoid(coefficients @ prototypes), cropped to each box (``boxes``
    in input pixels, (n, 4) xyxy), upsampled bilinearly to the input ``shape`` (H, W), thresholded at 0.5."""
    nm, ph, pw = protos.shape
    logits = (coeffs.float() @ protos.float().view(nm, -1)).view(-1, ph, pw)
    scale = boxes.new_tensor([pw / shape[1], ph / shape[0], pw / shape[1], ph / shape[0]])
    masks = crop_mask(logits.sigmoid(), boxes * scale)
    if not len(masks):
        return masks.new_zeros((0, *shape), dtype=torch.bool)
    return F.interpolate(masks[None], size=shape, mode="bilinear", align_corners=False)[0] > 0.5


def mask_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """IoU matrix (n, m) of binary masks a (n, h, w) and b (m, h, w)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter + eps)


def _sample_points(n: int, gain: float, pad: float, input_size: int, proto_size: int) -> tuple[np.ndarray, ...]:
    """Where each of ``n`` original pixels' centres falls on one prototype axis, mapped through the letterbox as
    grid_sample (align_corners=False, border padding) maps it: (first index, second index, weight of the second)."""
    x = ((np.arange(n, dtype=np.float32) + 0.5) * np.float32(gain) + np.float32(pad)) * np.float32(
        proto_size / input_size) - np.float32(0.5)
    x = np.clip(x, 0, proto_size - 1)
    x0 = np.floor(x).astype(np.int64)
    return x0, np.minimum(x0 + 1, proto_size - 1), (x - x0).astype(np.float32)


def original_masks(protos: torch.Tensor, coeffs: torch.Tensor, boxes: torch.Tensor, input_shape: Sequence[int],
                   shape: Sequence[int], ratio_pad: Sequence) -> list[tuple[int, int, torch.Tensor]]:
    """Each detection's binary mask at the original image's size, as (top, left, patch) inside its box (CPU
    tensors, whatever the prototypes' device: masks at the original size feed metrics and files).

    sigmoid(coefficients @ prototypes) is sampled bilinearly at every original pixel's centre mapped through the
    letterbox (``ratio_pad`` = ((gain_h, gain_w), (pad_w, pad_h)) of the ``input_shape`` (H, W) batch image),
    kept inside the detection's box (``boxes`` (n, 4) xyxy in original pixels; pixel c is inside when
    x1 <= c < x2) and thresholded at 0.5: YOLOv5's native-resolution masks (``--retina-masks``). Only the box is
    sampled, from only the prototype cells under it, columns then rows (bilinear sampling on a grid is
    separable); in numpy, whose per-call cost is a fraction of torch's for these many small arrays.
    """
    h, w = int(shape[0]), int(shape[1])
    if not len(boxes):
        return []
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    nm, ph, pw = protos.shape
    protos_np, coeffs_np = protos.float().cpu().numpy(), coeffs.float().cpu().numpy()
    ya, yb, fy = _sample_points(h, gain_h, pad_h, int(input_shape[0]), ph)
    xa, xb, fx = _sample_points(w, gain_w, pad_w, int(input_shape[1]), pw)
    out = []
    for i, (l, t, r, b) in enumerate(boxes.float().ceil().clamp(min=0).long().tolist()):
        r, b = min(max(r, l), w), min(max(b, t), h)
        l, t = min(l, r), min(t, b)
        if r == l or b == t:
            out.append((t, l, torch.zeros((b - t, r - l), dtype=torch.bool)))
            continue
        r0, c0 = int(ya[t]), int(xa[l])
        # only the prototype cells the box samples: coefficients x prototypes there, through the sigmoid
        # (as tanh: no overflow for very negative logits)
        logits = coeffs_np[i] @ protos_np[:, r0:int(yb[b - 1]) + 1, c0:int(xb[r - 1]) + 1].reshape(nm, -1)
        cells = (0.5 + 0.5 * np.tanh(0.5 * logits)).reshape(int(yb[b - 1]) + 1 - r0, -1)
        wx = fx[l:r]
        cols = cells[:, xa[l:r] - c0] * (1 - wx) + cells[:, xb[l:r] - c0] * wx  # (cell rows, r - l)
        out.append((t, l, torch.from_numpy(_rows_above_half(cols, ya[t:b] - r0, yb[t:b] - r0, fy[t:b]))))
    return out


def _rows_above_half(cols: np.ndarray, first: np.ndarray, second: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(len(first), w) bool: where (1 - weight) * cols[first] + weight * cols[second] > 0.5, row by row.

    A mix of two values lies between them, so where both rows are above 0.5 (or both not) the answer is known
    without mixing: only the pixels between rows that straddle 0.5 are computed, the rest are whole-row copies
    of a bool table (most of a mask, since it is only uncertain along its outline).
    """
    above = cols > 0.5
    out = above[first]  # right wherever the second row agrees
    unsure = out ^ above[second]
    k = np.flatnonzero(unsure)  # 4x faster than a 2-d nonzero
    if len(k):
        r = k // cols.shape[1]
        c = k - r * cols.shape[1]
        w = weight[r]
        out.ravel()[k] = cols[first[r], c] * (1 - w) + cols[second[r], c] * w > 0.5
    return out


def patches_iou(gt: torch.Tensor, patches: Sequence[tuple[int, int, torch.Tensor]],
                pairs: torch.Tensor | None = None, eps: float = 1e-7) -> torch.Tensor:
    """IoU matrix (m, n) of full-size binary masks ``gt`` (m, h, w) and detections' masks as ``original_masks``
    gives them; only the (m, n) bool ``pairs`` are computed (the rest are 0). Counted with numpy, which counts
    bytes far faster than torch's bool reductions on the CPU."""
    iou = np.zeros((len(gt), len(patches)), np.float32)
    if len(gt) and len(patches):
        g = gt.bool().cpu().numpy()
        gt_area = [np.count_nonzero(m) for m in g]
        wanted = [range(len(g))] * len(patches) if pairs is None else \
            [col.nonzero()[:, 0].tolist() for col in pairs.T.cpu()]
        for j, ((t, l, patch), rows) in enumerate(zip(patches, wanted)):
            if not rows:
                continue
            m = patch.cpu().numpy() if isinstance(patch, torch.Tensor) else np.asarray(patch)
            area = np.count_nonzero(m)
            for k in rows:
                inter = np.count_nonzero(g[k, t:t + m.shape[0], l:l + m.shape[1]] & m)
                iou[k, j] = inter / (gt_area[k] + area - inter + eps)
    return torch.from_numpy(iou).to(gt.device)


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(m, 4) xyxy boxes of binary masks (m, h, w): pixel c inside means x1 <= c < x2 (empty masks: zeros)."""
    out = torch.zeros((len(masks), 4), device=masks.device)
    bytes_ = masks.bool().view(torch.uint8)  # max over bytes: torch's bool any() is slow on the CPU
    for axis, (lo, hi) in ((1, (0, 2)), (2, (1, 3))):  # any over rows: the columns hit (x); over columns: y
        hit = bytes_.amax(dim=axis).bool()
        idx = torch.arange(hit.shape[1], device=masks.device).float()
        out[:, lo] = torch.where(hit, idx, float("inf")).min(1).values
        out[:, hi] = torch.where(hit, idx + 1, -1.0).max(1).values
    return torch.where(torch.isfinite(out) & (out >= 0), out, torch.zeros_like(out))


def paste(patch: tuple[int, int, torch.Tensor | np.ndarray], shape: Sequence[int]) -> torch.Tensor | np.ndarray:
    """A patch of ``original_masks`` as a full (h, w) bool mask (a tensor or an array, as the patch)."""
    t, l, m = patch
    size = tuple(int(s) for s in shape[:2])
    full = np.zeros(size, bool) if isinstance(m, np.ndarray) else torch.zeros(size, dtype=torch.bool,
                                                                                 device=m.device)
    full[t:t + m.shape[0], l:l + m.shape[1]] = m
    return full


def patch_polygon(patch: tuple[int, int, np.ndarray | torch.Tensor]) -> np.ndarray:
    """The outline (k, 2) of a mask patch's largest region, in image pixels (YOLOv5's masks2segments
    'largest'); (0, 2) when the mask is empty."""
    top, left, m = patch
    m = m.cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    largest = max(contours, key=lambda c: (len(c), cv2.contourArea(c)))
    return largest.reshape(-1, 2).astype(np.float32) + (left, top)
