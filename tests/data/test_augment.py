from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from yolo_exp.data import augment as A
from yolo_exp.data import warp as W
from yolo_exp.ops.boxes import xywhn2xyxy, xyxy2xywh, xyxy2xywhn


def _scene(h=80, w=120):
    """Black image with two filled rectangles whose labels are exact; labels pixel [cls, x1, y1, x2, y2]."""
    im = np.zeros((h, w, 3), np.uint8)
    labels = np.array([[0, 10, 20, 40, 50], [1, 70, 5, 110, 30]], np.float32)
    for k, (_, x1, y1, x2, y2) in enumerate(labels.astype(int)):
        im[y1:y2, x1:x2] = (50 + 100 * k, 255, 255)
    return im, labels


def test_letterbox_numbers_and_padding():
    im = np.full((100, 200, 3), 7, np.uint8)
    out, ratio, pad = A.letterbox(im, 64)
    assert out.shape == (64, 64, 3) and ratio == (0.32, 0.32) and pad == (0.0, 16.0)
    assert (out[:16] == 114).all() and (out[48:] == 114).all() and (out[16:48] == 7).all()
    out, ratio, pad = A.letterbox(np.zeros((10, 20, 3), np.uint8), (32, 64), scaleup=False)
    assert out.shape == (32, 64, 3) and ratio == (1.0, 1.0) and pad == (22.0, 11.0)


def test_zero_gain_perspective_is_identity():
    im, labels = _scene()
    out, lab, _ = W.random_perspective(im, labels, translate=0, scale=0, rng=random.Random(0))
    assert out is im
    np.testing.assert_array_equal(lab, labels)


def test_perspective_keeps_boxes_inside_and_filters_slivers():
    rng = random.Random(1)
    for _ in range(30):
        im, labels = _scene()
        out, lab, _ = W.random_perspective(im, labels, degrees=30, translate=0.3, scale=0.5, shear=10,
                                           perspective=0.0005, rng=rng)
        assert out.shape == im.shape
        if len(lab):
            assert (lab[:, [1, 3]] >= 0).all() and (lab[:, [2, 4]] >= 0).all()
            assert (lab[:, 3] <= 120).all() and (lab[:, 4] <= 80).all()
            assert ((lab[:, 3] - lab[:, 1]) > 2).all() and ((lab[:, 4] - lab[:, 2]) > 2).all()


def test_box_candidates_thresholds():
    old = np.array([[0, 0, 10, 10]] * 4, float).T
    new = np.array([[0, 0, 10, 10], [0, 0, 2, 10], [0, 0, 3, 3], [0, 0, 9, 9]], float).T
    np.testing.assert_array_equal(W.box_candidates(old, new), [True, False, False, True])
    np.testing.assert_array_equal(W.box_candidates(old * 10, new, area_thr=0.1), [False] * 4)


@pytest.mark.parametrize("flip", [A.fliplr, A.flipud])
def test_flips_move_boxes_exactly(flip):
    im, labels = _scene()
    xywhn = np.concatenate([labels[:, :1], xyxy2xywhn(labels[:, 1:5], w=120, h=80)], 1)
    out, lab = flip(im, xywhn)
    px = xywhn2xyxy(lab[:, 1:5], 120, 80).round().astype(int)
    for k, (x1, y1, x2, y2) in enumerate(px):
        assert (out[y1:y2, x1:x2] == (50 + 100 * k, 255, 255)).all()
    assert (out == (50, 255, 255)).all(2).sum() == (im == (50, 255, 255)).all(2).sum()


def _tile(k, s):
    im = np.full((s, s, 3), 40 * k, np.uint8)
    im[s // 4: s // 2, s // 4: 3 * s // 4] = 200  # label box (0.25..0.75, 0.25..0.5)
    return im, np.array([[k, 0.5, 0.375, 0.5, 0.25]], np.float32), []


def test_mosaic_places_tiles_and_boxes():
    s = 64
    img, lab, _ = A.mosaic4([_tile(k, s) for k in range(4)], s, (s, s))
    assert img.shape == (128, 128, 3)
    expect = np.array([[0, 16, 16, 48, 32], [1, 80, 16, 112, 32], [2, 16, 80, 48, 96], [3, 80, 80, 112, 96]])
    np.testing.assert_allclose(lab, expect)
    for _, x1, y1, x2, y2 in expect:
        assert (img[y1:y2, x1:x2] == 200).all()
    img, lab, _ = A.mosaic4([_tile(k, s) for k in range(4)], s, (40, 90))  # tiles cropped by the canvas edge
    np.testing.assert_allclose(lab[0], [0, 0, 42, 24, 58])  # top-left tile shifted by (-24, +26)
    assert (lab[:, 1:] >= 0).all() and (lab[:, 1:] <= 128).all()


def test_copy_paste_mirrors_instances_and_respects_ioa():
    im, labels = _scene()
    labels[1, [2, 4]] = [55, 75]  # move the second box below the first one's mirror image
    im[5:30, 70:110], im[55:75, 70:110] = 0, (150, 255, 255)
    segs = A.box_polygons(xyxy2xywh(labels[:, 1:5]))
    out, lab, new_segs = A.copy_paste(im, labels, segs, 1.0, random.Random(0))
    assert len(lab) == 4 and len(new_segs) == 4
    np.testing.assert_allclose(lab[2:, 1:][np.argsort(lab[2:, 0])], [[80, 20, 110, 50], [10, 55, 50, 75]])
    assert (out[20:50, 80:110] == (50, 255, 255)).all() and (out[55:75, 10:50] == (150, 255, 255)).all()
    for seg, box in zip(new_segs[2:], lab[2:, 1:]):
        np.testing.assert_allclose(np.r_[seg.min(0), seg.max(0)], box)
    # a copy that would cover an existing box is not pasted
    sym = np.array([[0, 40, 10, 80, 30]], np.float32)
    _, lab, _ = A.copy_paste(im, sym, A.box_polygons(xyxy2xywh(sym[:, 1:5])), 1.0, random.Random(0))
    assert len(lab) == 1


def test_mixup_blends_and_concatenates():
    a, b = np.full((8, 8, 3), 0, np.uint8), np.full((8, 8, 3), 200, np.uint8)
    out, lab = A.mixup(a, np.ones((2, 5), np.float32), b, np.zeros((3, 5), np.float32), random.Random(0))
    assert len(lab) == 5 and 60 < out.mean() < 140


def test_hsv_zero_is_identity_and_gain_changes_colours():
    im = cv2.cvtColor(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8), cv2.COLOR_RGB2BGR)
    assert A.augment_hsv(im, 0, 0, 0, random.Random(0)) is im
    out = A.augment_hsv(im, 0.5, 0.7, 0.4, random.Random(0))
    assert out.shape == im.shape and out.dtype == np.uint8 and not np.array_equal(out, im)


def test_rect_batches_yolov5_numbers():
    wh = np.array([[640, 480], [480, 640], [640, 640], [640, 427]])
    order, bi, shapes = A.rect_batches(wh, 2, 640, 32, 0.5)
    np.testing.assert_array_equal(order, [3, 0, 2, 1])  # aspect h/w ascending
    np.testing.assert_array_equal(bi, [0, 0, 1, 1])
    np.testing.assert_array_equal(shapes, [[512, 672], [672, 672]])
    _, _, shapes = A.rect_batches(wh, 1, 640, 32, 0.0)
    assert (shapes % 32 == 0).all() and shapes[0].tolist() == [448, 640]
