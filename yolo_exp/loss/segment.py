"""YOLOv5-seg's loss: the detection terms plus the mask term.

For every matched anchor the predicted mask is its coefficients times the image's prototypes; the mask term is the
per-pixel BCE against the target's mask at prototype resolution, kept inside the target box, averaged over the box's
pixels and divided by the box's normalised area (small objects weigh as much as large ones), averaged over the
image's matches, summed over images and levels, then scaled by ``hyp.box / batch size`` (reference §3).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from yolo_exp.loss.detect import DetectionLoss
from yolo_exp.ops.boxes import xywh2xyxy
from yolo_exp.ops.masks import crop_mask


def mask_term(coeffs: Tensor, protos: Tensor, gt: Tensor, xywhn: Tensor) -> Tensor:
    """One image's mask loss: coeffs (m, nm), protos (nm, h, w), gt (m, h, w) 0/1, target boxes (m, 4) xywh
    normalised to the image."""
    nm, h, w = protos.shape
    logits = (coeffs @ protos.reshape(nm, -1)).view(-1, h, w)
    loss = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
    box = xywh2xyxy(xywhn * xywhn.new_tensor([w, h, w, h]))
    area = xywhn[:, 2] * xywhn[:, 3]
    return (crop_mask(loss, box).mean(dim=(1, 2)) / area).mean()


class SegmentationLoss(DetectionLoss):
    """``overlap``: the batch's masks are (B, h, w) index masks (value k+1 = the image's k-th target, as
    SegmentDataset numbers them), else (N, h, w) aligned with the target rows."""

    def __init__(self, anchors: Tensor, nc: int, hyp: Mapping, overlap: bool = True) -> None:
        super().__init__(anchors, nc, hyp)
        self.overlap = overlap

    def __call__(self, preds: tuple[Sequence[Tensor], Tensor], targets: Tensor,
                 masks: Tensor) -> tuple[Tensor, Tensor]:
        """Return (total loss × batch size, detached [box, seg, obj, cls]), in at least float32."""
        raw, protos = preds
        device = protos.device
        with torch.autocast(device_type=device.type, enabled=False):
            dtype = torch.promote_types(protos.dtype, torch.float32)
            raw, protos = [p.to(dtype) for p in raw], protos.to(dtype)
            targets, anchors = targets.to(device=device, dtype=dtype), self.anchors.to(device=device, dtype=dtype)
            gt_masks = self._masks_at(masks.to(device), protos.shape[-2:])
            local = self._index_in_image(targets)
            zero = torch.zeros((), device=device, dtype=dtype)
            lbox, lseg, lobj, lcls = zero, zero, zero, zero
            for i, pred in enumerate(raw):
                box_i, obj_i, cls_i, t, matched = self._level(pred, targets, anchors[i])
                lbox, lobj, lcls = lbox + box_i, lobj + obj_i * self.balance[i], lcls + cls_i
                for b in t.image.unique().tolist():
                    j = t.image == b
                    rows = t.row[j]
                    gt = (gt_masks[b][None] == (local[rows] + 1).view(-1, 1, 1)).to(dtype) if self.overlap \
                        else gt_masks[rows].to(dtype)
                    lseg = lseg + mask_term(matched[j, 5 + self.nc:], protos[b], gt, targets[rows, 2:6])
            bs = protos.shape[0]
            lbox, lobj, lcls, lseg = lbox * self.gain_box, lobj * self.gain_obj, lcls * self.gain_cls, \
                lseg * self.gain_box / bs
            return (lbox + lseg + lobj + lcls) * bs, torch.stack((lbox, lseg, lobj, lcls)).detach()

    @staticmethod
    def _masks_at(masks: Tensor, size: Sequence[int]) -> Tensor:
        """The batch's masks at the prototypes' size (nearest: index values stay indices)."""
        if tuple(masks.shape[-2:]) == tuple(size):
            return masks
        return F.interpolate(masks[None].float(), size=tuple(size), mode="nearest")[0].to(masks.dtype)

    @staticmethod
    def _index_in_image(targets: Tensor) -> Tensor:
        """Each target row's position among its image's rows (the collate keeps an image's rows together)."""
        image = targets[:, 0].long()
        counts = torch.bincount(image, minlength=int(image.max()) + 1 if len(image) else 0)
        starts = torch.cumsum(counts, 0) - counts
        return torch.arange(len(image), device=targets.device) - starts[image]
