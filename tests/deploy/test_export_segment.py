"""A segmentation model after training: val.py scores its masks, predict.py writes masks (RLE), polygons and
pictures, and its ONNX / TorchScript exports (predictions with coefficients, prototypes) give the .pt's results."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.deploy.test_export import boxes, exported, run, same_boxes
from tests.engine.test_trainer import TINY, only_run, train

pytest.importorskip("onnxruntime")


def _figures(tmp_path: Path, weights: Path, data: list[str], *args: str) -> list[str]:
    out = tmp_path / f"val_{weights.suffix[1:]}"
    proc = run("val.py", ROOT, f"weights={weights}", "imgsz=64", *data, f"hydra.run.dir={out}", *args)
    (line,) = [ln for ln in (proc.stdout + proc.stderr).splitlines() if " all " in ln]
    return line.split()[-8:]  # box P R mAP50 mAP50-95, mask P R mAP50 mAP50-95


def _masks(folder: Path) -> dict[str, list[np.ndarray]]:
    from pycocotools import mask as coco_mask

    out = {}
    for r in json.loads((folder / "predictions.json").read_text()):
        out[Path(r["file"]).name] = [coco_mask.decode(coco_mask.frPyObjects(b["mask"], *b["mask"]["size"]))
                                     for b in r["boxes"]]
    return out


def test_seg_checkpoint_validates_predicts_and_exports(tmp_path):
    pytest.importorskip("pycocotools")
    data = [f"cache_dir={tmp_path / 'cache'}", *TINY[:3]]
    train(tmp_path, *TINY, "model=yolov5n-seg", "epochs=1", data[0])
    weights = only_run(tmp_path) / "weights" / "best.pt"
    (source,) = (tmp_path / "cache").glob("shapes-*-seg/images/val")

    pt_figures = _figures(tmp_path, weights, data, "val.save_json=true")
    metrics = json.loads((tmp_path / "val_pt" / "metrics.json").read_text())
    assert "mask" in metrics and len(pt_figures) == 8
    coco = json.loads((tmp_path / "val_pt" / "predictions.json").read_text())
    assert coco and all(set(r["segmentation"]) == {"size", "counts"} for r in coco)

    got = {}
    for fmt in ("pt", "onnx", "torchscript"):
        model = weights if fmt == "pt" else exported(tmp_path, weights, fmt, "imgsz=64")
        got[fmt] = boxes(tmp_path, model, source, "imgsz=64", "conf_thres=0.001")
        if fmt != "pt":
            from yolo_exp.deploy.backends import Exported

            assert Exported(model, __import__("torch").device("cpu")).task == "segment"
            same_boxes(got[fmt], got["pt"])
            assert _figures(tmp_path, model, data) == pt_figures  # val.py on the export: the .pt's figures
    masks = {fmt: _masks(tmp_path / f"pred_{fmt}") for fmt in ("pt", "onnx")}
    assert sum(len(v) for v in masks["pt"].values()) > 0
    for name, pt in masks["pt"].items():
        for a, b in zip(pt, masks["onnx"][name]):
            assert a.shape == b.shape and (a != b).mean() < 0.01  # float rounding flips a few edge pixels at most
    labels = list((tmp_path / "pred_pt" / "labels").glob("*.txt"))
    rows = [ln.split() for f in labels for ln in f.read_text().splitlines()]
    assert rows and all(len(r) >= 7 and len(r) % 2 == 1 for r in rows)  # class + an outline of >= 3 points
    assert all(0 <= float(v) <= 1 for r in rows for v in r[1:])
