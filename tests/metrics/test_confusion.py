"""ConfusionMatrix accumulation on hand-built images, and its picture."""
from __future__ import annotations

import numpy as np
import torch

from yolo_exp.metrics.confusion import ConfusionMatrix


def _t(*rows, width):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, width)


def test_correct_wrong_class_missed_and_spurious():
    cm = ConfusionMatrix(nc=3)
    labels = _t([0, 0, 0, 10, 10], [1, 20, 20, 30, 30], [2, 50, 50, 60, 60], width=5)
    dets = _t([0, 0, 10, 10, 0.9, 0],  # right class
              [20, 20, 30, 30, 0.8, 2],  # label 1 predicted as 2
              [80, 80, 90, 90, 0.7, 1],  # nothing there
              [50, 50, 60, 60, 0.1, 2],  # under conf 0.25: ignored, so label 2 is missed
              width=6)
    cm.process_batch(dets, labels)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1
    expected[2, 1] = 1
    expected[1, 3] = 1  # spurious detection: true background
    expected[3, 2] = 1  # missed label: predicted background
    np.testing.assert_array_equal(cm.matrix, expected)
    tp, fp = cm.tp_fp()
    assert tp.tolist() == [1, 0, 0] and fp.tolist() == [0, 1, 1]


def test_one_to_one_by_iou_and_strict_threshold():
    cm = ConfusionMatrix(nc=1, iou_thres=0.45)
    labels = _t([0, 0, 0, 10, 10], width=5)
    dets = _t([0, 0, 10, 9, 0.9, 0], [0, 0, 10, 10, 0.5, 0], [0, 0, 10, 4.5, 0.9, 0], width=6)
    cm.process_batch(dets, labels)
    # the IoU-1.0 detection wins; the 0.9 duplicate and the IoU-0.45 box (not > 0.45) are background
    np.testing.assert_array_equal(cm.matrix, [[1, 2], [0, 0]])


def test_no_detections_and_background_images():
    cm = ConfusionMatrix(nc=2)
    cm.process_batch(None, _t([1, 0, 0, 5, 5], [1, 5, 5, 9, 9], width=5))
    cm.process_batch(_t([0, 0, 5, 5, 0.9, 0], width=6), _t(width=5))
    np.testing.assert_array_equal(cm.matrix, [[0, 0, 1], [0, 0, 0], [0, 2, 0]])


def test_plot_writes_a_picture(tmp_path):
    cm = ConfusionMatrix(nc=2)
    cm.process_batch(_t([0, 0, 10, 10, 0.9, 0], width=6), _t([0, 0, 0, 10, 10], [1, 20, 20, 30, 30], width=5))
    cm.plot(tmp_path / "confusion_matrix.png", ["cat", "dog"])
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 10_000
