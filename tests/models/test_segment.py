"""YOLOv5-seg models: the Segment head and Proto built from the architecture yamls, exactly YOLOv5's sizes."""
from __future__ import annotations

import logging

import pytest
import torch

from tests.conftest import shared_path
from yolo_exp.models.detect import Segment
from yolo_exp.models.yolo import build_model

YOLOV5_SEG_PARAMS = {"n": 1_991_549, "s": 7_621_277, "m": 21_990_397, "l": 47_924_957, "x": 88_819_517}


@pytest.mark.parametrize("size", "nsmlx")
def test_parameter_counts_equal_yolov5s_at_80_classes(size):
    model = build_model(f"yolov5{size}-seg", nc=80)
    assert model.task == "segment" and isinstance(model.detect, Segment)
    assert sum(p.numel() for p in model.parameters()) == YOLOV5_SEG_PARAMS[size]


def test_outputs_in_training_and_eval():
    model = build_model("yolov5n-seg", nc=3)
    head = model.detect
    assert (head.nm, head.npr, head.no) == (32, 64, 3 + 5 + 32)  # 256 prototypes x width 0.25
    x = torch.rand(2, 3, 128, 96)
    raw, protos = model.train()(x)
    assert [r.shape for r in raw] == [(2, 3, 128 // s, 96 // s, 40) for s in (8, 16, 32)]
    assert protos.shape == (2, 32, 32, 24)  # 1/4 of the image
    model.eval()
    decoded, protos_eval, raw_eval = model(x)
    assert decoded.shape == (2, 3 * (16 * 12 + 8 * 6 + 4 * 3), 40) and protos_eval.shape == protos.shape
    coeffs = torch.cat([r.reshape(2, -1, 40)[..., 8:] for r in raw_eval], 1)
    assert torch.equal(decoded[..., 8:], coeffs)  # coefficients pass through unsquashed
    assert decoded[..., 4:8].min() >= 0 and decoded[..., 4:8].max() <= 1  # objectness and classes are


def test_task_must_match_the_head():
    arch = {**build_model("yolov5n", nc=1).arch, "task": "segment"}
    with pytest.raises(ValueError, match="task 'segment' but its last layer is Detect"):
        build_model(arch, nc=1)


def test_detection_weights_initialise_backbone_and_neck():
    """Official yolov5n.pt into yolov5n-seg: every tensor but the head's output convs and the new Proto."""
    weights = shared_path("weights", "yolov5n.pt")
    from yolo_exp.models.weights import load_weights

    model = build_model("yolov5n-seg", nc=80)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    load_weights(model, weights, log=logging.getLogger("test"))
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    untouched = {k for k in before if k not in changed and _learned(k)}
    assert all(k.startswith(("model.24.m.", "model.24.proto.")) for k in untouched), sorted(untouched)[:5]
    assert any(k.startswith("model.0.") for k in changed) and any(k.startswith("model.23.") for k in changed)


def _learned(key: str) -> bool:
    return not key.endswith(("num_batches_tracked", "anchors", "stride"))


def test_a_segment_model_refuses_box_only_labels_and_detect_datasets_in_one_line(tmp_path):
    """The demo switches to its segmentation twin for a segment model; other box-only data is refused."""
    from yolo_exp.build import check_polygons, run_data, task_dataset
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.config.validate import ConfigError
    from yolo_exp.data.loader import create_dataloader

    cfg = compose_checked(["model=yolov5n-seg", "data.shapes.n_train=4", "data.shapes.n_val=2",
                           "data.shapes.img_size=64", f"cache_dir={tmp_path}"], check_paths=False)
    seg, det = run_data(cfg, "segment"), run_data(cfg, "detect")
    assert seg.spec.train != det.spec.train and "-seg" in str(seg.spec.train)
    _, boxes_only = create_dataloader(det.spec.train, 64, 2, 32, det.nc, workers=0, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="^model.task=segment: the train labels have no polygons"):
        check_polygons(boxes_only, "segment", "train")
    check_polygons(boxes_only, "detect", "train")
    seg.spec.dataset = _NoMasks
    with pytest.raises(ConfigError, match="^data.dataset builds _NoMasks, which gives no masks"):
        task_dataset(seg.spec, "segment")


class _NoMasks:  # a user's dataset class that is no SegmentDataset
    pass


def test_mask_fitness_weights_are_for_segment_models_only():
    from yolo_exp.config.compose import compose_checked
    from yolo_exp.config.validate import ConfigError

    with pytest.raises(ConfigError, match="^fitness.mask_map=1.0: weighs a mask metric"):
        compose_checked(["fitness.mask_map=1"], check_paths=False)
    assert compose_checked(["fitness.mask_map=1", "model=yolov5n-seg"], check_paths=False).fitness.mask_map == 1
