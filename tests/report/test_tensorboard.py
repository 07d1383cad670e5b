"""TensorBoard events read back: YOLOv5 scalar tags, an image and the HParams entry in the run's own folder."""
from __future__ import annotations

import numpy as np
import pytest

from yolo_exp.report.tensorboard import TBLogger, hparam_value

TAGS = ["train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision", "metrics/recall",
        "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss",
        "x/lr0", "x/lr1", "x/lr2"]


def _load(log_dir):
    from tensorboard.backend.event_processing import event_accumulator as ea

    acc = ea.EventAccumulator(str(log_dir), size_guidance={ea.IMAGES: 0, ea.SCALARS: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def test_scalars_image_and_hparams_in_own_folder(tmp_path):
    import cv2

    img_path = tmp_path / "results.png"
    cv2.imwrite(str(img_path), np.full((8, 12, 3), (255, 0, 0), np.uint8))  # BGR blue
    with TBLogger(tmp_path) as tb:
        for epoch in range(3):
            tb.scalars({t: 0.1 * (epoch + 1) for t in TAGS}, epoch)
        tb.image("results", img_path, 2)
        tb.image("gray", np.zeros((4, 4), np.float32), 0)
        tb.hparams({"hyp.lr0": 0.01, "model": "yolov5n", "anchors": None, "freeze": [0, 1]},
                   {"best/mAP_0.5:0.95": 0.42}, step=2)

    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no hparams sub-run
    acc = _load(tmp_path)
    tags = acc.Tags()
    assert set(TAGS) <= set(tags["scalars"])
    assert [e.value for e in acc.Scalars("metrics/mAP_0.5")] == pytest.approx([0.1, 0.2, 0.3])
    assert acc.Scalars("best/mAP_0.5:0.95")[0].value == pytest.approx(0.42)
    assert {"results", "gray"} <= set(tags["images"])
    assert acc.Images("results")[0].width == 12 and acc.Images("results")[0].height == 8

    from tensorboard.plugins.hparams import plugin_data_pb2

    content = acc.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(content)
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["hyp.lr0"].number_value == pytest.approx(0.01)
    assert start.hparams["model"].string_value == "yolov5n"
    assert start.hparams["anchors"].string_value == "None"
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in exp.metric_infos] == ["best/mAP_0.5:0.95"]


def test_hparam_value_types():
    assert hparam_value(np.float32(0.5)) == 0.5 and isinstance(hparam_value(np.int64(3)), int)
    assert hparam_value([1, 2]) == "[1, 2]" and hparam_value(True) is True
