"""validate(): coordinates, metrics and outputs on scripted predictions with known answers, then on real data."""
from __future__ import annotations

import importlib.util
import json
import logging

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import shared_path
from yolo_exp.engine.val_report import ValResult
from yolo_exp.engine.val_scoring import to_original
from yolo_exp.engine.validate import ValSettings, inference_copy, validate
from yolo_exp.metrics.coco import coco_eval
from yolo_exp.ops.boxes import xywhn2xyxy, xyxy2xywh, xyxy2xywhn

PERFECT = 0.995  # YOLOv5's AP ceiling (see tests/metrics/test_ap.py)
NAMES = ["cat", "dog", "bird"]
BATCH_HW = (320, 320)
# two originals letterboxed into 320x320: 640x480 (ratio 0.5, pad 40 top/bottom) and 300x400 (ratio 0.8, pad 40 l/r)
ORIGINALS = [((480, 640), ((0.5, 0.5), (0.0, 40.0))), ((400, 300), ((0.8, 0.8), (40.0, 0.0)))]
# labels per image in original pixels: cls, x1, y1, x2, y2
LABELS = [
    torch.tensor([[0, 100.0, 50, 300, 250], [1, 400, 300, 600, 460]]),
    torch.tensor([[2, 20.0, 30, 120, 200], [0, 150, 220, 280, 390]]),
]


class ScriptedModel(nn.Module):
    """Returns prepared (decoded, raw) outputs batch after batch, like a model in eval mode."""

    def __init__(self, outputs: list[torch.Tensor]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.outputs = list(outputs)

    def forward(self, im: torch.Tensor):
        assert not self.training and im.dtype == torch.float32 and im.max() <= 1
        out = self.outputs.pop(0)
        return out, [out.unsqueeze(1)]


def _to_batch_xyxy(boxes: torch.Tensor, shape) -> torch.Tensor:
    """Original pixels -> letterboxed pixels (what the loader does to labels)."""
    (ratio_h, ratio_w), (padw, padh) = shape[1]
    return boxes * torch.tensor([ratio_w, ratio_h, ratio_w, ratio_h]) + torch.tensor([padw, padh, padw, padh])


def _batch(labels=LABELS, originals=ORIGINALS):
    h, w = BATCH_HW
    targets = []
    for i, (lab, shape) in enumerate(zip(labels, originals)):
        xywhn = xyxy2xywhn(_to_batch_xyxy(lab[:, 1:], shape), w=w, h=h)
        targets.append(torch.cat((torch.full((len(lab), 1), float(i)), lab[:, :1], xywhn), 1))
    imgs = torch.full((len(labels), 3, h, w), 114, dtype=torch.uint8)
    paths = [f"/data/images/{i + 1:012d}.jpg" for i in range(len(labels))]
    return imgs, torch.cat(targets), paths, originals


def _predictions(rows_per_image: list[list[tuple[int, int, float]]], labels=LABELS, originals=ORIGINALS,
                 nc=len(NAMES)) -> torch.Tensor:
    """(bs, N, 5+nc) decoded output; each row (label index, predicted class, score) copies that label's box."""
    n = max(len(r) for r in rows_per_image)
    out = torch.zeros(len(rows_per_image), n, 5 + nc)
    for i, rows in enumerate(rows_per_image):
        for j, (li, cls, score) in enumerate(rows):
            box = _to_batch_xyxy(labels[i][li, 1:], originals[i])
            out[i, j, :4] = xyxy2xywh(box)
            out[i, j, 4] = 1.0
            out[i, j, 5 + cls] = score
    return out


def _perfect():
    return _predictions([[(0, 0, 0.9), (1, 1, 0.8)], [(0, 2, 0.7), (1, 0, 0.6)]])


def test_letterbox_and_back_is_identity():
    boxes = LABELS[0][:, 1:].clone()
    back = to_original(_to_batch_xyxy(boxes, ORIGINALS[0]), BATCH_HW, ORIGINALS[0])
    torch.testing.assert_close(back, boxes)
    normalised = xywhn2xyxy(xyxy2xywhn(boxes, w=640, h=480), w=640, h=480)
    torch.testing.assert_close(normalised, boxes)


def test_perfect_predictions_through_letterbox(tmp_path):
    model = ScriptedModel([_perfect()]).train()
    res = validate(model, [_batch()], NAMES, "cpu", ValSettings(save_txt=True), save_dir=tmp_path)
    assert isinstance(res, ValResult) and model.training  # mode restored
    assert res.precision == pytest.approx(1.0) and res.recall == pytest.approx(1.0)
    assert res.map50 == pytest.approx(PERFECT) and res.map == pytest.approx(PERFECT)
    assert res.seen == 2 and res.nt.tolist() == [2, 1, 1] and res.losses is None
    assert [(c.name, c.images, c.instances) for c in res.classes] == [("cat", 2, 2), ("dog", 1, 1), ("bird", 1, 1)]
    # save_txt: normalised to the original image, so it reproduces the original label
    rows = np.loadtxt(tmp_path / "labels" / "000000000001.txt")
    expected = xyxy2xywhn(LABELS[0][:, 1:], w=640, h=480).numpy()
    np.testing.assert_allclose(rows[:, 1:5], expected, atol=1e-5)
    assert rows[:, 0].tolist() == [0, 1] and rows[:, 5].tolist() == pytest.approx([0.9, 0.8])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["map50"] == pytest.approx(PERFECT) and metrics["classes"][2]["name"] == "bird"


def test_half_found_duplicates_and_wrong_classes():
    # image 0: its cat found twice (the duplicate is a FP), its dog missed; image 1: bird found, cat called a dog
    preds = _predictions([[(0, 0, 0.9), (0, 0, 0.85)], [(0, 2, 0.7), (1, 1, 0.6)]])
    res = validate(ScriptedModel([preds]), [_batch()], NAMES, "cpu", ValSettings(iou_thres=1.0))  # NMS keeps the duplicate
    by_name = {c.name: c for c in res.classes}
    assert by_name["cat"].recall == pytest.approx(0.5) and by_name["cat"].precision == pytest.approx(0.5)
    assert res.recall == pytest.approx(0.5) and res.precision == pytest.approx(0.5)  # mean of cat, dog 0, bird 1
    assert by_name["bird"].map50 == pytest.approx(PERFECT)
    assert by_name["dog"].map50 == 0.0  # its only detection is a bird: class mismatch never matches
    assert 0 < by_name["cat"].map50 < PERFECT  # one of two found, plus a duplicate


def test_detections_on_background_images_are_false_positives():
    labels = [LABELS[0], torch.zeros((0, 5))]
    base = _predictions([[(0, 0, 0.9), (1, 1, 0.8)], [(0, 0, 0.0)]], labels=[LABELS[0], LABELS[0]])
    noisy = base.clone()
    noisy[1, 0, 5] = 0.95  # a confident cat on the empty image
    clean = validate(ScriptedModel([base]), [_batch(labels)], NAMES, "cpu")
    with_fp = validate(ScriptedModel([noisy]), [_batch(labels)], NAMES, "cpu")
    assert clean.map50 == pytest.approx(PERFECT) and clean.seen == 2
    assert with_fp.map50 < clean.map50 and with_fp.classes[0].map50 < PERFECT


def test_empty_predictions_and_loss_means(caplog):
    preds = torch.zeros(2, 5, 5 + len(NAMES))
    items = iter([torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 4.0, 5.0])])
    with caplog.at_level(logging.INFO):
        res = validate(ScriptedModel([preds, preds.clone()]), [_batch(), _batch()], NAMES, "cpu",
                       ValSettings(verbose=True), loss_fn=lambda raw, targets: (torch.zeros(()), next(items)))
    assert res.map == 0 and res.precision == 0 and res.recall == 0 and res.seen == 4
    assert res.losses == pytest.approx((2.0, 3.0, 4.0))
    np.testing.assert_allclose(res.maps, 0.0)
    text = caplog.text
    assert "Class     Images  Instances" in text and "Speed:" in text and "bird" in text


