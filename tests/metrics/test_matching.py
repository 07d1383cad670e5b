"""match_predictions: YOLOv5's per-threshold one-to-one matching on hand-built boxes."""
from __future__ import annotations

import torch

from yolo_exp.metrics.matching import IOU_THRESHOLDS, assign_one_to_one, match_predictions


def _det(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)


def _lab(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)


def test_perfect_detections_are_correct_at_every_threshold():
    labels = _lab([0, 0, 0, 10, 10], [1, 20, 20, 40, 50])
    dets = _det([20, 20, 40, 50, 0.9, 1], [0, 0, 10, 10, 0.8, 0])
    assert match_predictions(dets, labels).all()


def test_iou_decides_how_many_thresholds_pass():
    labels = _lab([0, 0, 0, 10, 10])
    dets = _det([0, 0, 10, 7.2, 0.9, 0])  # IoU 0.72: passes 0.50 ... 0.70
    correct = match_predictions(dets, labels)
    assert correct[0].tolist() == [True] * 5 + [False] * 5
    assert IOU_THRESHOLDS[4].item() <= 0.72 < IOU_THRESHOLDS[5].item()


def test_duplicate_is_false_positive_and_class_mismatch_never_matches():
    labels = _lab([0, 0, 0, 10, 10])
    dets = _det([0, 0, 10, 10, 0.9, 0], [0, 0, 10, 10, 0.8, 0], [0, 0, 10, 10, 0.7, 3])
    correct = match_predictions(dets, labels)
    assert correct[:, 0].tolist() == [True, False, False]


def test_contested_label_goes_to_the_earlier_detection_even_with_lower_iou():
    labels = _lab([0, 0, 0, 10, 10])
    dets = _det([0, 0, 10, 8, 0.9, 0], [0, 0, 10, 10, 0.5, 0])  # IoUs 0.8 and 1.0
    correct = match_predictions(dets, labels)
    assert correct[0, 0] and not correct[1, 0]
    # at 0.85+ only the second detection qualifies, so it wins there
    assert correct[1, 7:].all() and not correct[0, 7:].any()


def test_each_detection_claims_its_best_label():
    labels = _lab([0, 0, 0, 10, 10], [0, 0, 0, 10, 9])
    dets = _det([0, 0, 10, 9, 0.9, 0], [0, 0, 10, 10, 0.8, 0])
    correct = match_predictions(dets, labels)
    assert correct[:, -1].tolist() == [True, True]


def test_empty_inputs():
    assert match_predictions(_det(), _lab([0, 0, 0, 1, 1])).shape == (0, 10)
    assert not match_predictions(_det([0, 0, 1, 1, 0.5, 0]), _lab()).any()


def test_assign_prefers_iou_when_asked():
    iou = torch.tensor([[[0.6, 0.9]]])  # one label, two detections
    won, label = assign_one_to_one(iou, prefer_iou=True)
    assert won.tolist() == [[False, True]] and label.tolist() == [[0, 0]]
    won, _ = assign_one_to_one(iou, prefer_iou=False)
    assert won.tolist() == [[True, False]]


def test_mask_iou_drives_the_same_matching():
    """Box-shaped masks give the boxes' matches; masks that differ from their boxes change them."""
    from yolo_exp.ops.masks import mask_iou

    def box_masks(boxes):  # (k, 4) integer xyxy on a 64 x 64 canvas
        m = torch.zeros(len(boxes), 64, 64, dtype=torch.bool)
        for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            m[i, y1:y2, x1:x2] = True
        return m

    labels = torch.tensor([[0, 0, 0, 20, 20], [1, 30, 30, 60, 50]], dtype=torch.float32)
    dets = torch.tensor([[1, 1, 20, 20, 0.9, 0], [30, 32, 60, 50, 0.8, 1], [0, 0, 10, 10, 0.7, 0]])
    gt, pred = box_masks(labels[:, 1:]), box_masks(dets[:, :4])
    by_mask = match_predictions(dets, labels, iou=mask_iou(gt, pred))
    assert torch.equal(by_mask, match_predictions(dets, labels))
    pred[0, :, :] = False  # the first detection's mask misses its object entirely
    pred[0, 40:44, 0:4] = True
    assert by_mask[0, :8].all() and not match_predictions(dets, labels, iou=mask_iou(gt, pred))[0].any()
