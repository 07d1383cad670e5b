"""YOLOv5's target assignment and detection loss (box CIoU + objectness + class BCE), vectorised.

Numbers and semantics follow YOLOv5 v7.0 ``ComputeLoss`` (reference §3); the code is our own.

CIoU is written out here (xywh form, alpha without grad, eps = 1e-7) rather than taken from
``torchvision.ops.complete_box_iou_loss``: torchvision divides by the raw predicted height in the aspect term, and
a height that underflows to 0 made every gradient of a step NaN in real training. tests/loss/test_detect.py checks ours
against a float64 transcription of YOLOv5's formula.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

# Neighbour-cell offsets (centre, left, up, right, down), in half cells: a target near a cell edge is also
# assigned to the cell across that edge, so each matched anchor trains up to 3 cells.
_CELL_OFFSETS = ((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (-0.5, 0.0), (0.0, -0.5))
_EDGE = 0.5
_BALANCE_P5 = (4.0, 1.0, 0.4)
_BALANCE_OTHER = (4.0, 1.0, 0.25, 0.06, 0.02)
_FOCAL_ALPHA = 0.25


def scale_hyp_gains(hyp: Mapping, nc: int, nl: int, imgsz: int) -> dict:
    """Rescale the nominal gains so the hyp files (tuned for 80 classes, 3 levels, 640 px) transfer."""
    out = dict(hyp)
    layers = 3 / nl
    out["box"] = hyp["box"] * layers
    out["cls"] = hyp["cls"] * nc / 80 * layers
    out["obj"] = hyp["obj"] * (imgsz / 640) ** 2 * layers
    return out


def level_balance(nl: int) -> tuple[float, ...]:
    """Objectness weight per level: small-stride levels have many more (mostly negative) cells."""
    table = _BALANCE_P5 if nl == 3 else _BALANCE_OTHER
    if nl > len(table):
        raise ValueError(f"YOLOv5 objectness balance is defined for at most {len(table)} levels, got {nl}")
    return table[:nl]


class LevelTargets(NamedTuple):
    """Matches for one level: one row per (target, anchor, cell) triple, in YOLOv5's order."""

    image: Tensor  # (m,) long
    anchor: Tensor  # (m,) long
    gj: Tensor  # (m,) long, row
    gi: Tensor  # (m,) long, column
    box: Tensor  # (m, 4) xywh relative to the cell corner (xy in -0.5..1.5), grid units
    anchor_wh: Tensor  # (m, 2) grid units
    cls: Tensor  # (m,) long
    row: Tensor  # (m,) long, the matched target's row in ``targets`` (its mask, for segmentation)


def assign_targets(targets: Tensor, anchors: Tensor, ny: int, nx: int, anchor_t: float) -> LevelTargets:
    """Match normalised targets (N, 6) to one level's anchors (na, 2, grid units) and cells.

    Order of the rows is offset-major, then anchor, then target, as YOLOv5's masks produce; it matters because
    later duplicates win the objectness target.
    """
    gain = targets.new_tensor([nx, ny, nx, ny])
    xywh = targets[:, 2:6] * gain
    ratio = xywh[None, :, 2:4] / anchors[:, None, :]
    fits = torch.maximum(ratio, 1 / ratio).amax(dim=2) < anchor_t  # (na, N)
    anchor_idx, target_idx = fits.nonzero(as_tuple=True)
    gxy = xywh[target_idx, :2]
    from_far = gain[:2] - gxy
    near_low = (gxy % 1 < _EDGE) & (gxy > 1)  # also the left / upper cell
    near_high = (from_far % 1 < _EDGE) & (from_far > 1)  # also the right / lower cell
    centre = torch.ones_like(near_low[:, :1])
    use = torch.cat((centre, near_low, near_high), dim=1).T  # (5, m)
    offset_idx, match_idx = use.nonzero(as_tuple=True)
    gxy = gxy[match_idx]
    cell = (gxy - gxy.new_tensor(_CELL_OFFSETS)[offset_idx]).long()
    gi = cell[:, 0].clamp(0, nx - 1)
    gj = cell[:, 1].clamp(0, ny - 1)
    rows = target_idx[match_idx]
    anchor = anchor_idx[match_idx]
    box = torch.cat((gxy - torch.stack((gi, gj), dim=1).to(gxy.dtype), xywh[rows, 2:]), dim=1)
    return LevelTargets(
        image=targets[rows, 0].long(),
        anchor=anchor,
        gj=gj,
        gi=gi,
        box=box,
        anchor_wh=anchors[anchor],
        cls=targets[rows, 1].long(),
        row=rows,
    )


def bce_with_logits(logits: Tensor, target: Tensor, pos_weight: float, fl_gamma: float) -> Tensor:
    """Mean BCE with a positive-class weight; TF-addons style focal modulation when ``fl_gamma > 0``."""
    pw = logits.new_tensor([pos_weight])
    loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
    if fl_gamma > 0:
        prob = logits.sigmoid()
        p_t = target * prob + (1 - target) * (1 - prob)
        alpha = target * _FOCAL_ALPHA + (1 - target) * (1 - _FOCAL_ALPHA)
        loss = loss * alpha * (1.0 - p_t) ** fl_gamma
    return loss.mean()