def test_single_cls_merges_classes():
    preds = _predictions([[(0, 1, 0.9), (1, 2, 0.8)], [(0, 0, 0.7), (1, 0, 0.6)]])
    res = validate(ScriptedModel([preds]), [_batch()], NAMES, "cpu", ValSettings(single_cls=True))
    assert res.map == pytest.approx(PERFECT) and res.nt.tolist() == [4] and len(res.maps) == 1


def test_plots_json_and_pycocotools(tmp_path):
    pytest.importorskip("pycocotools")
    anno = tmp_path / "gt.json"
    images = [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": s[0][1], "height": s[0][0]}
              for i, s in enumerate(ORIGINALS)]
    anns = [{"id": k, "image_id": i + 1, "category_id": int(r[0]), "bbox": xyxy2xywh(r[1:]).tolist(),
             "area": float((r[3] - r[1]) * (r[4] - r[2])), "iscrowd": 0}
            for k, (i, r) in enumerate(((i, r) for i, lab in enumerate(LABELS) for r in lab), 1)]
    for a in anns:
        a["bbox"][:2] = [a["bbox"][0] - a["bbox"][2] / 2, a["bbox"][1] - a["bbox"][3] / 2]
    anno.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": i, "name": n} for i, n in enumerate(NAMES)]}))
    res = validate(ScriptedModel([_perfect()]), [_batch()], NAMES, "cpu", ValSettings(plots=True, save_json=True),
                   save_dir=tmp_path, anno_json=anno)
    assert res.coco == pytest.approx((1.0, 1.0)) and res.map == pytest.approx(1.0)  # pycocotools replaces ours
    entries = json.loads((tmp_path / "predictions.json").read_text())
    assert len(entries) == 4 and {e["image_id"] for e in entries} == {1, 2}
    assert coco_eval(anno, tmp_path / "predictions.json") == pytest.approx((1.0, 1.0))
    for name in ("PR_curve.png", "F1_curve.png", "P_curve.png", "R_curve.png", "confusion_matrix.png",
                 "val_batch0_labels.jpg", "val_batch0_pred.jpg", "metrics.json"):
        assert (tmp_path / name).stat().st_size > 500, name


