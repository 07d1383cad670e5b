"""Metric figures are written, with legends switched by class count."""
from __future__ import annotations

import numpy as np
import pytest

from yolo_exp.metrics.ap import ap_per_class
from yolo_exp.metrics.plots import plot_curves


def _result(nc: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 60 * nc
    conf = rng.random(n)
    tp = np.repeat((rng.random(n) < conf)[:, None], 10, 1)
    return ap_per_class(tp, conf, rng.integers(0, nc, n), rng.integers(0, nc, 20 * nc))


@pytest.mark.parametrize("nc", [3, 25])
def test_four_curves_written(tmp_path, nc):
    names = [f"class{i}" for i in range(nc)]
    paths = plot_curves(_result(nc), names, tmp_path)
    assert [p.name for p in paths] == ["PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png"]
    for p in paths:
        assert p.stat().st_size > 20_000


def test_curves_for_an_empty_result(tmp_path):
    res = ap_per_class(np.zeros((0, 10), bool), np.zeros(0), np.zeros(0), np.zeros(0))
    for p in plot_curves(res, ["a"], tmp_path):
        assert p.exists()
