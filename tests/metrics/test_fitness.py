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