def test_real_loader_and_model_on_coco128(tmp_path):
    """The real loader, model and loss together, at a small size: shapes line up and outputs are written."""
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.loss.detect import DetectionLoss, scale_hyp_gains
    from yolo_exp.models.yolo import build_model

    images = shared_path("datasets", "coco128", "images", "train")
    torch.manual_seed(0)
    model = build_model("yolov5n", nc=80)
    loader, _ = create_dataloader(images, 128, 32, int(model.stride.max()), 80, rect=True, pad=0.5, workers=0,
                                  cache_dir=tmp_path / "cache")
    hyp = scale_hyp_gains({"box": 0.05, "obj": 1.0, "cls": 0.5, "cls_pw": 1.0, "obj_pw": 1.0, "fl_gamma": 0.0,
                           "anchor_t": 4.0}, nc=80, nl=3, imgsz=128)
    loss = DetectionLoss(model.detect.anchors, 80, hyp)
    names = [f"c{i}" for i in range(80)]
    res = validate(model, loader, names, "cpu", ValSettings(plots=True), loss_fn=loss, save_dir=tmp_path / "val")
    assert res.seen == 128 and res.nt.sum() == 929 and (res.nt > 0).sum() == 71
    assert all(np.isfinite(res.losses)) and min(res.losses) > 0
    assert 0 <= res.map <= res.map50 <= 1 and set(res.speed) == {"preprocess", "inference", "nms", "metrics"}
    written = {p.name for p in (tmp_path / "val").iterdir()}
    assert {"val_batch2_pred.jpg", "confusion_matrix.png", "PR_curve.png"} <= written
    assert "val_batch3_pred.jpg" not in written


def test_inference_copy_is_fused_and_leaves_the_model_alone():
    from yolo_exp.models.yolo import build_model

    torch.manual_seed(0)
    model = build_model("yolov5n", nc=3).train()
    with torch.no_grad():  # non-trivial BN statistics, so folding them has something to get wrong
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    net = inference_copy(model, channels_last=True)
    assert torch.equal(torch.get_rng_state(), rng)  # validating mid-training must not shift the training RNG
    assert model.training and not net.training
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    x = torch.rand(2, 3, 96, 128)
    model.eval()
    with torch.no_grad():
        ref, got = model(x)[0], net(x.contiguous(memory_format=torch.channels_last))[0]
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-3), (got - ref).abs().max()


@pytest.mark.slow
@pytest.mark.parametrize("imgsz, expected", [(640, (0.572, 0.508, 0.560, 0.361)), (320, (0.452, 0.445, 0.453, 0.290))])
def test_official_yolov5n_reproduces_yolov5_figures_on_coco128(tmp_path, imgsz, expected):
    """YOLOv5's own val of yolov5n.pt on coco128 train (batch 32, conf 0.001, iou 0.6), reference §11 (P, R,
    mAP@0.5, mAP@0.5:0.95); pycocotools on its JSON at 640: 0.362 / 0.563. Our val batches are pixel-identical to
    YOLOv5's (same resize rounding, same rect batch order), so the match is to the printed digit. ~25 s on 2 cores."""
    from yolo_exp.data.loader import create_dataloader
    from yolo_exp.models.weights import load_weights
    from yolo_exp.models.yolo import build_model

    images = shared_path("datasets", "coco128", "images", "train")
    model = build_model("yolov5n", nc=80)
    load_weights(model, shared_path("weights", "yolov5n.pt"))
    loader, _ = create_dataloader(images, imgsz, 32, int(model.stride.max()), 80, rect=True, pad=0.5, workers=2,
                                  cache_dir=tmp_path / "cache")
    settings = ValSettings(conf_thres=0.001, iou_thres=0.6, max_det=300, save_json=True, channels_last=True)
    res = validate(model, loader, [f"c{i}" for i in range(80)], "cpu", settings,
                   save_dir=tmp_path)  # the default path: fused, NHWC
    got = (res.precision, res.recall, res.map50, res.map)
    assert res.seen == 128 and res.nt.sum() == 929
    assert got == pytest.approx(expected, abs=0.001), got
    if imgsz == 640 and importlib.util.find_spec("pycocotools"):
        anno = shared_path("datasets", "coco128", "annotations", "train_gt.json")
        coco = coco_eval(anno, tmp_path / "predictions.json")
        assert coco == pytest.approx((0.362, 0.563), abs=0.003), coco


def test_save_txt_names_are_safe_and_distinct_case_folded(tmp_path):
    """Two images whose stems differ only in case keep one labels/*.txt each (on any filesystem)."""
    imgs, targets, _, originals = _batch()
    batch = (imgs, targets, ["/data/a/Img.jpg", "/data/b/img.jpg"], originals)
    validate(ScriptedModel([_perfect()]), [batch], NAMES, "cpu", ValSettings(save_txt=True), save_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["Img.txt", "img_1.txt"]
