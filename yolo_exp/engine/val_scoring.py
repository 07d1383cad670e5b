"""Validation's scoring: each image's detections matched against its labels in original-image pixels (boxes, and
masks for a segmentation model), gathered for AP; the optional label files and COCO records written on the way."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from yolo_exp.files.paths import UniqueNames
from yolo_exp.metrics.coco import predictions_to_coco, rle_encode_patch
from yolo_exp.metrics.matching import IOU_THRESHOLDS, match_predictions
from yolo_exp.ops.boxes import scale_boxes, xywh2xyxy, xyxy2xywh
from yolo_exp.ops.masks import mask_boxes, original_masks, patches_iou


@dataclass
class Accumulator:
    """Per-image evidence for AP, plus what the optional outputs need."""

    nc: int
    stats: list[tuple[torch.Tensor, ...]] = field(default_factory=list)
    images_per_class: np.ndarray = field(init=False)
    seen: int = 0
    txt_names: UniqueNames = field(default_factory=UniqueNames)  # image -> its labels/*.txt (save_txt)

    def __post_init__(self):
        self.images_per_class = np.zeros(self.nc, dtype=np.int64)

    def add(self, correct: torch.Tensor, pred: torch.Tensor, labels: torch.Tensor) -> None:
        self.seen += 1
        self.stats.append((correct.cpu(), pred[:, 4].cpu(), pred[:, 5].cpu(), labels[:, 0].cpu()))
        present = labels[:, 0].long().unique().cpu().numpy()
        self.images_per_class[present[present < self.nc]] += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.stats:
            return np.zeros((0, len(IOU_THRESHOLDS)), bool), np.zeros(0), np.zeros(0), np.zeros(0)
        correct, conf, cls, target_cls = (torch.cat(x).numpy() for x in zip(*self.stats))
        return correct, conf, cls, target_cls


def to_original(boxes: torch.Tensor, img_shape: Sequence[int], shape: Sequence) -> torch.Tensor:
    """xyxy in the letterboxed batch image -> xyxy in the original image, via the loader's ratio and padding."""
    (h0, w0), ratio_pad = shape
    return scale_boxes(img_shape, boxes, (int(h0), int(w0)), ratio_pad)


def _write_txt(path: Path, predn: torch.Tensor, shape: Sequence) -> None:
    """YOLO-format predictions ``cls cx cy w h conf`` normalised to the original image."""
    h0, w0 = (float(v) for v in shape[0])
    xywh = xyxy2xywh(predn[:, :4].float()) / torch.tensor([w0, h0, w0, h0], device=predn.device)
    rows = torch.cat((predn[:, 5:6], xywh, predn[:, 4:5]), 1).tolist()
    path.write_text("".join(f"{int(r[0])} " + " ".join(f"{v:.6g}" for v in r[1:]) + "\n" for r in rows))


def score_batch(outputs, targets, img_shape, paths, shapes, single_cls, acc, confusion, txt_dir, json_out,
                 class_map, masks=None) -> None:
    """Match each image's detections against its labels, both in original-image pixels; with ``masks``
    (MaskScoring, the batch's prototypes) their masks too."""
    h, w = img_shape
    scale = torch.tensor([w, h, w, h], device=targets.device, dtype=torch.float32)
    for si, pred in enumerate(outputs):
        labels = targets[targets[:, 0] == si, 1:].float()
        if single_cls:
            pred[:, 5] = 0
            labels[:, 0] = 0
        predn = pred.clone().float()
        to_original(predn[:, :4], img_shape, shapes[si])
        boxes = to_original(xywh2xyxy(labels[:, 1:5] * scale), img_shape, shapes[si])
        labelsn = torch.cat((labels[:, :1], boxes), 1)
        acc.add(match_predictions(predn, labelsn, IOU_THRESHOLDS), pred, labels)
        patches = masks[0].score(pred, predn, masks[1][si], img_shape, paths[si], shapes[si], single_cls) \
            if masks is not None else None
        if confusion is not None:
            confusion.process_batch(predn, labelsn)
        if json_out is not None:
            records = predictions_to_coco(predn, paths[si], class_map)
            if patches is not None:
                for r, (t, l, m) in zip(records, patches):
                    r["segmentation"] = rle_encode_patch((t, l, m.cpu().numpy()), shapes[si][0])
            json_out.add(records)
        if txt_dir is not None and len(predn):
            name = acc.txt_names(paths[si], Path(paths[si]).stem, ".txt")
            _write_txt(txt_dir / "labels" / name, predn, shapes[si])


def gives_masks(dataloader: Iterable) -> bool:
    return hasattr(getattr(dataloader, "dataset", None), "instance_masks")


class MaskScoring:
    """Mask metrics: each detection's mask at the original image size (ops.masks.original_masks) against the
    label polygons filled at that size (SegmentDataset.instance_masks), matched as boxes are but by mask IoU.
    A mask is only computed where it can match (a same-class label whose box meets the detection's box), unless
    ``all_masks`` (the COCO JSON needs every one)."""

    def __init__(self, dataset: Any, nc: int, all_masks: bool = False) -> None:
        self.dataset, self.acc, self.all_masks = dataset, Accumulator(nc), all_masks
        self.index = {f: i for i, f in enumerate(dataset.im_files)}

    def score(self, pred: torch.Tensor, predn: torch.Tensor, protos: torch.Tensor, img_shape: Sequence[int],
              path: str, shape: Sequence, single_cls: bool) -> list:
        """Add one image's mask evidence; return the detections' masks (None where not computed)."""
        cls, gt = self.dataset.instance_masks(self.index[path])
        gt = torch.from_numpy(gt.view(bool)).to(pred.device)  # 0/1 bytes (polygon_masks): a bool view, no copy
        labels = torch.zeros((len(cls), 5), device=pred.device)
        labels[:, 0] = 0 if single_cls else torch.from_numpy(cls).to(pred.device)
        pairs = (box_iou(mask_boxes(gt), predn[:, :4].float()) > 0) & (labels[:, :1] == predn[:, 5])
        wanted = torch.ones(len(pred), dtype=torch.bool) if self.all_masks else pairs.any(0).cpu()
        idx = wanted.nonzero()[:, 0].tolist()
        found = original_masks(protos, pred[idx, 6:], predn[idx, :4], img_shape, shape[0], shape[1])
        iou = torch.zeros((len(gt), len(pred)), device=pred.device)
        iou[:, idx] = patches_iou(gt, found, pairs[:, idx])
        self.acc.add(match_predictions(predn, labels, IOU_THRESHOLDS, iou=iou), pred, labels)
        patches: list = [None] * len(pred)
        for i, p in zip(idx, found):
            patches[i] = p
        return patches
