from __future__ import annotations

import cv2
import numpy as np
import torch

import pytest

from yolo_exp.report.images import draw_boxes, plot_batch, plot_labels


def test_plot_labels_writes_a_picture(tmp_path):
    rng = np.random.default_rng(0)
    labels = [np.c_[rng.integers(0, 3, (5, 1)), rng.uniform(0.1, 0.9, (5, 4))].astype(np.float32) for _ in range(20)]
    labels.append(np.zeros((0, 5), np.float32))
    out = plot_labels(labels, ["a", "b", "c"], tmp_path / "sub" / "labels.jpg")
    im = cv2.imread(str(out))
    assert im is not None and min(im.shape[:2]) > 500


def test_plot_batch_draws_boxes_where_targets_are(tmp_path):
    imgs = torch.zeros((3, 3, 64, 96), dtype=torch.uint8)
    targets = torch.tensor([[0, 1, 0.5, 0.5, 0.5, 0.5], [2, 0, 0.25, 0.25, 0.25, 0.25]])
    out = plot_batch(imgs, targets, ["a.jpg", "b.jpg", "c.jpg"], ["x", "y"], tmp_path / "b.jpg")
    im = cv2.imread(str(out))
    assert im.shape == (128, 192, 3)  # 2x2 grid of 64x96 tiles
    tile0, tile3 = im[:64, :96], im[64:, 96:]
    assert tile0[16, 30:60].max() > 100  # top edge of the box in image 0 (y=16, x 24..72)
    assert tile0[40, 40:56].max() < 30  # inside the box stays black
    assert tile3.min() > 200  # unused slot is blank
    assert im[64 + 8, 12:24].max() > 100  # image 2 (bottom-left) box top edge at y=8


def test_plot_batch_predictions_pixel_xyxy_with_conf(tmp_path):
    imgs = np.zeros((1, 3, 64, 64), np.uint8)
    preds = np.array([[0, 0, 10, 10, 50, 50, 0.9], [0, 1, 5, 5, 20, 20, 0.1]])
    out = plot_batch(imgs, preds, None, ["x", "y"], tmp_path / "p.jpg", xyxy=True)
    im = cv2.imread(str(out))
    assert im[30, 8:13].max() > 100  # left edge of the confident box at x=10
    assert im[12, 3:8].max() < 60  # the 0.1-confidence box is not drawn


@pytest.mark.parametrize("box", [[150, 0, 199, 40], [0, 0, 199, 199], [185, 120, 199, 199]])  # top-right, whole
def test_box_labels_at_the_edges_stay_on_the_image(box):                                  # image, right edge
    label, lw = "person 0.99", 2
    drawn = draw_boxes(np.zeros((200, 200, 3), np.uint8), np.array([box]), np.array([0]), np.array([0.99]),
                       ["person"], lw)
    frame = cv2.rectangle(np.zeros((200, 200, 3), np.uint8), tuple(box[:2]), tuple(box[2:]), (1, 1, 1), lw)
    text = ((drawn > 0).any(-1) & (frame == 0).all(-1)).sum()
    whole = cv2.putText(np.zeros((100, 300, 3), np.uint8), label, (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.3 * lw + 0.05,
                        (255, 255, 255), 1, cv2.LINE_AA)
    assert text >= 0.85 * (whole > 0).any(-1).sum()
