"""Mask metrics: our mask mAP against pycocotools' segm evaluation of our RLE predictions, on real polygons."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from yolo_exp.data.segment_dataset import SegmentDataset
from yolo_exp.engine.val_report import summarise
from yolo_exp.engine.val_scoring import MaskScoring
from yolo_exp.metrics.coco import coco_eval, coco_image_id, predictions_to_coco, rle_encode
from yolo_exp.ops.masks import paste, polygon_mask

IMAGES, MAX_DET, NC = 16, 300, 80


def _mask_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def _detections(ds: SegmentDataset, i: int, rng) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """(detections (n, 6 + nm) in original pixels, prototypes (nm, 80, 80), label classes, label masks) of one image:
    each label's mask drawn into its own prototype (so a detection's mask is that label's at prototype resolution),
    detections with jittered boxes (cropping their masks), some dropped, duplicated or relabelled, plus false
    positives (a few confident, a long faint tail up to MAX_DET, as the box test's generator: tests/metrics)."""
    _, _, _, shapes, _ = ds[i]
    (h0, w0), ((gh, gw), (padw, padh)) = shapes
    cls, gt = ds.instance_masks(i)
    segs = ds.segments[i]
    m, extra = len(cls), 8
    protos = torch.full((m + extra, 80, 80), -6.0)
    for k, s in enumerate(segs):
        pts = np.asarray(s, np.float64) * (w0 * gw, h0 * gh) + (padw, padh)
        protos[k] = torch.from_numpy(polygon_mask((320, 320), pts, downsample=4).astype(np.float32)) * 12 - 6
    blobs = torch.from_numpy(rng.random((extra, 10, 10)) > 0.5).float()
    protos[m:] = torch.nn.functional.interpolate(blobs[None], size=(80, 80), mode="nearest")[0] * 12 - 6
    rows = []
    for k in range(m):
        for _ in range((rng.random() < 0.85) + (rng.random() < 0.15)):
            box = _mask_box(gt[k])
            wh = np.tile(box[2:] - box[:2], 2)
            c = cls[k] if rng.random() > 0.05 else rng.integers(NC)
            rows.append((*(box + rng.normal(0, 0.06, 4) * wh), rng.uniform(0.2, 1.0), c, k))
    n_confident = rng.poisson(3)  # like a detector at conf 0.001: a few confident mistakes, a long faint tail
    for j in range(MAX_DET - len(rows)):
        corner = rng.uniform(0, 1, 2) * (w0, h0)
        score = rng.uniform(0.05, 0.7) if j < n_confident else rng.uniform(0.001, 0.05)
        rows.append((*corner, *(corner + rng.uniform(10, 200, 2)), score, rng.integers(NC), rng.integers(m + extra)))
    rows.sort(key=lambda r: -r[4])
    det = torch.zeros((len(rows), 6 + m + extra))
    for j, (*xyxy, score, c, proto) in enumerate(rows):
        det[j, :6] = torch.tensor([*xyxy, score, c])
        det[j, 6 + int(proto)] = 1.0
    det[:, [0, 2]] = det[:, [0, 2]].clamp(0, w0)
    det[:, [1, 3]] = det[:, [1, 3]].clamp(0, h0)
    return det[:MAX_DET], protos, cls, gt


def test_mask_map_agrees_with_pycocotools_segm(tmp_path):
    pytest.importorskip("pycocotools")
    root = shared_path("datasets", "coco128-seg")
    ds = SegmentDataset(root / "images" / "train", imgsz=320, nc=NC, cache_dir=tmp_path)
    scoring, rng = MaskScoring(ds, NC, all_masks=True), np.random.default_rng(0)
    images, annotations, results = [], [], []
    for i in range(IMAGES):
        det, protos, cls, gt = _detections(ds, i, rng)
        shapes = ds[i][3]
        patches = scoring.score(det, det, protos, (320, 320), ds.im_files[i], shapes, single_cls=False)
        records = predictions_to_coco(det, ds.im_files[i])
        for r, p in zip(records, patches):
            r["segmentation"] = rle_encode(paste(p, shapes[0]).numpy())
        results += records
        image_id = coco_image_id(ds.im_files[i])
        (h0, w0) = shapes[0]
        images.append({"id": image_id, "width": int(w0), "height": int(h0), "file_name": ds.im_files[i]})
        for c, g in zip(cls, gt):
            x1, y1, x2, y2 = _mask_box(g)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(c),
                                "segmentation": rle_encode(g), "area": float(g.sum()), "iscrowd": 0,
                                "bbox": [x1, y1, x2 - x1, y2 - y1]})
    anno = tmp_path / "gt.json"
    anno.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": c, "name": str(c)} for c in range(NC)]}))
    ours, _ = summarise(scoring.acc, [str(c) for c in range(NC)], NC)
    theirs, theirs50 = coco_eval(anno, results, max_dets=MAX_DET, iou_type="segm")
    assert 0.2 < theirs < 0.9  # a realistic operating regime: masks from 1/4-resolution prototypes, cropped
    # measured: 0.6758 vs 0.6771 and 0.8612 vs 0.8627; the rest is YOLOv5's AP interpolation and one-pass
    # matching against COCO's, the same gap as for boxes on these detections (tests/metrics/test_coco.py)
    assert ours.map == pytest.approx(theirs, abs=0.003)
    assert ours.map50 == pytest.approx(theirs50, abs=0.003)
