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


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    """A 1-epoch seg run on the shapes twin, its .pt figures and predictions (shared by the format tests)."""
    pytest.importorskip("pycocotools")
    tmp = tmp_path_factory.mktemp("seg")
    data = [f"cache_dir={tmp / 'cache'}", *TINY[:3]]
    train(tmp, *TINY, "model=yolov5n-seg", "epochs=1", data[0])
    weights = only_run(tmp) / "weights" / "best.pt"
    (source,) = (tmp / "cache").glob("shapes-*-seg/images/val")
    figures = _figures(tmp, weights, data, "val.save_json=true")
    preds = boxes(tmp, weights, source, "imgsz=64", "conf_thres=0.001")
    return tmp, weights, source, data, figures, preds


def test_val_and_predict_write_masks(seg_run):
    tmp, _, _, _, figures, preds = seg_run
    metrics = json.loads((tmp / "val_pt" / "metrics.json").read_text())
    assert "mask" in metrics and len(figures) == 8
    coco = json.loads((tmp / "val_pt" / "predictions.json").read_text())
    assert coco and all(set(r["segmentation"]) == {"size", "counts"} for r in coco)
    assert sum(len(v) for v in _masks(tmp / "pred_pt").values()) > 0 and preds
    labels = list((tmp / "pred_pt" / "labels").glob("*.txt"))
    rows = [ln.split() for f in labels for ln in f.read_text().splitlines()]
    assert rows and all(len(r) >= 7 and len(r) % 2 == 1 for r in rows)  # class + an outline of >= 3 points
    assert all(0 <= float(v) <= 1 for r in rows for v in r[1:])


@pytest.mark.parametrize("fmt", ["onnx", pytest.param("torchscript", marks=pytest.mark.slow)])  # the same path
def test_exports_carry_the_prototypes_and_give_the_pt_results(seg_run, fmt):
    from yolo_exp.deploy.backends import Exported

    tmp, weights, source, data, figures, preds = seg_run
    model = exported(tmp, weights, fmt, "imgsz=64")
    backend = Exported(model, __import__("torch").device("cpu"))
    assert backend.task == "segment"
    if fmt == "onnx":  # detections with their coefficients, and the prototypes
        rows, protos = backend.session.get_outputs()
        assert (rows.name, protos.name) == ("output0", "output1") and len(protos.shape) == 4
    same_boxes(boxes(tmp, model, source, "imgsz=64", "conf_thres=0.001"), preds)
    assert _figures(tmp, model, data) == figures  # val.py on the export: the .pt's figures, masks included
    pt, other = _masks(tmp / "pred_pt"), _masks(tmp / f"pred_{fmt}")
    for name, masks in pt.items():
        for a, b in zip(masks, other[name]):
            assert a.shape == b.shape and (a != b).mean() < 0.01  # float rounding flips a few edge pixels at most
