"""The segmentation dataset (YOLOv5-seg): YoloDataset's samples plus instance masks.

The label polygons go through every geometric augmentation with the image (mosaic, copy-paste, mixup, letterbox,
random perspective, flips) and boxes come from the moved polygons; the masks are the polygons rasterised at
1/``mask_ratio`` of the image (YOLOv5's 4). ``overlap`` (YOLOv5's ``overlap_mask``): one index mask per image,
instances numbered by area, largest first (their labels in that order); else one 0/1 mask per instance. Plug it in
with ``data.dataset._target_=yolo_exp.data.segment_dataset.SegmentDataset``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from yolo_exp.data import augment as A
from yolo_exp.data import warp as W
from yolo_exp.data.dataset import YoloDataset, collate
from yolo_exp.ops.boxes import xyxy2xywh, xyxy2xywhn
from yolo_exp.ops.masks import overlap_mask, polygon_masks

SegSample = tuple[torch.Tensor, torch.Tensor, str, Any, torch.Tensor]


def _flip(labels: np.ndarray, segs: W.Segments, size: int, axis: int) -> tuple[np.ndarray, W.Segments]:
    """Mirror pixel boxes [cls, x1, y1, x2, y2] and polygons along x (axis 0) or y (axis 1) of an image ``size``
    wide (or high)."""
    out = labels.copy()
    lo, hi = 1 + axis, 3 + axis
    out[:, lo], out[:, hi] = size - labels[:, hi], size - labels[:, lo]
    flipped = []
    for s in segs:
        s = s.copy()
        s[:, axis] = size - s[:, axis]
        flipped.append(s)
    return out, flipped


class SegmentDataset(YoloDataset):
    def __init__(self, *args: Any, mask_ratio: int = 4, overlap: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mask_ratio, self.overlap = mask_ratio, overlap

    def __getitem__(self, item: int | tuple[int, bool] | tuple[int, bool, int]) -> SegSample:
        index, mosaic = self.begin(item)
        img, labels, segs, shapes = self.geometry(index, mosaic, polygons=True)
        if len(segs) != len(labels):  # labels without polygons: their boxes stand in
            segs = A.box_polygons(xyxy2xywh(labels[:, 1:5])) if len(labels) else []
        h, w = img.shape[:2]
        gains, ud, lr = self.last_draws()  # the same draws, in the same order, as YoloDataset's
        for axis, size, flip in ((1, h, ud), (0, w, lr)):
            if flip:
                labels, segs = _flip(labels, segs, size, axis)
        if self.overlap:
            index_mask, order = overlap_mask((h, w), segs, self.mask_ratio)
            labels, masks = labels[order], torch.from_numpy(index_mask.astype(np.int64))
        else:
            masks = torch.from_numpy(polygon_masks((h, w), segs, self.mask_ratio))
        if len(labels):
            labels[:, 1:5] = xyxy2xywhn(labels[:, 1:5], w=w, h=h, clip=True, eps=1e-3)
        targets = torch.zeros((len(labels), 6))
        targets[:, 1:] = torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32))
        return self.images.finish(img, gains, ud, lr), targets, self.im_files[index], shapes, masks

    def instance_masks(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(classes (m,), masks (m, h0, w0) uint8) of image ``index``'s labels at its original size, from the label
        polygons (a label without one: its box): the ground truth that mask metrics are scored against."""
        w0, h0 = (int(v) for v in self.shapes[index])  # (w, h), as YOLOv5 keeps them
        labels, segs = self.labels_of(index), self.segments_of(index)
        if len(segs) != len(labels):
            segs = A.box_polygons(labels[:, 1:5]) if len(labels) else []
        polygons = [np.asarray(s, np.float64) * (w0, h0) for s in segs]
        return labels[:, 0].copy(), polygon_masks((h0, w0), polygons)

    @staticmethod
    def collate_fn(batch: Sequence[SegSample]) -> tuple[Any, ...]:
        """YoloDataset's batch plus the masks: (B, h, w) index masks with ``overlap``, else (N, h, w) aligned with
        the targets' rows."""
        imgs, targets, paths, shapes = collate([b[:4] for b in batch])
        masks = [b[4] for b in batch]
        return imgs, targets, paths, shapes, torch.stack(masks) if masks[0].dim() == 2 else torch.cat(masks)
