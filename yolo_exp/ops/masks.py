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
    ``shape // downsample`` as YOLOv5 does (its mask_ratio 4: masks at a quarter of the image)."""
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    pts = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(pts) >= 3:
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
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


def original_masks(protos: torch.Tensor, coeffs: torch.Tensor, boxes: torch.Tensor, input_shape: Sequence[int],
                   shape: Sequence[int], ratio_pad: Sequence) -> list[tuple[int, int, torch.Tensor]]:
    """Each detection's binary mask at the original image's size, as (top, left, patch) inside its box.

    sigmoid(coefficients @ prototypes) is sampled bilinearly at every original pixel's centre mapped through the
    letterbox (``ratio_pad`` = ((gain_h, gain_w), (pad_w, pad_h)) of the ``input_shape`` (H, W) batch image),
    kept inside the detection's box (``boxes`` (n, 4) xyxy in original pixels; pixel c is inside when
    x1 <= c < x2) and thresholded at 0.5: YOLOv5's native-resolution masks (``--retina-masks``). Only the box is
    sampled, so the cost follows the boxes' area, not detections x image size.
    """
    h, w = int(shape[0]), int(shape[1])
    (gain_h, gain_w), (pad_w, pad_h) = ratio_pad
    nm, ph, pw = protos.shape
    probs = (coeffs.float() @ protos.float().view(nm, -1)).sigmoid().view(-1, 1, ph, pw)
    # grid_sample's coordinates (align_corners=False): -1 and 1 are the outer edges of the input image
    gx = ((torch.arange(w, device=protos.device) + 0.5) * float(gain_w) + float(pad_w)) * 2 / input_shape[1] - 1
    gy = ((torch.arange(h, device=protos.device) + 0.5) * float(gain_h) + float(pad_h)) * 2 / input_shape[0] - 1
    x1, y1, x2, y2 = boxes.float().ceil().clamp(min=0).long().T.tolist() if len(boxes) else ([],) * 4
    out = []
    for i, (l, t, r, b) in enumerate(zip(x1, y1, x2, y2)):
        r, b = min(max(r, l), w), min(max(b, t), h)
        l, t = min(l, r), min(t, b)
        grid = torch.stack(torch.meshgrid(gy[t:b], gx[l:r], indexing="ij")[::-1], -1)[None]
        patch = F.grid_sample(probs[i:i + 1], grid, mode="bilinear", padding_mode="border", align_corners=False)
        out.append((t, l, patch[0, 0] > 0.5))
    return out


def patches_iou(gt: torch.Tensor, patches: Sequence[tuple[int, int, torch.Tensor]],
                pairs: torch.Tensor | None = None, eps: float = 1e-7) -> torch.Tensor:
    """IoU matrix (m, n) of full-size binary masks ``gt`` (m, h, w) and detections' masks as ``original_masks``
    gives them; only the (m, n) bool ``pairs`` are computed (the rest are 0)."""
    gt = gt.bool()
    gt_area = gt.flatten(1).sum(1).float()
    iou = torch.zeros((len(gt), len(patches)), device=gt.device)
    if not len(gt):
        return iou
    for j, (t, l, patch) in enumerate(patches):
        rows = torch.arange(len(gt), device=gt.device) if pairs is None else pairs[:, j].nonzero()[:, 0]
        if not len(rows):
            continue
        ph, pw = patch.shape
        inter = (gt[rows, t:t + ph, l:l + pw] & patch).flatten(1).sum(1).float()
        iou[rows, j] = inter / (gt_area[rows] + patch.sum() - inter + eps)
    return iou


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """(m, 4) xyxy boxes of binary masks (m, h, w): pixel c inside means x1 <= c < x2 (empty masks: zeros)."""
    out = torch.zeros((len(masks), 4), device=masks.device)
    for axis, (lo, hi) in ((1, (0, 2)), (2, (1, 3))):  # any over rows: the columns hit (x); over columns: y
        hit = masks.bool().any(dim=axis)
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
