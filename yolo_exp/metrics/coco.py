"""COCO-format prediction export and the optional pycocotools cross-check."""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from yolo_exp.ops.boxes import xyxy2xywh


def coco_image_id(path: str | Path) -> int | str:
    """The file stem, as int when numeric: the convention of COCO and of YOLOv5's ``--save-json``."""
    stem = Path(path).stem
    return int(stem) if stem.isdecimal() else stem


def predictions_to_coco(
    detections: torch.Tensor, path: str | Path, class_map: Sequence[int] | None = None
) -> list[dict]:
    """COCO result entries for one image; ``detections`` (n, 6) xyxy, conf, cls in original-image pixels.

    ``category_id`` is the class index, or ``class_map[cls]`` (e.g. the COCO 80 -> 91 id table).
    """
    image_id = coco_image_id(path)
    boxes = xyxy2xywh(detections[:, :4].float())
    boxes[:, :2] -= boxes[:, 2:] / 2  # centre -> top-left corner
    classes = detections[:, 5].long().tolist()
    return [
        {
            "image_id": image_id,
            "category_id": class_map[c] if class_map is not None else c,
            "bbox": [round(v, 3) for v in box],
            "score": round(score, 5),
        }
        for box, score, c in zip(boxes.tolist(), detections[:, 4].tolist(), classes)
    ]


def rle_encode(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a binary (h, w) mask: run lengths in column-major order, starting with a run of
    zeros (pycocotools reads it as it reads its own compressed strings; no pycocotools needed to write it)."""
    h, w = mask.shape
    flat = np.asarray(mask, bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def coco_eval(
    anno_json: str | Path, predictions: str | Path | list[dict], max_dets: int = 100, verbose: bool = False,
    iou_type: str = "bbox",
) -> tuple[float, float]:
    """(mAP@0.5:0.95, mAP@0.5) from pycocotools' COCOeval on boxes (``iou_type="segm"``: on the predictions'
    RLE masks); needs the optional pycocotools package.

    COCO scores the top ``max_dets`` detections per image (100 in the official protocol; YOLOv5 saves up to 300,
    so pass its ``max_det`` to score the same set as our own metrics). An empty prediction set scores 0.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        gt = COCO(str(anno_json))
        if isinstance(predictions, (str, Path)):
            predictions = str(predictions)
        elif not predictions:
            return 0.0, 0.0
        evaluator = COCOeval(gt, gt.loadRes(predictions), iou_type)
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
        if verbose:
            evaluator.summarize()
    # precision is (iou, recall, class, area range, max dets); -1 marks classes without ground truth.
    # Read it directly because summarize() hard-codes 100 detections for its first figure.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    return _mean_valid(precision), _mean_valid(precision[0])


def _mean_valid(precision) -> float:
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0