def complete_iou(pred_xywh: Tensor, target_xywh: Tensor, eps: float = 1e-7) -> Tensor:
    """CIoU of paired xywh boxes, YOLOv5's formula (alpha without grad).

    Heights are clamped at eps inside the aspect-ratio term: a predicted height that underflows to 0 would
    otherwise give 0/0 there and poison every gradient of the step (torchvision's CIoU has no such guard).
    """
    (x1, y1, w1, h1), (x2, y2, w2, h2) = pred_xywh.unbind(-1), target_xywh.unbind(-1)
    iw = (torch.minimum(x1 + w1 / 2, x2 + w2 / 2) - torch.maximum(x1 - w1 / 2, x2 - w2 / 2)).clamp(min=0)
    ih = (torch.minimum(y1 + h1 / 2, y2 + h2 / 2) - torch.maximum(y1 - h1 / 2, y2 - h2 / 2)).clamp(min=0)
    inter = iw * ih
    iou = inter / (w1 * h1 + w2 * h2 - inter + eps)
    cw = torch.maximum(x1 + w1 / 2, x2 + w2 / 2) - torch.minimum(x1 - w1 / 2, x2 - w2 / 2)
    ch = torch.maximum(y1 + h1 / 2, y2 + h2 / 2) - torch.minimum(y1 - h1 / 2, y2 - h2 / 2)
    c2 = cw**2 + ch**2 + eps
    rho2 = (x2 - x1) ** 2 + (y2 - y1) ** 2
    v = (4 / math.pi**2) * (torch.atan(w2 / h2.clamp(min=eps)) - torch.atan(w1 / h1.clamp(min=eps))) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def _last_wins(flat_index: Tensor) -> Tensor:
    """Positions of the last occurrence of each index: the deterministic form of YOLOv5's overwrite."""
    order = torch.sort(flat_index, stable=True).indices
    ordered = flat_index[order]
    is_last = torch.ones_like(ordered, dtype=torch.bool)
    is_last[:-1] = ordered[1:] != ordered[:-1]
    return order[is_last]


class DetectionLoss:
    """YOLOv5 loss for raw head outputs; ``hyp`` must hold the gains already scaled by ``scale_hyp_gains``."""

    def __init__(self, anchors: Tensor, nc: int, hyp: Mapping) -> None:
        self.anchors = anchors.detach()  # shares storage: AutoAnchor's in-place edits stay visible
        self.nc = nc
        self.nl, self.na = anchors.shape[:2]
        self.balance = level_balance(self.nl)
        self.gain_box = float(hyp["box"])
        self.gain_obj = float(hyp["obj"])
        self.gain_cls = float(hyp["cls"])
        self.cls_pw = float(hyp["cls_pw"])
        self.obj_pw = float(hyp["obj_pw"])
        self.fl_gamma = float(hyp["fl_gamma"])
        self.anchor_t = float(hyp["anchor_t"])
        eps = float(hyp.get("label_smoothing", 0.0))
        self.cls_pos, self.cls_neg = 1.0 - 0.5 * eps, 0.5 * eps

    def __call__(self, preds: Sequence[Tensor], targets: Tensor) -> tuple[Tensor, Tensor]:
        """Return (total loss × batch size, detached [box, obj, cls]); always computed in at least float32."""
        if len(preds) != self.nl:
            raise ValueError(f"loss built for {self.nl} levels, got {len(preds)} prediction tensors")
        device = preds[0].device
        with torch.autocast(device_type=device.type, enabled=False):
            dtype = torch.promote_types(preds[0].dtype, torch.float32)
            preds = [p.to(dtype) for p in preds]
            targets = targets.to(device=device, dtype=dtype)
            anchors = self.anchors.to(device=device, dtype=dtype)
            zero = torch.zeros((), device=device, dtype=dtype)
            lbox, lobj, lcls = zero, zero, zero
            for i, pred in enumerate(preds):
                box_i, obj_i, cls_i, _, _ = self._level(pred, targets, anchors[i])
                lbox, lobj, lcls = lbox + box_i, lobj + obj_i * self.balance[i], lcls + cls_i
            lbox, lobj, lcls = lbox * self.gain_box, lobj * self.gain_obj, lcls * self.gain_cls
            bs = preds[0].shape[0]
            return (lbox + lobj + lcls) * bs, torch.stack((lbox, lobj, lcls)).detach()

    def _level(self, pred: Tensor, targets: Tensor, anchors: Tensor) -> tuple[Tensor, ...]:
        """(box, obj, cls) terms of one level, its matches and their prediction rows."""
        bs, na, ny, nx, _ = pred.shape
        t = assign_targets(targets, anchors, ny, nx, self.anchor_t)
        tobj = torch.zeros(pred.shape[:4], device=pred.device, dtype=pred.dtype)
        lbox = lcls = pred.new_zeros(())
        matched = pred.new_zeros((0, pred.shape[-1]))
        if t.image.numel():
            matched = pred[t.image, t.anchor, t.gj, t.gi]
            pxy = matched[:, :2].sigmoid() * 2 - 0.5
            pwh = (matched[:, 2:4].sigmoid() * 2) ** 2 * t.anchor_wh
            ciou = complete_iou(torch.cat((pxy, pwh), dim=1), t.box)
            lbox = (1.0 - ciou).mean()
            flat = ((t.image * na + t.anchor) * ny + t.gj) * nx + t.gi
            keep = _last_wins(flat)
            tobj.view(-1)[flat[keep]] = ciou.detach().clamp(0)[keep]
            if self.nc > 1:  # class logits; a Segment head's mask coefficients follow them
                logits = matched[:, 5:5 + self.nc]
                cls_target = torch.full_like(logits, self.cls_neg)
                cls_target[torch.arange(len(t.cls), device=pred.device), t.cls] = self.cls_pos
                lcls = bce_with_logits(logits, cls_target, self.cls_pw, self.fl_gamma)
        lobj = bce_with_logits(pred[..., 4], tobj, self.obj_pw, self.fl_gamma)
        return lbox, lobj, lcls, t, matched
