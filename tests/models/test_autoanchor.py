import logging

import numpy as np
import pytest
import torch

from yolo_exp.models.autoanchor import (anchor_fitness, bpr_aat, check_anchors, kmeans, label_wh,
                                        ratio_metric)
from yolo_exp.models.yolo import build_model

DEFAULT_PX = np.array([10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326],
                      dtype=np.float64).reshape(9, 2)


def _dataset(wh_px: np.ndarray, per_image: int = 4, size=(640, 480)):
    """Images of ``size`` (w, h) whose labels have the given pixel sizes (at long side 640)."""
    w, h = size
    labels = []
    for start in range(0, len(wh_px), per_image):
        chunk = wh_px[start:start + per_image]
        n = len(chunk)
        labels.append(np.column_stack([np.zeros(n), np.full(n, 0.5), np.full(n, 0.5),
                                       chunk[:, 0] / w, chunk[:, 1] / h]))
    return np.tile([[w, h]], (len(labels), 1)), labels


def test_metric_and_bpr():
    wh = np.array([[10.0, 13.0], [40.0, 52.0], [41.0, 53.0], [200.0, 5.0]])
    anchors = np.array([[10.0, 13.0]])
    x = ratio_metric(wh, anchors)[:, 0]
    np.testing.assert_allclose(x, [1.0, 0.25, 10 / 41, 0.05])
    bpr, aat = bpr_aat(wh, anchors, thr=4.0)
    assert bpr == 0.25 and aat == 0.25  # 0.25 is not > 1/4
    log_wh = np.log(wh.astype(np.float32)).T.copy()
    assert anchor_fitness(log_wh, anchors.astype(np.float32), 4.0) == pytest.approx(0.25)


def test_label_wh_scales_to_long_side():
    shapes = np.array([[1280, 960], [320, 640]])
    labels = [np.array([[0, 0.5, 0.5, 0.5, 0.25]]), np.array([[1, 0.5, 0.5, 1.0, 0.5], [2, 0.1, 0.1, 0.1, 0.1]])]
    np.testing.assert_allclose(label_wh(shapes, labels, 640), [[320, 120], [320, 320], [32, 64]])


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[1.0, 1.0], [5.0, 1.0], [3.0, 6.0]])
    points = np.concatenate([c + rng.normal(0, 0.1, (200, 2)) for c in centres])
    found = kmeans(points, 3, np.random.default_rng(1))
    found = found[np.lexsort(found.T[::-1])]
    np.testing.assert_allclose(found, centres[np.lexsort(centres.T[::-1])], atol=0.05)


def test_good_anchors_left_unchanged(caplog):
    rng = np.random.default_rng(0)
    wh = DEFAULT_PX[rng.integers(0, 9, 2000)] * rng.uniform(0.7, 1.4, (2000, 2))
    shapes, labels = _dataset(wh)
    model = build_model("yolov5n", nc=80)
    before = model.detect.anchors.clone()
    with caplog.at_level(logging.INFO):
        result = check_anchors(model, shapes, labels)
    assert result["old_bpr"] > 0.98 and not result["replaced"]
    assert torch.equal(model.detect.anchors, before)
    assert "Best Possible Recall (BPR). Current anchors are a good fit" in caplog.text


def test_poor_anchors_are_evolved_reproducibly(caplog):
    rng = np.random.default_rng(0)
    # long thin objects (wires, text lines): aspect ratios no default anchor covers
    wh = np.column_stack([rng.uniform(150, 600, 3000), rng.uniform(4, 14, 3000)])
    shapes, labels = _dataset(wh)
    model = build_model("yolov5n", nc=80)
    with caplog.at_level(logging.INFO):
        result = check_anchors(model, shapes, labels, gen=300)
    assert result["old_bpr"] < 0.5 and result["new_bpr"] > 0.98 and result["replaced"]
    new_px = model.detect.anchors_px.detach().numpy()
    np.testing.assert_allclose(new_px, result["anchors"], rtol=1e-6)
    assert (new_px[..., 0] / new_px[..., 1] > 8).all()  # all anchors became wide
    areas = new_px.prod(-1).mean(-1)
    assert areas[0] <= areas[1] <= areas[2]  # still small -> large with stride
    assert "attempting to improve" in caplog.text and "BPR" in caplog.text
    again = build_model("yolov5n", nc=80)
    check_anchors(again, shapes, labels, gen=300)
    assert torch.equal(again.detect.anchors, model.detect.anchors)


def test_integer_anchors_are_computed():
    rng = np.random.default_rng(3)
    wh = DEFAULT_PX[rng.integers(0, 9, 1500)] * rng.uniform(0.8, 1.25, (1500, 2))
    shapes, labels = _dataset(wh)
    from yolo_exp.models.arch import load_arch

    arch = load_arch("yolov5n")
    arch["anchors"] = 3
    model = build_model(arch, nc=80)
    result = check_anchors(model, shapes, labels, gen=200)
    assert result["replaced"] and result["new_bpr"] > 0.98
