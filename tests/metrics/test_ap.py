"""ap_per_class and its pieces on cases with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from yolo_exp.metrics.ap import ap_per_class, compute_ap, smooth

PERFECT = 0.995  # YOLOv5's ceiling: the (recall 1, precision 0) sentinel costs the last trapezoid half a step


def _tp(*flags, t=10):
    return np.repeat(np.array(flags, dtype=bool)[:, None], t, 1)


def test_perfect_detections_score_one():
    res = ap_per_class(_tp(1, 1, 1), np.array([0.9, 0.8, 0.7]), np.array([0, 0, 1]), np.array([0, 0, 1]))
    np.testing.assert_allclose(res.ap, PERFECT)
    assert res.map == pytest.approx(PERFECT) and res.map50 == pytest.approx(PERFECT)
    assert res.mp == pytest.approx(1.0) and res.mr == pytest.approx(1.0)
    assert res.tp.tolist() == [2, 1] and res.fp.tolist() == [0, 0]


def test_half_the_labels_found_is_recall_half():
    res = ap_per_class(_tp(1, 1), np.array([0.9, 0.8]), np.array([0, 0]), np.array([0, 0, 0, 0]))
    assert res.r[0] == pytest.approx(0.5) and res.p[0] == pytest.approx(1.0)
    # YOLOv5's sentinel (recall 1, precision 0) ramps the envelope linearly past the last recall: 0.5 + 0.25
    assert res.ap[0, 0] == pytest.approx(0.75)


def test_false_positives_lower_precision_and_ap():
    # TP, FP, TP: precision envelope 1 up to recall 0.5 then 2/3 up to recall 1
    res = ap_per_class(_tp(1, 0, 1), np.array([0.9, 0.8, 0.7]), np.zeros(3), np.zeros(2))
    assert res.ap[0, 0] == pytest.approx(compute_ap(np.array([0.5, 0.5, 1.0]), np.array([1, 0.5, 2 / 3]))[0])
    assert 0.8 < res.ap[0, 0] < 1.0
    assert res.p[0] == pytest.approx(2 / 3, abs=0.01) and res.r[0] == pytest.approx(1.0)


def test_detections_of_unlabelled_classes_are_ignored_but_background_fps_count():
    base = ap_per_class(_tp(1), np.array([0.9]), np.array([0]), np.array([0]))
    other_class = ap_per_class(_tp(1, 0), np.array([0.9, 0.95]), np.array([0, 5]), np.array([0]))
    assert other_class.classes.tolist() == [0] and other_class.ap[0, 0] == pytest.approx(base.ap[0, 0])
    # a higher-scored detection on a background image of a labelled class is a false positive
    background_fp = ap_per_class(_tp(1, 0), np.array([0.9, 0.95]), np.array([0, 0]), np.array([0]))
    assert background_fp.ap[0, 0] < base.ap[0, 0]


def test_iou_columns_are_independent():
    tp = np.zeros((2, 10), dtype=bool)
    tp[:, :5] = True
    res = ap_per_class(tp, np.array([0.9, 0.8]), np.zeros(2), np.zeros(2))
    np.testing.assert_allclose(res.ap[0, :5], PERFECT)
    np.testing.assert_allclose(res.ap[0, 5:], 0.0)
    assert res.map == pytest.approx(PERFECT / 2) and res.map50 == pytest.approx(PERFECT)


def test_empty_prediction_set_scores_zero():
    res = ap_per_class(np.zeros((0, 10), bool), np.zeros(0), np.zeros(0), np.array([0, 1, 1]))
    assert res.classes.tolist() == [0, 1] and res.nt.tolist() == [1, 2]
    assert res.map == 0 and res.mp == 0 and res.mr == 0
    np.testing.assert_allclose(res.maps(3), [0, 0, 0])


def test_no_targets_gives_empty_result():
    res = ap_per_class(_tp(1), np.array([0.5]), np.array([0]), np.zeros(0))
    assert len(res.classes) == 0 and res.map == 0.0 and res.mp == 0.0


def test_maps_fill_unlabelled_classes_with_overall_map():
    tp = np.array([[True] * 10, [True] * 5 + [False] * 5])
    res = ap_per_class(tp, np.array([0.9, 0.8]), np.array([0, 2]), np.array([0, 2]))
    np.testing.assert_allclose(res.maps(4), np.array([1.0, 0.75, 0.5, 0.75]) * PERFECT)


def test_operating_point_is_argmax_of_smoothed_mean_f1():
    rng = np.random.default_rng(0)
    n = 400
    conf = rng.random(n)
    tp = _tp(*(rng.random(n) < conf))  # higher confidence, more often right
    res = ap_per_class(tp, conf, rng.integers(0, 3, n), rng.integers(0, 3, 150))
    best = smooth(res.f1_curve.mean(0), 0.1).argmax()
    assert res.conf == pytest.approx(res.px[best])
    np.testing.assert_allclose(res.p, res.p_curve[:, best])
    np.testing.assert_allclose(res.f1, 2 * res.p * res.r / (res.p + res.r + 1e-16))
    assert res.pr_curve.shape == (3, 1000) and (np.diff(res.pr_curve, axis=1) <= 1e-12).all()


def test_smooth_is_a_centred_box_filter():
    y = np.zeros(100)
    y[50] = 1.0
    out = smooth(y, 0.1)  # window 11
    assert out.shape == y.shape and out.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(out[45:56], 1 / 11)
    assert out[44] == 0 and out[56] == 0
    np.testing.assert_allclose(smooth(np.full(30, 3.0), 0.1), 3.0)


def test_compute_ap_trapezoid_on_101_points():
    ap, mrec, mpre = compute_ap(np.array([0.2, 0.6]), np.array([1.0, 0.5]))
    assert mrec.tolist() == [0, 0.2, 0.6, 1] and mpre.tolist() == [1, 1, 0.5, 0]
    x = np.linspace(0, 1, 101)
    y = np.interp(x, mrec, mpre)
    assert ap == pytest.approx(((y[1:] + y[:-1]) / 2 * 0.01).sum())
    assert ap != pytest.approx(y.mean())
