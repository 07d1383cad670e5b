"""COCO export, and agreement of our mAP with pycocotools on real ground truth with synthetic predictions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import shared_path
from yolo_exp.metrics.ap import ap_per_class
from yolo_exp.metrics.coco import coco_eval, coco_image_id, predictions_to_coco
from yolo_exp.metrics.matching import match_predictions


def test_image_id_is_int_for_numeric_stems_only():
    assert coco_image_id("/data/images/000000000009.jpg") == 9
    assert coco_image_id("BloodImage_00017.jpg") == "BloodImage_00017"


def test_predictions_to_coco_entries():
    det = torch.tensor([[10.12345, 20.0, 50.5, 80.25, 0.1234567, 3.0], [0, 0, 1, 1, 0.9, 0]])
    out = predictions_to_coco(det, Path("a/000000000042.jpg"))
    assert out[0] == {"image_id": 42, "category_id": 3, "bbox": [10.123, 20.0, 40.377, 60.25], "score": 0.12346}
    assert predictions_to_coco(det, "x/img.png", class_map=list(range(1, 81)))[1]["category_id"] == 1
    assert predictions_to_coco(det[:0], "x/1.jpg") == []


def _ground_truth(anno: Path) -> tuple[dict, dict[object, torch.Tensor]]:
    """Per image (m, 5) cls, x1, y1, x2, y2 from a COCO json whose category ids are class indices."""
    data = json.loads(anno.read_text())
    labels = {im["id"]: [] for im in data["images"]}
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        labels[a["image_id"]].append([a["category_id"], x, y, x + w, y + h])
    return data, {k: torch.tensor(v, dtype=torch.float64).reshape(-1, 5) for k, v in labels.items()}


MAX_DET = 300  # as in validation; COCOeval is told to score the same number


def _noisy_detections(labels: torch.Tensor, size: tuple[int, int], class_freq: np.ndarray, rng) -> torch.Tensor:
    """Jittered copies of the labels (some dropped, relabelled or duplicated) plus random false positives.

    Like a detector at conf 0.001 it also emits a long tail of faint false positives. The tail matters: YOLOv5's AP
    ramps the precision envelope linearly to 0 at recall 1, which matches COCO's step interpolation only when the
    final precision of a class is small, as it is in real validation.
    """
    w, h = size
    keep = labels[torch.from_numpy(rng.random(len(labels)) < 0.8)]
    dup = keep[torch.from_numpy(rng.random(len(keep)) < 0.15)]
    boxes = torch.cat((keep, dup))
    wh = (boxes[:, 3:5] - boxes[:, 1:3]).repeat(1, 2)
    xyxy = boxes[:, 1:] + torch.from_numpy(rng.normal(0, 0.08, (len(boxes), 4))) * wh
    classes = np.arange(len(class_freq))
    cls = boxes[:, 0].clone()
    swap = torch.from_numpy(rng.random(len(boxes)) < 0.05)
    cls[swap] = torch.from_numpy(rng.choice(classes, int(swap.sum()), p=class_freq)).double()
    score = torch.from_numpy(rng.uniform(0.2, 1.0, len(boxes)))
    n_confident, n_faint = rng.poisson(3), MAX_DET - len(boxes)
    n_fp = n_confident + n_faint
    corner = rng.uniform(0, 1, (n_fp, 2)) * (w, h)
    fp = np.concatenate((corner, corner + rng.uniform(10, 200, (n_fp, 2))), 1)
    fp_score = np.concatenate((rng.uniform(0.05, 0.7, n_confident), rng.uniform(0.001, 0.05, n_faint)))
    fp_det = np.concatenate((fp, fp_score[:, None], rng.choice(classes, (n_fp, 1), p=class_freq)), 1)
    det = torch.cat((torch.cat((xyxy, score[:, None], cls[:, None]), 1), torch.from_numpy(fp_det)))
    det[:, [0, 2]] = det[:, [0, 2]].clamp(0, w)
    det[:, [1, 3]] = det[:, [1, 3]].clamp(0, h)
    det = det[(det[:, 2] > det[:, 0] + 1) & (det[:, 3] > det[:, 1] + 1)]
    return det[det[:, 4].argsort(descending=True)][:MAX_DET].float()


def _ours_and_pycocotools(anno: Path, seed: int) -> tuple[tuple[float, float], tuple[float, float]]:
    pytest.importorskip("pycocotools")
    data, gt = _ground_truth(anno)
    rng = np.random.default_rng(seed)
    counts = np.bincount(torch.cat(list(gt.values()))[:, 0].long().numpy())
    stats, results = [], []
    for im in data["images"]:
        labels = gt[im["id"]]
        det = _noisy_detections(labels, (im["width"], im["height"]), counts / counts.sum(), rng)
        stats.append((match_predictions(det, labels.float()), det[:, 4], det[:, 5], labels[:, 0]))
        results += predictions_to_coco(det, im["file_name"])
    correct, conf, pred_cls, target_cls = (torch.cat(x).numpy() for x in zip(*stats))
    ours = ap_per_class(correct, conf, pred_cls, target_cls)
    return (ours.map, ours.map50), coco_eval(anno, results, max_dets=MAX_DET)


@pytest.mark.parametrize(("dataset", "split"), [("coco128", "train"), ("coco128", "val"), ("bccd", "val")])
def test_map_agrees_with_pycocotools(dataset: str, split: str):
    anno = shared_path("datasets", dataset, "annotations", f"{split}_gt.json")
    (ours, ours50), (theirs, theirs50) = _ours_and_pycocotools(anno, seed=0)
    assert 0.2 < theirs < 0.9  # a realistic, non-degenerate operating regime
    assert ours == pytest.approx(theirs, abs=0.005)
    assert ours50 == pytest.approx(theirs50, abs=0.005)


def test_coco_eval_of_empty_predictions_is_zero():
    pytest.importorskip("pycocotools")
    assert coco_eval(shared_path("datasets", "bccd", "annotations", "val_gt.json"), []) == (0.0, 0.0)


def test_coco_eval_scores_ground_truth_as_perfect():
    pytest.importorskip("pycocotools")
    anno = shared_path("datasets", "bccd", "annotations", "val_gt.json")
    data = json.loads(anno.read_text())
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in data["annotations"]]
    assert coco_eval(anno, perfect) == pytest.approx((1.0, 1.0))


def test_rle_encode_is_what_pycocotools_decodes():
    from pycocotools import mask as coco_mask

    from yolo_exp.metrics.coco import rle_encode

    rng = np.random.default_rng(0)
    for m in (rng.random((7, 5)) > 0.5, np.ones((4, 6), bool), np.zeros((3, 3), bool)):
        rle = rle_encode(m)
        assert rle["size"] == list(m.shape) and sum(rle["counts"]) == m.size
        compressed = coco_mask.frPyObjects(rle, *m.shape)
        assert np.array_equal(coco_mask.decode(compressed), m.astype(np.uint8))


def test_compressed_rle_is_pycocotools_own_string():
    """rle_string and rle_encode_patch give byte for byte what pycocotools' encode gives, patches touching every
    edge, empty and full, one-pixel images included."""
    from pycocotools import mask as coco_mask

    from yolo_exp.metrics.coco import rle_encode, rle_encode_patch, rle_string

    rng = np.random.default_rng(3)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        t, l = int(rng.integers(0, h)), int(rng.integers(0, w))
        ph, pw = int(rng.integers(0, h - t + 1)), int(rng.integers(0, w - l + 1))
        patch = rng.random((ph, pw)) < rng.random()
        full = np.zeros((h, w), bool)
        full[t:t + ph, l:l + pw] = patch
        theirs = coco_mask.encode(np.asfortranarray(full.astype(np.uint8)))["counts"].decode()
        assert rle_encode_patch((t, l, patch), (h, w)) == {"size": [h, w], "counts": theirs}
        assert rle_string(rle_encode(full)["counts"]) == theirs


def test_streamed_json_is_whole_or_absent_and_holds_nothing(tmp_path):
    """Records go to disk as they come: the file appears whole at the end (pycocotools-readable JSON), an abort
    keeps the previous file, and memory held does not grow with the number of records written."""
    import tracemalloc

    from yolo_exp.metrics.coco import CocoJsonWriter

    path = tmp_path / "predictions.json"
    record = {"image_id": 1, "category_id": 0, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5}
    with CocoJsonWriter(path) as out:
        out.add([record, record])
        out.add([])
        assert not path.exists()
    assert json.loads(path.read_text()) == [record, record] and out.count == 2
    try:
        with CocoJsonWriter(path) as out:
            out.add([record])
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert json.loads(path.read_text()) == [record, record] and list(tmp_path.iterdir()) == [path]

    def peak(n: int) -> int:
        tracemalloc.start()
        with CocoJsonWriter(tmp_path / f"{n}.json") as out:
            for _ in range(n):
                out.add([record] * 10)
        held = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return held

    assert peak(4000) < 1.5 * peak(400) + 50_000  # a list of 40,000 records would hold megabytes
