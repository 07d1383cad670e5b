"""Which detections are true positives, at each IoU threshold of the COCO sweep."""
from __future__ import annotations

import torch
from torchvision.ops import box_iou

IOU_THRESHOLDS = torch.linspace(0.5, 0.95, 10)


def match_predictions(
    detections: torch.Tensor, labels: torch.Tensor, iouv: torch.Tensor = IOU_THRESHOLDS,
    iou: torch.Tensor | None = None,
) -> torch.Tensor:
    """(n, t) bool: detection i is a true positive at IoU threshold t.

    ``detections`` (n, 6) = x1, y1, x2, y2, conf, cls in NMS order (conf descending); ``labels`` (m, 5) = cls, x1,
    y1, x2, y2 in the same frame. Same matching as YOLOv5's val: among same-class pairs with IoU >= t, each detection
    claims its best-IoU label, and a label claimed several times goes to the earliest (highest-conf) claimant;
    losers are not re-matched. All thresholds are handled at once. ``iou`` (m, n) replaces the boxes' IoU: the
    masks' for segmentation (ops.masks.mask_iou of label and detection masks), with the same matching.
    """
    iouv = iouv.to(detections.device)
    if iou is None:
        iou = box_iou(labels[:, 1:].float(), detections[:, :4].float())  # (m, n)
    same_class = labels[:, :1] == detections[:, 5]
    eligible = (iou[None] >= iouv[:, None, None]) & same_class  # (t, m, n)
    won, _ = assign_one_to_one(torch.where(eligible, iou, -1.0), prefer_iou=False)
    return won.T.contiguous()


def assign_one_to_one(iou: torch.Tensor, prefer_iou: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(won, label), both (t, n): whether detection j keeps a label at threshold row t, and which one.

    ``iou`` is (t, m, n) with -1 marking ineligible pairs. Each detection claims its best-IoU eligible label; a label claimed several times goes to the claimant with the
    highest IoU (``prefer_iou``) or to the earliest detection (lowest index, i.e. highest conf after NMS).
    """
    t, m, n = iou.shape
    if m == 0 or n == 0:
        return iou.new_zeros((t, n), dtype=torch.bool), iou.new_zeros((t, n), dtype=torch.long)
    best_iou, best_label = iou.max(1)  # (t, n)
    claims = best_iou >= 0
    rank = best_iou.argsort(dim=1, descending=True, stable=True).argsort(dim=1) if prefer_iou else (
        torch.arange(n, device=iou.device).expand(t, n))
    slot = best_label + torch.arange(t, device=iou.device)[:, None] * m
    first = torch.full((t * m,), n, dtype=torch.long, device=iou.device)
    first.scatter_reduce_(0, slot[claims], rank[claims], reduce="amin")
    return claims & (first[slot] == rank), best_label
