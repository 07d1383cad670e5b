"""YOLOv5-seg's loss against a plain float64 loop over matches, and its two mask layouts against each other."""
from __future__ import annotations

import math
from dataclasses import asdict

import torch

from yolo_exp.config.schema import HypConfig
from yolo_exp.loss.detect import DetectionLoss, assign_targets, scale_hyp_gains
from yolo_exp.loss.segment import SegmentationLoss
from yolo_exp.models.yolo import build_model

NC = 3


def _batch():
    """Two 128 px images, 3 + 2 non-overlapping boxes, their masks at 1/4 as an index mask and per instance."""
    boxes = {0: [(10, 10, 60, 50), (70, 20, 120, 90), (20, 70, 50, 120)], 1: [(5, 5, 100, 60), (30, 70, 90, 125)]}
    rows, index = [], torch.zeros(2, 32, 32, dtype=torch.long)
    for b, bs in boxes.items():
        for k, (x1, y1, x2, y2) in enumerate(bs):
            rows.append([b, k % NC, (x1 + x2) / 256, (y1 + y2) / 256, (x2 - x1) / 128, (y2 - y1) / 128])
            index[b, y1 // 4:y2 // 4, x1 // 4:x2 // 4] = k + 1
    targets = torch.tensor(rows)
    local = [k for bs in boxes.values() for k in range(len(bs))]
    per_instance = torch.stack([(index[int(t[0])] == k + 1).to(torch.uint8) for t, k in zip(targets, local)])
    return targets, index, per_instance, local


def _reference_seg(raw, protos, targets, per_instance, anchors, anchor_t, box_gain):
    """The mask term written out: per level, per image, the mean over its matches of
    mean(BCE inside the box) / normalised box area; summed, times box gain / batch size."""
    raw, protos = [r.detach().double() for r in raw], protos.detach().double()
    targets, anchors = targets.double(), anchors.double()
    nm, h, w = protos.shape[1:]
    total = 0.0
    for i, pred in enumerate(raw):
        t = assign_targets(targets, anchors[i], pred.shape[2], pred.shape[3], anchor_t)
        for b in sorted(set(t.image.tolist())):
            terms = []
            for k in range(len(t.image)):
                if int(t.image[k]) != b:
                    continue
                coeff = pred[b, t.anchor[k], t.gj[k], t.gi[k], 5 + NC:]
                x = torch.einsum("c,chw->hw", coeff, protos[b])
                y = per_instance[t.row[k]].double()
                bce = x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))
                cx, cy, bw, bh = targets[t.row[k], 2:6].tolist()
                x1, x2, y1, y2 = (cx - bw / 2) * w, (cx + bw / 2) * w, (cy - bh / 2) * h, (cy + bh / 2) * h
                cols, rws = torch.arange(w).double()[None], torch.arange(h).double()[:, None]
                inside = (cols >= x1) & (cols < x2) & (rws >= y1) & (rws < y2)
                terms.append(float((bce * inside).mean()) / (bw * bh))
            total += sum(terms) / len(terms)
    return total * box_gain / raw[0].shape[0]


def _outputs(seed: int):
    """A yolov5n-seg's training outputs on two random images, and the loss gains for 128 px."""
    torch.manual_seed(seed)
    model = build_model("yolov5n-seg", nc=NC).train()
    return model, model(torch.rand(2, 3, 128, 128)), scale_hyp_gains(asdict(HypConfig()), nc=NC, nl=3, imgsz=128)


def test_segmentation_loss_matches_the_reference_and_both_mask_layouts_agree():
    model, (raw, protos), hyp = _outputs(0)
    targets, index, per_instance, _ = _batch()
    anchors = model.detect.anchors
    overlap = SegmentationLoss(anchors, NC, hyp, overlap=True)
    loss_o, items_o = overlap((raw, protos), targets, index)
    loss_p, items_p = SegmentationLoss(anchors, NC, hyp, overlap=False)((raw, protos), targets, per_instance)
    assert torch.allclose(items_o, items_p, rtol=1e-6) and torch.allclose(loss_o, loss_p, rtol=1e-6)
    ref = _reference_seg(raw, protos, targets, per_instance, anchors, hyp["anchor_t"], hyp["box"])
    assert math.isclose(float(items_o[1]), ref, rel_tol=1e-5) and ref > 0
    _, det_items = DetectionLoss(anchors, NC, hyp)(raw, targets)  # the detection terms are detection's own
    assert torch.allclose(items_o[[0, 2, 3]], det_items, rtol=1e-6)
    assert torch.isclose(loss_o, items_o.sum() * 2)
    loss_o.backward()  # the mask term trains the coefficients and the prototypes
    assert model.detect.proto.cv3.conv.weight.grad.abs().sum() > 0


def test_masks_at_another_size_are_resampled_to_the_prototypes():
    model, (raw, protos), hyp = _outputs(1)
    targets, index, _, _ = _batch()
    loss = SegmentationLoss(model.detect.anchors, NC, hyp)
    big = index.repeat_interleave(2, 1).repeat_interleave(2, 2)  # mask_ratio 2 instead of 4
    assert torch.allclose(loss((raw, protos), targets, big)[1], loss((raw, protos), targets, index)[1])
