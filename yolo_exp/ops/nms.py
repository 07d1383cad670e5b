"""Non-maximum suppression over decoded YOLO outputs.

Deliberately has no time limit: YOLOv5's 0.5 + 0.05*bs s cut-off silently drops the detections of whatever images it
has not reached, which corrupted validation (and best.pt selection) on slow CPUs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import batched_nms

from yolo_exp.ops.boxes import xywh2xyxy


def _candidates(x: torch.Tensor, conf_thres: float, multi_label: bool,
                nm: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 5+nc+nm) rows of one image -> ((n, 6) [x1, y1, x2, y2, conf, cls] above the threshold, (n,) the row of
    ``x`` each came from: a segmentation model's ``nm`` mask coefficients are gathered for the survivors only)."""
    rows = (x[:, 4] > conf_thres).nonzero()[:, 0]
    x = x[rows]
    boxes = xywh2xyxy(x[:, :4])
    scores = x[:, 5:x.shape[1] - nm] * x[:, 4:5]
    if multi_label:
        i, j = (scores > conf_thres).nonzero(as_tuple=True)
        return torch.cat((boxes[i], scores[i, j, None], j[:, None].to(x.dtype)), 1), rows[i]
    conf, j = scores.max(1, keepdim=True)
    keep = conf[:, 0] > conf_thres
    return torch.cat((boxes, conf, j.to(x.dtype)), 1)[keep], rows[keep]


def non_max_suppression(
    pred: torch.Tensor,
    conf_thres: float = 0.001,
    iou_thres: float = 0.6,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = True,
    max_det: int = 300,
    max_nms: int = 30000,
    nm: int = 0,
) -> list[torch.Tensor]:
    """Per image (n, 6) = x1, y1, x2, y2, conf, cls, sorted by conf descending (then ``nm`` mask coefficients,
    carried through for a segmentation model's rows).

    ``pred`` is (bs, N, 5+nc) with xywh pixel boxes and sigmoided objectness/class scores; conf = obj * cls.
    With ``multi_label`` (effective only when nc > 1) every class above ``conf_thres`` yields its own box, which is
    what mAP evaluation wants; at most ``max_nms`` top-scoring candidates enter NMS and ``max_det`` survive.
    """
    if not 0 <= conf_thres <= 1 or not 0 <= iou_thres <= 1:
        raise ValueError(f"conf_thres {conf_thres} and iou_thres {iou_thres} must lie in [0, 1]")
    multi_label = multi_label and pred.shape[2] - nm > 6
    wanted = None if classes is None else torch.as_tensor(classes, dtype=pred.dtype, device=pred.device)
    out = []
    for x in pred:
        det, rows = _candidates(x, conf_thres, multi_label, nm)
        if wanted is not None:
            chosen = torch.isin(det[:, 5], wanted)
            det, rows = det[chosen], rows[chosen]
        order = det[:, 4].argsort(descending=True)[:max_nms]
        det, rows = det[order], rows[order]
        groups = torch.zeros_like(det[:, 5]) if agnostic else det[:, 5]
        keep = batched_nms(det[:, :4].float(), det[:, 4].float(), groups, iou_thres)[:max_det]
        out.append(torch.cat((det[keep], x[rows[keep], x.shape[1] - nm:]), 1) if nm else det[keep])
    return out
