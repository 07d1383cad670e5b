"""export.py: ONNX and TorchScript files that carry their metadata, match PyTorch, and run through predict.py and
val.py with the same figures as the .pt; our own checkpoints export too; a file off by more than the tolerance
is refused."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, current_umask, shared_path
from tests.engine.test_trainer import TINY, only_run, train
from tests.commands.test_predict import clip

pytest.importorskip("onnxruntime")


def run(script: str, cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    return proc


def exported(cwd: Path, weights: Path, fmt: str, *args: str) -> Path:
    before = set((cwd / "outputs").glob("*/*")) if (cwd / "outputs").exists() else set()
    run("export.py", cwd, f"weights={weights}", f"format={fmt}", *args)
    (new,) = set((cwd / "outputs").glob("*/*")) - before
    return next(new.glob(f"*.{fmt}"))


def boxes(cwd: Path, weights: Path, source: Path, *args: str) -> dict[str, list]:
    out = cwd / f"pred_{weights.suffix[1:]}"
    run("predict.py", cwd, f"weights={weights}", f"source={source}", f"hydra.run.dir={out}", *args)
    return {Path(r["file"]).name: r["boxes"] for r in json.loads((out / "predictions.json").read_text())}


def same_boxes(a: dict[str, list], b: dict[str, list], atol: float = 0.5) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert len(a[name]) == len(b[name]), name
        for x, y in zip(a[name], b[name]):
            assert x["class"] == y["class"] and abs(x["conf"] - y["conf"]) < 2e-3
            assert max(abs(u - v) for u, v in zip(x["xyxy"], y["xyxy"])) < atol


def val_figures(cwd: Path, weights: Path, imgsz: int) -> list[str]:
    proc = run("val.py", ROOT, f"weights={weights}", "data=coco128", f"imgsz={imgsz}", "plots=false",
               f"hydra.run.dir={cwd / ('val_' + weights.suffix[1:] + str(imgsz))}")
    (line,) = [ln for ln in (proc.stdout + proc.stderr).splitlines() if " all " in ln]
    return line.split()[-4:]


@pytest.mark.slow  # CI budget: test_own_checkpoint_exports... covers the export path in the default suite
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_official_weights_export_and_give_the_same_boxes_and_figures(tmp_path, fmt):
    weights = shared_path("weights", "yolov5n.pt")
    images = shared_path("datasets", "coco128", "images", "train")
    source = tmp_path / "four"
    source.mkdir()
    for im in sorted(images.glob("*.jpg"))[:4]:
        (source / im.name).symlink_to(im)
    model = exported(tmp_path, weights, fmt, "imgsz=320")
    assert model.parent.name.endswith("_export") and model.stat().st_size > 1e6
    same_boxes(boxes(tmp_path, model, source, "imgsz=320"), boxes(tmp_path, weights, source, "imgsz=320"))
    assert val_figures(tmp_path, model, 320) == val_figures(tmp_path, weights, 320)


@pytest.mark.slow
def test_onnx_val_at_640_matches_the_pt(tmp_path):
    weights = shared_path("weights", "yolov5n.pt")
    model = exported(tmp_path, weights, "onnx", "imgsz=640")
    got, want = val_figures(tmp_path, model, 640), val_figures(tmp_path, weights, 640)
    assert all(abs(float(a) - float(b)) <= 0.001 for a, b in zip(got, want)), (got, want)


@pytest.mark.slow  # the default suite's time (CI budget)
def test_own_checkpoint_exports_and_a_static_export_predicts_but_is_not_validated(tmp_path):
    train(tmp_path, *TINY, "epochs=1")
    weights = only_run(tmp_path) / "weights" / "best.pt"
    umask = current_umask()
    for fmt in ("onnx", "torchscript"):
        source = weights.parents[1] if fmt == "onnx" else weights  # a run folder: its best.pt
        model = exported(tmp_path, source, fmt, "imgsz=64", *(["opset=13"] if fmt == "torchscript" else []))
        assert model.is_file() and model.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as a plain open's
    assert "opset=13: applies to ONNX only, not format=torchscript" in (model.parent / "export.log").read_text()
    static = exported(tmp_path, weights, "onnx", "imgsz=64", "dynamic=false", "half=true", "device=cpu",
                      "device.amp_dtype=bf16")
    log = (static.parent / "export.log").read_text()
    assert "half=true: FP16 export needs CUDA; exporting FP32 on cpu" in log and "amp_dtype=bf16: applies to" in log
    from yolo_exp.deploy.backends import Exported

    backend = Exported(static, __import__("torch").device("cpu"))
    assert backend.names == ["circle", "square", "triangle", "star"] or backend.nc == len(backend.names)
    assert not backend.dynamic and backend.imgsz == 64 and not backend.fp16
    assert "PyTorch on 1 real image: " in (static.parent / "export.log").read_text()  # a batch of one
    video = clip(tmp_path / "wide.mp4", 3)  # not square: letterboxed to the one size; a batch goes frame by frame
    run("predict.py", tmp_path, f"weights={static}", f"source={video}", "batch_size=4", "imgsz=64", "conf_thres=0.0",
        f"hydra.run.dir={tmp_path / 'pv'}")
    assert len(json.loads((tmp_path / "pv" / "predictions.json").read_text())) == 3
    proc = run("val.py", ROOT, f"weights={static}", "imgsz=64", f"hydra.run.dir={tmp_path / 'v'}", ok=False)
    assert proc.returncode != 0 and "dynamic=true" in proc.stderr


def test_export_further_from_pytorch_than_the_tolerance_is_refused(tmp_path):
    weights = shared_path("weights", "yolov5n.pt")
    proc = run("export.py", tmp_path, f"weights={weights}", "imgsz=160", "tolerance=1e-12", ok=False)
    assert proc.returncode == 1 and "differs from PyTorch" in proc.stderr and "tolerance=1e-12" in proc.stderr
    assert not list((tmp_path / "outputs").glob("*/*/*.onnx"))


@pytest.mark.parametrize("what", ["video", "empty folder"])
def test_export_source_without_images_names_the_option_and_the_cause(tmp_path, what):
    from yolo_exp.deploy.export import sample_batch

    if what == "video":
        source = clip(tmp_path / "clip.mp4", 1)
        cause = "no images to check the export on (videos are not read"
    else:
        source = tmp_path / "empty dir"
        source.mkdir()
        cause = "no images or videos"
    with pytest.raises((ValueError, FileNotFoundError), match=f"^source={source}: {re.escape(cause)}"):
        sample_batch(str(source), 64, 32)
