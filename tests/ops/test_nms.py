"""non_max_suppression on hand-built predictions with known survivors."""
from __future__ import annotations

import pytest
import torch

from yolo_exp.ops.nms import non_max_suppression


def _row(cx, cy, w, h, obj, *cls):
    return [cx, cy, w, h, obj, *cls]


def _pred(*rows) -> torch.Tensor:
    return torch.tensor([list(rows)], dtype=torch.float32)


def test_overlapping_same_class_boxes_keep_the_best():
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.9, 0.1), _row(51, 50, 20, 20, 0.8, 0.9, 0.1),
                 _row(200, 200, 20, 20, 0.7, 0.9, 0.1))
    (out,) = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.5)
    assert out.shape == (2, 6)
    torch.testing.assert_close(out[0], torch.tensor([40.0, 40, 60, 60, 0.81, 0]))
    torch.testing.assert_close(out[1, :4], torch.tensor([190.0, 190, 210, 210]))
    assert out[1, 4] == pytest.approx(0.63)


def test_multi_label_gives_one_box_per_class_above_threshold():
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.6, 0.5, 0.001))
    (multi,) = non_max_suppression(pred, conf_thres=0.1, multi_label=True)
    assert multi[:, 5].tolist() == [0, 1]
    torch.testing.assert_close(multi[:, 4], torch.tensor([0.54, 0.45]))
    (single,) = non_max_suppression(pred, conf_thres=0.1, multi_label=False)
    assert single[:, 5].tolist() == [0]


def test_class_aware_versus_agnostic():
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.9, 0.1), _row(50, 50, 20, 20, 0.8, 0.1, 0.9))
    (aware,) = non_max_suppression(pred, conf_thres=0.25, multi_label=False)
    (agnostic,) = non_max_suppression(pred, conf_thres=0.25, multi_label=False, agnostic=True)
    assert sorted(aware[:, 5].tolist()) == [0, 1]
    assert agnostic[:, 5].tolist() == [0]


def test_max_det_keeps_the_highest_scores():
    rows = [_row(30 * i + 10, 10, 10, 10, 0.1 + 0.01 * i, 1.0) for i in range(50)]
    (out,) = non_max_suppression(_pred(*rows), conf_thres=0.05, max_det=5)
    assert out.shape == (5, 6)
    torch.testing.assert_close(out[:, 4], torch.tensor([0.59, 0.58, 0.57, 0.56, 0.55]))


def test_max_nms_caps_candidates_before_suppression():
    rows = [_row(30 * i + 10, 10, 10, 10, 0.1 + 0.01 * i, 1.0) for i in range(50)]
    (out,) = non_max_suppression(_pred(*rows), conf_thres=0.05, max_nms=7)
    assert len(out) == 7 and out[:, 4].min() == pytest.approx(0.53)


def test_class_filter():
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.9, 0.1, 0.1), _row(150, 50, 20, 20, 0.9, 0.1, 0.9, 0.1),
                 _row(250, 50, 20, 20, 0.9, 0.1, 0.1, 0.9))
    (out,) = non_max_suppression(pred, conf_thres=0.5, classes=[0, 2])
    assert sorted(out[:, 5].tolist()) == [0, 2]


def test_single_class_model_is_never_multi_label():
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.8))
    (out,) = non_max_suppression(pred, conf_thres=0.1)
    assert out.shape == (1, 6) and out[0, 4] == pytest.approx(0.72)


def test_empty_and_below_threshold_inputs_give_empty_outputs():
    empty = non_max_suppression(torch.zeros(2, 0, 8))
    assert [o.shape for o in empty] == [(0, 6), (0, 6)]
    low = _pred(_row(50, 50, 20, 20, 0.9, 0.001, 0.0005))
    (out,) = non_max_suppression(low, conf_thres=0.01)
    assert out.shape == (0, 6)


def test_batch_images_are_independent_and_bad_thresholds_rejected():
    a = _row(50, 50, 20, 20, 0.9, 0.9)
    b = _row(50, 50, 20, 20, 0.01, 0.9)
    pred = torch.tensor([[a, b], [b, b]])
    out = non_max_suppression(pred, conf_thres=0.25)
    assert [len(o) for o in out] == [1, 0]
    with pytest.raises(ValueError):
        non_max_suppression(pred, conf_thres=1.5)


def test_mask_coefficients_travel_with_their_rows():
    """A segmentation head's rows end in nm coefficients: they are not class scores, and each survivor keeps its
    own (multi-label copies included)."""
    pred = _pred(_row(50, 50, 20, 20, 0.9, 0.6, 0.5, 7.0, -3.0), _row(51, 50, 20, 20, 0.8, 0.9, 0.1, 1.0, 2.0),
                 _row(200, 200, 20, 20, 0.7, 0.1, 0.9, -5.0, 0.5))
    (out,) = non_max_suppression(pred, conf_thres=0.1, iou_thres=0.5, nm=2)
    assert out.shape[1] == 8 and set(out[:, 5].tolist()) <= {0, 1}  # 7.0 and 2.0 are never read as classes
    for row in out.tolist():
        source = [r for r in pred[0].tolist() if abs(r[0] - (row[0] + row[2]) / 2) < 1e-4 and r[1] == 50 or
                  r[0] == 200 and row[0] == 190]
        assert row[6:] == source[0][7:]
    assert len(non_max_suppression(pred, conf_thres=0.1, multi_label=False, nm=2)[0][0]) == 8
