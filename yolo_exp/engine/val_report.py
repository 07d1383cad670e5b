"""Validation's results: the figures (overall, per class, masks), YOLOv5's printed table, and the files written
into the run folder (curves, confusion matrix, metrics.json, pycocotools' figures for predictions.json)."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from yolo_exp.engine.val_scoring import Accumulator
from yolo_exp.metrics.ap import APResult, ap_per_class
from yolo_exp.metrics.coco import CocoJsonWriter, coco_eval
from yolo_exp.metrics.confusion import ConfusionMatrix
from yolo_exp.metrics.plots import plot_curves
from yolo_exp.ops.masks import masks_from_protos
from yolo_exp.report.results import loss_names

HEADER = ("Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95")


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    images: int  # images containing the class
    instances: int
    precision: float
    recall: float
    map50: float
    map: float


@dataclass
class ValResult:
    precision: float
    recall: float
    map50: float
    map: float
    maps: np.ndarray  # (nc,) mAP@0.5:0.95 per class, unlabelled classes get the overall map
    classes: list[ClassMetrics]  # classes with labels
    losses: tuple[float, ...] | None  # (box, obj, cls) or (box, seg, obj, cls) means over batches with a loss_fn
    speed: dict[str, float]  # ms per image: preprocess, inference, nms, metrics
    nt: np.ndarray  # (nc,) labels per class
    seen: int  # images
    conf: float = 0.0  # the operating confidence P and R were read at
    coco: tuple[float, float] | None = None  # pycocotools (mAP@0.5:0.95, mAP@0.5) when requested
    mask: ValResult | None = None  # segmentation: the same figures scored on masks

    @property
    def metrics(self) -> dict[str, float]:
        """The headline figures, keyed as ``fitness`` weights name them (mask_* for a segmentation model's)."""
        box = {"precision": self.precision, "recall": self.recall, "map50": self.map50, "map": self.map}
        return box if self.mask is None else {**box, **{f"mask_{k}": v for k, v in self.mask.metrics.items()}}

    def to_json(self) -> dict:
        return {
            **self.metrics, "seen": self.seen, "instances": int(self.nt.sum()), "conf": self.conf,
            "losses": None if self.losses is None else dict(zip(loss_names(len(self.losses)), self.losses)),
            "speed_ms_per_image": self.speed, "coco": self.coco, "maps": [float(m) for m in self.maps],
            "classes": [asdict(c) for c in self.classes],
            **({} if self.mask is None else {"mask": self.mask.to_json()}),
        }


def _headline(r: ValResult | ClassMetrics) -> tuple[float, float, float, float]:
    return r.precision, r.recall, r.map50, r.map


def log_table(log: logging.Logger, res: ValResult, verbose: bool, nc: int) -> None:
    """YOLOv5's table; a segmentation model's has the mask figures after the box ones, as YOLOv5-seg's."""
    m = res.mask
    header = HEADER if m is None else (*HEADER[:3], "Box(P", *HEADER[4:6], "mAP50-95)", "Mask(P", *HEADER[4:6],
                                       "mAP50-95)")
    log.info(("%22s" + "%11s" * (len(header) - 1)) % header)
    row = "%22s" + "%11i" * 2 + "%11.3g" * (len(header) - 3)
    log.info(row % ("all", res.seen, res.nt.sum(), *_headline(res), *(_headline(m) if m else ())))
    if res.nt.sum() == 0:
        log.warning("no labels found in the validation set, metrics cannot be computed without labels")
    if verbose and nc > 1:
        for i, c in enumerate(res.classes):
            log.info(row % (c.name, c.images, c.instances, *_headline(c), *(_headline(m.classes[i]) if m else ())))
    (log.info if verbose else log.debug)(
        "Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS, %.1fms metrics per image",
        *(res.speed[k] for k in ("preprocess", "inference", "nms", "metrics")))


def summarise(acc: Accumulator, names: Sequence[str], nc: int) -> tuple[APResult, list[ClassMetrics]]:
    ap = ap_per_class(*acc.arrays())
    rows = [
        ClassMetrics(names[c] if c < len(names) else str(c), int(acc.images_per_class[c]) if c < nc else 0,
                     int(n), float(p), float(r), float(a50), float(a))
        for c, n, p, r, a50, a in zip(ap.classes, ap.nt, ap.p, ap.r, ap.ap50, ap.ap5095)
    ]
    return ap, rows


def build_result(acc: Accumulator, mask_acc: Accumulator | None, names: Sequence[str], nc: int,
                 losses: tuple[float, ...] | None, speed: dict[str, float]) -> tuple[ValResult, APResult]:
    """The figures of a validation from its gathered evidence (boxes, and masks when ``mask_acc``)."""
    ap, rows = summarise(acc, names, nc)
    res = ValResult(ap.mp, ap.mr, ap.map50, ap.map, ap.maps(nc), rows, losses, speed,
                    np.bincount(acc.arrays()[3].astype(int), minlength=nc), acc.seen, ap.conf)
    if mask_acc is not None:
        mask_ap, mask_rows = summarise(mask_acc, names, nc)
        res.mask = ValResult(mask_ap.mp, mask_ap.mr, mask_ap.map50, mask_ap.map, mask_ap.maps(nc), mask_rows, None,
                             {}, res.nt, res.seen, mask_ap.conf)
    return res, ap


def plot_val_batch(imgs, targets, outputs, paths, names, save_dir: Path, batch_i: int, masks=None, protos=None,
                overlap: bool = True, conf_thres: float = 0.25) -> None:
    """val_batch{i}_labels.jpg and val_batch{i}_pred.jpg (detections from ``conf_thres``), with masks for a
    segmentation model (the batch's ``masks``; the detections' from ``protos``)."""
    from yolo_exp.report.images import instance_masks, plot_batch  # lazy: cv2 drawing only when pictures are wanted

    plot_batch(imgs, targets, paths, names, save_dir / f"val_batch{batch_i}_labels.jpg",
               masks=None if masks is None else instance_masks(targets, masks, overlap))
    outputs = [o[o[:, 4] >= conf_thres] for o in outputs]
    preds = [torch.cat((torch.full_like(o[:, :1], i), o[:, 5:6], o[:, :5]), 1) for i, o in enumerate(outputs)]
    pred_masks = None if protos is None else torch.cat(
        [masks_from_protos(protos[i], o[:, 6:], o[:, :4], imgs.shape[2:]).cpu() for i, o in enumerate(outputs)])
    plot_batch(imgs, torch.cat(preds).cpu().float(), paths, names, save_dir / f"val_batch{batch_i}_pred.jpg",
               xyxy=True, conf_thres=conf_thres, masks=pred_masks)


def write_outputs(res: ValResult, ap: APResult, confusion: ConfusionMatrix | None, names: Sequence[str],
                   save_dir: Path, plots: bool, json_out: CocoJsonWriter | None, anno_json: Path | str | None,
                   log: logging.Logger) -> None:
    save_dir.mkdir(parents=True, exist_ok=True)
    if plots:
        plot_curves(ap, names, save_dir)
        confusion.plot(save_dir / "confusion_matrix.png", list(names)[: confusion.nc])
    if json_out is not None:
        pred_json = json_out.path
        log.info("Saved %d COCO predictions to %s", json_out.count, pred_json)
        if anno_json is not None:
            preds = pred_json if json_out.count else []
            res.coco = coco_eval(anno_json, preds)
            log.info("pycocotools: mAP50-95 %.4f, mAP50 %.4f (ours %.4f, %.4f)", *res.coco, res.map, res.map50)
            res.map, res.map50 = res.coco
            if res.mask is not None:
                m = res.mask
                m.coco = coco_eval(anno_json, preds, iou_type="segm")
                log.info("pycocotools masks: mAP50-95 %.4f, mAP50 %.4f (ours %.4f, %.4f)", *m.coco, m.map, m.map50)
                m.map, m.map50 = m.coco
    (save_dir / "metrics.json").write_text(json.dumps(res.to_json(), indent=2))
