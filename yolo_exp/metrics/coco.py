"""COCO-format prediction export and the optional pycocotools cross-check."""
from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from yolo_exp.files.atomic import atomic_open
from yolo_exp.ops.boxes import xyxy2xywh


def coco_image_id(path: str | Path) -> int | str:
    """The file stem, as int when numeric: the convention of COCO and of YOLOv5's ``--save-json``."""
    stem = Path(path).stem
    return int(stem) if stem.isdecimal() else stem


def predictions_to_coco(
    detections: torch.Tensor, path: str | Path, class_map: Sequence[int] | None = None,
    image_id: int | str | None = None,
) -> list[dict]:
    """COCO result entries for one image; ``detections`` (n, 6) xyxy, conf, cls in original-image pixels.

    ``category_id`` is the class index, or ``class_map[cls]`` (e.g. the COCO 80 -> 91 id table); ``image_id``
    defaults to the file's (its stem).
    """
    image_id = coco_image_id(path) if image_id is None else image_id
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
    return {"size": [int(h), int(w)], "counts": _runs(np.asarray(mask, bool).ravel(order="F"))}


def rle_encode_patch(patch: tuple[int, int, np.ndarray], shape: Sequence[int]) -> dict:
    """COCO's compressed RLE of a mask given as a patch (top, left, (ph, pw) bool) inside an (h, w) image.

    Only the patch's columns are laid out (h x pw, not h x w), since the columns around it are one run of zeros
    each side: the cost follows the box, which keeps save_json affordable at conf 0.001 on large images.
    """
    top, left, m = patch
    h, w = int(shape[0]), int(shape[1])
    m = np.asarray(m, bool)
    block = np.zeros((h, m.shape[1]), bool)
    block[top:top + m.shape[0]] = m
    runs = _runs(block.ravel(order="F"))
    after = (w - left - m.shape[1]) * h
    runs[0] += left * h  # the zero columns before the patch join the first (zero) run
    if len(runs) % 2:  # the last run is zeros: the columns after the patch extend it
        runs[-1] += after
    elif after:
        runs.append(after)
    return {"size": [h, w], "counts": rle_string(runs)}


def _runs(flat: np.ndarray) -> list[int]:
    """Run lengths of a flat bool array, the first counting zeros (0 when it starts with a one)."""
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return [int(c) for c in counts]


def rle_string(counts: Sequence[int]) -> str:
    """COCO's compressed RLE string of run lengths (what pycocotools writes): each count from the third on is
    stored as its difference to the count two before, then as little-endian 5-bit groups, each printed as
    chr(48 + group), with bit 0x20 set on every group but the last of a number."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        while True:
            group, x = x & 0x1F, x >> 5
            more = x != -1 if group & 0x10 else x != 0  # sign-extended: done once the rest is all sign bits
            out.append(chr(48 + (group | 0x20 if more else group)))
            if not more:
                break
    return "".join(out)


class CocoJsonWriter:
    """predictions.json written as validation goes, one image's records at a time, so memory stays flat in the
    number of images (a COCO val run at conf 0.001 holds millions of records); the file appears, whole, only at
    ``close``, and ``abort`` (or an error) leaves the previous one in place."""

    def __init__(self, path: str | Path) -> None:
        self.path, self.count = Path(path), 0
        self._ctx = atomic_open(self.path)
        self._file = self._ctx.__enter__()
        self._file.write(b"[")

    def add(self, records: Sequence[dict]) -> None:
        for r in records:
            self._file.write((b"," if self.count else b"") + json.dumps(r, separators=(",", ":")).encode())
            self.count += 1

    def close(self) -> Path:
        self._file.write(b"]")
        self._ctx.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self._ctx.__exit__(_Aborted, _Aborted(), None)

    def __enter__(self) -> CocoJsonWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self.close() if exc_type is None else self.abort()


class _Aborted(Exception):
    """Thrown into the atomic writer to drop the temporary file."""


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
