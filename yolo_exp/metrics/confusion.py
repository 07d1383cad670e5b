"""Detection confusion matrix with a background class, accumulated image by image."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from yolo_exp.metrics.matching import assign_one_to_one
from yolo_exp.metrics.plots import plot_confusion_matrix


class ConfusionMatrix:
    """``matrix[predicted, true]``, (nc+1, nc+1); index nc is background.

    Detections under ``conf`` are ignored; a detection and a label of any class match when IoU > ``iou_thres``
    (one to one, highest IoU first). Unmatched labels count as predicted background, unmatched detections as true
    background. Unlike YOLOv5, detections on images with no match at all (e.g. background images) are counted too.
    """

    def __init__(self, nc: int, conf: float = 0.25, iou_thres: float = 0.45):
        self.nc, self.conf, self.iou_thres = nc, conf, iou_thres
        self.matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)

    def process_batch(self, detections: torch.Tensor | None, labels: torch.Tensor) -> None:
        """One image: ``detections`` (n, 6) x1, y1, x2, y2, conf, cls (or None); ``labels`` (m, 5) cls, x1..y2."""
        gt = labels[:, 0].long().cpu().numpy()
        if detections is None:
            detections = labels.new_zeros((0, 6))
        det = detections[detections[:, 4] > self.conf]
        dc = det[:, 5].long().cpu().numpy()
        iou = box_iou(labels[:, 1:].float(), det[:, :4].float())
        won, label = assign_one_to_one(torch.where(iou > self.iou_thres, iou, -1.0)[None], prefer_iou=True)
        won, label = won[0].cpu().numpy(), label[0].cpu().numpy()
        matched_labels = np.zeros(len(gt), dtype=bool)
        matched_labels[label[won]] = True
        np.add.at(self.matrix, (dc[won], gt[label[won]]), 1)
        np.add.at(self.matrix, (self.nc, gt[~matched_labels]), 1)
        np.add.at(self.matrix, (dc[~won], self.nc), 1)

    def tp_fp(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-class true positives (diagonal) and false positives (rest of the predicted row), background excluded."""
        tp = np.diag(self.matrix)[:-1]
        return tp, self.matrix[:-1].sum(1) - tp

    def plot(self, path: Path, names: Sequence[str]) -> None:
        plot_confusion_matrix(self.matrix, names, Path(path))
