"""fitness: weighted metric sum with YOLOv5's default weights."""
from __future__ import annotations

import pytest

from yolo_exp.metrics.fitness import DEFAULT_WEIGHTS, fitness

METRICS = {"precision": 0.7, "recall": 0.6, "map50": 0.5, "map": 0.3}


def test_default_weights_are_yolov5s():
    assert fitness(METRICS) == pytest.approx(0.1 * 0.5 + 0.9 * 0.3)
    assert dict(DEFAULT_WEIGHTS) == {"precision": 0.0, "recall": 0.0, "map50": 0.1, "map": 0.9}


def test_custom_weights_and_zero_weights_skip_missing_keys():
    assert fitness(METRICS, {"precision": 0.5, "recall": 0.5}) == pytest.approx(0.65)
    assert fitness({"map50": 0.5, "map": 0.3}) == pytest.approx(0.32)


def test_unknown_metric_fails_loudly():
    with pytest.raises(KeyError, match="mAP"):
        fitness(METRICS, {"mAP": 1.0})


def test_segmentation_fitness_weighs_box_and_mask_alike_unless_told():
    box = {"precision": 0.5, "recall": 0.5, "map50": 0.6, "map": 0.4}
    seg = {**box, "mask_precision": 0.5, "mask_recall": 0.5, "mask_map50": 0.5, "mask_map": 0.3}
    assert fitness(seg) == pytest.approx(0.1 * 0.6 + 0.9 * 0.4 + 0.1 * 0.5 + 0.9 * 0.3)  # YOLOv5-seg's
    weights = {"map50": 0.1, "map": 0.9, "mask_map50": None, "mask_map": 2.0}
    assert fitness(seg, weights) == pytest.approx(0.06 + 0.36 + 0.05 + 0.6)
    assert fitness(box, weights | {"mask_map": None}) == pytest.approx(0.42)  # a detection run: unset mask weights
    with pytest.raises(KeyError, match="mask_map"):
        fitness(box, weights)  # ... but a set one needs mask metrics
